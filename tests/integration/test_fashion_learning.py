"""A CI-sized learning run of the equilibrium rule (SPEC 4.7) on real Fashion-MNIST images, on 2
rank x 2 threads: 300 hidden cells, 3 epochs over 20000 training images (Poisson input), tested on the first
5000 test images. It must beat a linear classifier's ballpark (0.78 here, on fewer images than a
linear classifier's 0.81-0.84 needs) and learn steadily. Measured when written: test accuracy
0.8237, 0.8277, 0.8260 for seeds 1, 2, 3 (docs/benchmarks.md); this test runs seed 1 and 2."""
import os

import h5py

from common import Checker, mpi_command, parse_args, run

args = parse_args()
c = Checker()
model = os.path.join(args.source_dir, "models", "fashion_plasticity.toml")
for seed in (1, 2):
    out = os.path.join(args.work_dir, f"learn_{seed}.h5")
    # One rank: the rank-invariance of training is test_fashion_plasticity's; here only learning.
    r = run(mpi_command(args, 1, "train", model, "-o", out, "--threads", "2",
                        "--set", f"network.seed={seed}", "--set", "train.hidden=300", "--set", "train.epochs=3",
                        "--set", "task.train_samples=20000", "--set", "task.validation_samples=2000",
                        "--set", "task.test_samples=5000"))
    print(r.stdout.strip())
    with h5py.File(out, "r") as f:
        acc = float(f["test"].attrs["accuracy"])
        val = f["validation/accuracy"][()]
        train = f["training/accuracy"][()]
    print(f"seed {seed}: training {train}, validation {val}, test {acc:.4f}")
    c.check(acc >= 0.78, f"seed {seed}: test accuracy {acc:.4f} >= 0.78")
    c.check(val[-1] > val[0] and train[-1] > train[0], f"seed {seed}: accuracy rises over the epochs")
    c.check(val[-1] >= 0.78, f"seed {seed}: validation accuracy {val[-1]:.4f} >= 0.78")
c.finish()
