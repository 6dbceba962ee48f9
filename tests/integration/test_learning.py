"""e-prop and ES-D-RTRL learn the evidence-accumulation (T-maze) task: a reduced task (the short
`mouse` maze, batches of 8) on the 100-cell LIF network of models/tmaze_mouse100.toml, for three
seeds, on 2 ranks.

Held for seeds 1, 2, 3, test accuracy on 256 fresh trials after 150 iterations (1200 training
trials; chance is 0.5):
  e-prop (2026-12-01)                     0.879, 0.898, 0.867   asserted >= 0.85
  ES-D-RTRL, lambda 0.998 (2026-12-02)    0.941, 0.945, 0.883   asserted >= 0.88
  (0.938, 0.957, 0.902 before its gradient was summed in chunks of steps: the same sum, rounded
  in another order)
(ES-D-RTRL's lambda comes from the model's [train.es_d_rtrl] table.)"""
import os

import h5py

from common import Checker, mpi_command, parse_args, run

ITERATIONS = 150
# (rule, overrides, threshold). ES-D-RTRL runs with the model's [train.es_d_rtrl] table: a long
# memory (lambda = 0.998, a time constant of 500 steps) for cues that lie up to 250 ms before the
# decision; with SPEC's 0.9 it stays at 0.69.
RULES = [("eprop", [], 0.85), ("es_d_rtrl", [], 0.88)]

args = parse_args()
c = Checker()
model = os.path.join(args.source_dir, "models", "tmaze_mouse100.toml")
for rule, extra, threshold in RULES:
    for seed in (1, 2, 3):
        out = os.path.join(args.work_dir, f"mouse_{rule}_seed{seed}.h5")
        run(mpi_command(args, 2, "train", model, "-o", out, "-q", "--set", f"network.seed={seed}",
                        "--set", f"train.iterations={ITERATIONS}", "--set", "train.batch_size=8",
                        "--set", "train.validation_every=1000", "--set", "train.test_trials=256",
                        "--set", "train.target_accuracy=2", "--set", f"train.rule={rule}", *extra))
        with h5py.File(out, "r") as f:
            acc = float(f["test"].attrs["accuracy"])
            first = float(f["training/accuracy"][:10].mean())
            print(f"{rule}, seed {seed}: test accuracy {acc:.3f} after {ITERATIONS} iterations "
                  f"(training accuracy over the first 10 batches {first:.3f})")
            c.check(acc >= threshold, f"{rule}, seed {seed}: test accuracy {acc:.3f} >= {threshold}")
            c.check(f["training/loss"][-10:].mean() < f["training/loss"][:10].mean(),
                    f"{rule}, seed {seed}: the loss went down")
c.finish()
