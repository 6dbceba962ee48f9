"""Tasks from files ([task] kind = "from_file"): a network trains on a small data set in the layout of
the Spiking Heidelberg Digits (made here by scripts/make_shd_like.py: 4 classes, 60 channels, 600
trials of which 400 train, 100 validate and 100 test), with e-prop and with ES-D-RTRL; the same
seed gives the same weights on 1 and 2 ranks (the epoch's shuffle is keyed by seed and epoch, not
by rank); bad files are refused with exit 2 before anything is written, with a message that names
the file, the dataset and the fault.

Held on the 100 held-out test trials (chance 0.25), models/shd_like.toml, 60 iterations of 16 trials
(2026-12-07):
  e-prop       seeds 1, 2: 0.990, 0.980   asserted >= 0.95
  ES-D-RTRL    seeds 1, 2: 0.830, 0.850   asserted >= 0.80 (the model's lambda, SPEC's 0.9)"""
import os
import sys

import h5py
import numpy as np

from common import Checker, mpi_command, parse_args, run

args = parse_args()
sys.path.insert(0, os.path.join(args.source_dir, "scripts"))
import make_shd_like  # noqa: E402

c = Checker()
model = os.path.join(args.source_dir, "models", "shd_like.toml")
data = os.path.join(args.work_dir, "shd_like.h5")
make_shd_like.write(data, 600)
TASK = ["--set", f"task.file={data}"]

# --- learning ----------------------------------------------------------------------------------------
ITERATIONS = 60
THRESHOLDS = {"eprop": 0.95, "es_d_rtrl": 0.8}
for rule, threshold in THRESHOLDS.items():
    for seed in (1, 2):
        out = os.path.join(args.work_dir, f"{rule}_seed{seed}.h5")
        run(mpi_command(args, 2, "train", model, "-o", out, "-q", *TASK, "--set", f"network.seed={seed}",
                        "--set", f"train.iterations={ITERATIONS}", "--set", f"train.rule={rule}"))
        with h5py.File(out, "r") as f:
            acc = float(f["test"].attrs["accuracy"])
            first = float(f["training/accuracy"][:5].mean())
            print(f"{rule}, seed {seed}: test accuracy {acc:.3f} on 100 held-out trials after {ITERATIONS} "
                  f"iterations (training accuracy over the first 5 batches {first:.3f})")
            c.check(acc >= threshold, f"{rule}, seed {seed}: test accuracy {acc:.3f} >= {threshold}")

# --- the same weights on 1 and 2 ranks -----------------------------------------------------------------
weights = {}
for ranks in (1, 2):
    out = os.path.join(args.work_dir, f"ranks{ranks}.h5")
    run(mpi_command(args, ranks, "train", model, "-o", out, "-q", *TASK, "--set", "train.iterations=30",
                    "--set", "train.batch_size=4", "--set", "train.validation_every=1000",
                    "--set", "train.test_trials=8"))
    with h5py.File(out, "r") as f:
        weights[ranks] = {p: f[f"weights/{p}/values"][()] for p in f["weights"]}
c.check(weights[1].keys() == weights[2].keys() and
        all(np.array_equal(weights[1][p], weights[2][p]) for p in weights[1]),
        "30 iterations (3 epochs of the shuffled training split): the same weights on 1 and 2 ranks")


# --- bad files ------------------------------------------------------------------------------------------
def bad_file(name, change):
    path = os.path.join(args.work_dir, name + ".h5")
    with h5py.File(data, "r") as src, h5py.File(path, "w") as f:
        for key in ("spikes/times", "spikes/units", "labels"):
            src.copy(key, f, name=key)
        change(f)
    return path


def set_trial(dataset, k, values):
    def change(f):
        d = f[dataset]
        d[k] = np.asarray(values, dtype=d.dtype.metadata["vlen"])
    return change


def replace(name, values):
    def change(f):
        del f[name]
        if values is not None:
            f[name] = values
    return change


def units_beyond(f):
    n = len(f["spikes/units"][7])
    f["spikes/units"][7] = np.full(n, 60, dtype=np.uint16)


def labels_beyond(f):
    labels = f["labels"][()]
    labels[11] = 4
    del f["labels"]
    f["labels"] = labels


def same_step(f):
    f["spikes/times"][9] = np.array([0.0101, 0.0104], dtype=np.float32)
    f["spikes/units"][9] = np.array([3, 3], dtype=np.uint16)


CASES = [
    ("missing_units", replace("spikes/units", None), ["/spikes/units", "missing"]),
    ("labels_2d", replace("labels", np.zeros((600, 2), dtype=np.uint8)), ["/labels", "dimension"]),
    ("few_labels", replace("labels", np.zeros(10, dtype=np.uint8)), ["/labels", "10 labels for 600 trials"]),
    ("negative_time", lambda f: (set_trial("spikes/times", 3, [-0.01])(f), set_trial("spikes/units", 3, [0])(f)),
     ["trial 3", "negative"]),
    ("lengths_differ", set_trial("spikes/times", 5, [0.01, 0.02]), ["trial 5", "times", "units"]),
    ("unit_beyond", units_beyond, ["trial 7", "unit 60", "beyond the input channels"]),
    ("label_beyond", labels_beyond, ["/labels", "trial 11", "label 4"]),
    ("same_step", same_step, ["trial 9", "channel 3", "same_step"]),
]
for name, change, words in CASES:
    path = bad_file(name, change)
    out = os.path.join(args.work_dir, f"bad_{name}.h5")
    r = run(mpi_command(args, 2, "train", model, "-o", out, "-q", "--set", f"task.file={path}",
                        "--set", "train.iterations=1"), expect=2)
    msg = r.stderr
    c.check(path in msg and all(w in msg for w in words),
            f"{name}: exit 2, the message names the file and says {words}: {msg.strip().splitlines()[-1][:300]}")
    c.check(not os.path.exists(out) and not os.path.exists(out + ".partial"), f"{name}: nothing written")

# A merge is taken only when asked for, and then the run goes on.
out = os.path.join(args.work_dir, "merged.h5")
run(mpi_command(args, 1, "train", model, "-o", out, "-q", "--set", f"task.file={bad_file('same_step2', same_step)}",
                "--set", "task.same_step=merge", "--set", "train.iterations=1", "--set", "train.test_trials=4",
                "--set", "train.validation_every=1000"))
c.check(os.path.exists(out), "same_step = \"merge\": the run trains")

# Overlapping ranges, a missing file and no test split are mistakes of the model.
for sets, words in ((["task.validation_range=[450, 520]"], ["validation", "test", "overlap"]),
                    ([f"task.file={os.path.join(args.work_dir, 'nowhere.h5')}"], ["does not exist"]),
                    (["task.test_range=[0, 700]"], ["test_range"])):
    r = run(mpi_command(args, 1, "train", model, "-q", "-o", os.path.join(args.work_dir, "x.h5"), *TASK,
                        *[x for s in sets for x in ("--set", s)]), expect=2)
    c.check(all(w in r.stderr for w in words), f"{sets}: exit 2 with {words}: {r.stderr.strip()[-300:]}")
c.finish()
