"""e-prop learns the evidence-accumulation (T-maze) task: a reduced task (the short `mouse` maze,
batches of 8) on the 100-cell LIF network of models/tmaze_mouse100.toml, for three seeds, on 2 ranks.

Held for seeds 1, 2, 3 (2026-12-01): test accuracy 0.879, 0.898, 0.867 on 256 fresh trials after
150 iterations (1200 training trials); chance is 0.5. The test asserts at least 0.85 for each seed."""
import os

import h5py

from common import Checker, mpi_command, parse_args, run

ITERATIONS = 150
THRESHOLD = 0.85

args = parse_args()
c = Checker()
model = os.path.join(args.source_dir, "models", "tmaze_mouse100.toml")
for seed in (1, 2, 3):
    out = os.path.join(args.work_dir, f"mouse_seed{seed}.h5")
    run(mpi_command(args, 2, "train", model, "-o", out, "-q", "--set", f"network.seed={seed}",
                    "--set", f"train.iterations={ITERATIONS}", "--set", "train.batch_size=8",
                    "--set", "train.validation_every=1000", "--set", "train.test_trials=256",
                    "--set", "train.target_accuracy=2"))
    with h5py.File(out, "r") as f:
        acc = float(f["test"].attrs["accuracy"])
        first = float(f["training/accuracy"][:10].mean())
        print(f"seed {seed}: test accuracy {acc:.3f} after {ITERATIONS} iterations "
              f"(training accuracy over the first 10 batches {first:.3f})")
        c.check(acc >= THRESHOLD, f"seed {seed}: test accuracy {acc:.3f} >= {THRESHOLD}")
        c.check(f["training/loss"][-10:].mean() < f["training/loss"][:10].mean(), f"seed {seed}: the loss went down")
c.finish()
