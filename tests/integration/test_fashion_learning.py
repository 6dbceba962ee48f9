"""A CI-sized learning run of the equilibrium rule (SPEC 4.7) on real Fashion-MNIST images, on 1
rank x 2 threads: 300 hidden cells, 3 epochs over 20000 training images (Poisson input, beta 0.9 as
in the model file), validated on 2000 held-out training images and tested on the first 5000 test
images. It must reach 0.78 (a linear classifier on all 60000 images gets about 0.81-0.84) and learn
over the epochs. Measured when written (docs/benchmarks.md): test accuracy 0.8082, 0.8408, 0.8332
and validation accuracy 0.8165, 0.8390, 0.8370 for seeds 1, 2, 3; this test runs seeds 1 and 2."""
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
