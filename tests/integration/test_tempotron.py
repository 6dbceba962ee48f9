"""Tempotron training through `plexus train` (models/tempotron_capacity.toml, a small sweep): the
final weights, error curves and experiment table are byte-identical for 1, 2 and 4 ranks x 1 and 2
threads; the summary table is printed; plexus-plot draws the training; a bad [train] key is a
located error with exit code 2."""
import os

import h5py

from common import Checker, mpi_command, parse_args, run

args = parse_args()
c = Checker()
model = os.path.join(args.source_dir, "models", "tempotron_capacity.toml")
# Six experiments of unequal cost, so that the split over 4 ranks is uneven.
sweep = ["--set", "train.loads=[0.2, 0.6]", "--set", "train.repeats=3", "--set", "train.epochs=40"]
DATASETS = ["tempotron/weights", "tempotron/errors", "tempotron/experiments/solved_epoch",
            "tempotron/experiments/train_accuracy", "tempotron/units/solved_epoch"]

reference = None
for ranks, threads in ((1, 1), (2, 1), (4, 1), (1, 2), (2, 2)):
    out = os.path.join(args.work_dir, f"tempotron_{ranks}x{threads}.h5")
    r = run(mpi_command(args, ranks, "train", model, "-o", out, "-q", "--threads", str(threads), *sweep))
    with h5py.File(out, "r") as f:
        data = {d: f[d][()].tobytes() for d in DATASETS}
        c.check(f["metadata"].attrs["ranks"] == ranks, f"{ranks}x{threads}: metadata ranks")
        c.check(f["tempotron/weights"].shape == (6, 500), f"{ranks}x{threads}: 6 tempotrons x 500 weights")
        solved = f["tempotron/experiments/solved_epoch"][()]
    if reference is None:
        reference = data
        c.check("| 0.2 | 100 | 0 |" in r.stdout, "the table lists load 0.2 (100 patterns), repeat 0")
        c.check((solved[:3] > 0).all(), f"load 0.2 is solved within 40 epochs ({solved[:3]})")
    for d in DATASETS:
        c.check(data[d] == reference[d], f"{ranks} rank(s) x {threads} thread(s): {d} equals 1 x 1")

png = os.path.join(args.work_dir, "tempotron.png")
r = run(["/usr/bin/python3", os.path.join(os.path.dirname(args.plexus), "plexus-plot"),
         os.path.join(args.work_dir, "tempotron_1x1.h5"), "-o", png])
c.check(os.path.getsize(png) > 10000, "plexus-plot drew the tempotron training")

r = run(mpi_command(args, 1, "train", model, "-q", "--set", "train.momentm=0.9", "-o",
                    os.path.join(args.work_dir, "bad.h5")), expect=2)
c.check("train.momentm" in r.stderr and "momentum" in r.stderr, "a misspelt key is named, with a suggestion")
c.check(not os.path.exists(os.path.join(args.work_dir, "bad.h5")), "nothing is written for a bad model")
c.finish()
