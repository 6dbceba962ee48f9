"""`plexus train` with the equilibrium rule (models/fashion_plasticity.toml, SPEC 4.7) on a small
part of Fashion-MNIST: the trained weights, learning curve and test results are byte-identical for
1, 2 and 4 ranks times 1 and 2 threads; the result file holds what docs/result-file.md says; the
figure is drawn; bad [task]/[train] values and a missing data set end with exit code 2 and a
message naming the file, line and key (or the Debian package)."""
import glob
import hashlib
import os
import subprocess

import h5py
import numpy as np

from common import Checker, mpi_command, parse_args, run

args = parse_args()
c = Checker()
model = os.path.join(args.source_dir, "models", "fashion_plasticity.toml")
# 130 hidden cells: three chunks of 64, the last partial, split unevenly over 4 ranks.
small = ["--set", "train.hidden=130", "--set", "train.epochs=2", "--set", "task.train_samples=400",
         "--set", "task.validation_samples=100", "--set", "task.test_samples=200",
         "--set", "train.free_steps=10", "--set", "train.nudge_steps=4"]
digests = {}
for ranks, threads in ((1, 1), (1, 2), (2, 1), (2, 2), (4, 1)):
    out = os.path.join(args.work_dir, f"eq_{ranks}x{threads}.h5")
    run(mpi_command(args, ranks, "train", model, "-o", out, "-q", "--threads", str(threads), *small))
    with h5py.File(out, "r") as f:
        h = hashlib.sha256()
        for ds in ("equilibrium/input_hidden", "equilibrium/hidden_output", "equilibrium/hidden_bias",
                   "equilibrium/output_bias", "training/accuracy", "training/cost", "validation/accuracy",
                   "test/confusion"):
            h.update(ds.encode() + f[ds][()].tobytes())
        h.update(repr(f["test"].attrs["accuracy"]).encode())
        digests[(ranks, threads)] = h.hexdigest()
        c.check(f["metadata"].attrs["ranks"] == ranks and f["metadata"].attrs["threads"] == threads,
                f"{ranks}x{threads}: metadata ranks and threads")
    print(f"{ranks} rank(s) x {threads} thread(s): sha256 {digests[(ranks, threads)][:16]}")
for key, d in digests.items():
    c.check(d == digests[(1, 1)], f"{key[0]} rank(s) x {key[1]} thread(s) give the weights and curves of 1 x 1")

# What the file holds.
ref = os.path.join(args.work_dir, "eq_1x1.h5")
with h5py.File(ref, "r") as f:
    c.check(f["equilibrium/input_hidden"].shape == (784, 130), "input_hidden is pixels x hidden cells")
    c.check(f["equilibrium/hidden_output"].shape == (130, 10), "hidden_output is hidden cells x classes")
    c.check(len(f["training/accuracy"]) == 2 and len(f["validation/accuracy"]) == 2, "one point per epoch")
    cm = f["test/confusion"][()]
    c.check(cm.shape == (10, 10) and cm.sum() == 200, "confusion matrix over the 200 test images")
    c.check(abs(np.trace(cm) / 200 - f["test"].attrs["accuracy"]) < 1e-12, "test accuracy = confusion trace")
    c.check(f["training"].attrs["rule"] in (b"equilibrium", "equilibrium"), "training rule recorded")
    c.check("wall_time_s" in f["metadata"].attrs, "complete file")
    w0 = f["equilibrium/input_hidden"][()]
    c.check(np.all(np.isfinite(w0)) and np.abs(w0).max() > 0, "finite, non-zero weights")

# The figure, and inspect.
plot = os.path.join(os.path.dirname(args.plexus), "plexus-plot")
png = os.path.join(args.work_dir, "eq.png")
r = run(["/usr/bin/python3", plot, ref, "-o", png])
c.check(os.path.exists(png) and os.path.getsize(png) > 20000, "plexus-plot draws the learning figure")
r = run([args.plexus, "inspect", ref])
c.check("/equilibrium/input_hidden" in r.stdout and "hidden" in r.stdout, "inspect lists the trained weights")

# Mistakes: exit code 2, a located message, no file left behind.
text = open(model).read()


def line_of(t, needle):
    return next(i for i, l in enumerate(t.splitlines(), 1) if needle in l)


bad_key = text.replace("batch_size = 20", "batch_size = 20\nbatchsize = 3")
bad_size = text.replace("size = 784", "size = 780")
cases = [
    ("unknown [train] key", bad_key, [], [f"bad.toml:{line_of(bad_key, 'batchsize')}", "'train.batchsize'"]),
    ("input size", bad_size, [], [f"bad.toml:{line_of(bad_size, 'size = 780')}", "must be 784"]),
    ("bad nudge", text, ["--set", "train.nudge=both"], ["'train.nudge'", "symmetric"]),
    ("beta out of range", text, ["--set", "train.beta=1.5"], ["'train.beta'"]),
    ("too many samples", text, ["--set", "task.train_samples=58000"], ["'task.validation_samples'", "60000"]),
    ("missing data set", text, ["--set", "task.data_dir=no_such_dir"], ["dataset-fashion-mnist", "task.data_dir"]),
]
for name, t, sets, needles in cases:
    path = os.path.join(args.work_dir, "bad.toml")
    open(path, "w").write(t)
    out = os.path.join(args.work_dir, "bad.h5")
    for ranks in (1, 2):
        r = subprocess.run(mpi_command(args, ranks, "train", path, "-o", out, "-q", *sets), capture_output=True,
                           text=True)
        ok = r.returncode == 2 and all(n in r.stderr for n in needles)
        c.check(ok, f"{name} on {ranks} rank(s): exit 2 naming {needles}" + ("" if ok else f"; got {r.returncode}: "
                                                                               f"{r.stderr.strip()[-300:]}"))
        c.check(not glob.glob(out + "*"), f"{name}: no result file left")
c.finish()
