"""plexus-plot on damaged result files and on files with odd values. A file that cannot be read (not HDF5,
empty, truncated, an object or an object header missing) gives exit code 2 and one line on stderr naming the
file, never a traceback, and no PNG. NaN or inf in curves, weights of +-1e308, and strings or NaN where
numbers are expected in attributes, still give the figure (the odd value is shown as n/a, NaN points are not drawn)."""
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import h5py
import numpy as np

from common import Checker, mpi_command, parse_args, run

args = parse_args()
c = Checker()
models = os.path.join(args.source_dir, "models")
plot = os.path.join(os.path.dirname(args.plexus), "plexus-plot")


def path(name):
    return os.path.join(args.work_dir, name)


# --- good files: a run, a supervised and a reward-based training ----------------------------------
good = {"run": path("run.h5"), "train": path("train.h5"), "reward": path("reward.h5")}
short = ["--set", "train.iterations=2", "--set", "train.batch_size=2", "--set", "train.validation_trials=2",
         "--set", "train.test_trials=2", "--set", "train.validation_every=1", "-q"]
run(mpi_command(args, 1, "run", os.path.join(models, "coba_benchmark.toml"), "--set", "run.duration_ms=100",
                "-o", good["run"], "-q"))
run(mpi_command(args, 1, "train", os.path.join(models, "eprop_evidence100.toml"), *short,
                "--set", "task.delay_ms=50", "-o", good["train"]))
run(mpi_command(args, 1, "train", os.path.join(models, "tmaze_reward.toml"), *short, "-o", good["reward"]))


def edited(src, name, edit):
    """A copy of a good file changed through h5py."""
    out = path(name)
    shutil.copy(good[src], out)
    with h5py.File(out, "r+") as f:
        edit(f)
    return out


def written(name, data):
    out = path(name)
    with open(out, "wb") as fh:
        fh.write(data)
    return out


def header_zeroed(src, name, obj):
    """A copy with the object header of `obj` overwritten: the file opens, that object does not."""
    with h5py.File(good[src], "r") as f:
        addr = h5py.h5o.get_info(f[obj].id).addr
    data = bytearray(open(good[src], "rb").read())
    data[addr:addr + 64] = bytes(64)
    return written(name, bytes(data))


def half(src, name):
    data = open(good[src], "rb").read()
    return written(name, data[:len(data) // 2])


# --- damaged files: (file, a word the message must hold) ------------------------------------------
damaged = [
    (written("random.h5", np.random.default_rng(1).integers(0, 256, 65536, dtype=np.uint8).tobytes()),
     "not an HDF5 file"),
    (written("text.h5", b"spike times, one per line\n1.5\n2.25\n"), "not an HDF5 file"),
    (written("empty.h5", b""), "empty"),
    (half("run", "run_truncated.h5"), "truncated"),
    (half("train", "train_truncated.h5"), "truncated"),
    (half("run", "running.h5.partial"), "truncated"),
    (edited("train", "train_no_readout.h5", lambda f: f.__delitem__("examples/after/readout")), "damaged"),
    (edited("run", "run_no_node_ids.h5", lambda f: f.__delitem__("spikes/E/node_ids")), "damaged"),
    (header_zeroed("run", "run_bad_group.h5", "spikes/E"), "damaged"),  # h5py's items() would give None
    (header_zeroed("train", "train_bad_dataset.h5", "training/loss"), "damaged"),
]


# --- odd values: the figure is drawn all the same ---------------------------------------------------
def test_accuracy_string(f):
    f["test"].attrs["accuracy"] = "n/a"


def test_accuracy_nan(f):
    f["test"].attrs["accuracy"] = float("nan")


def curves_nan(f):
    f["training/loss"][0] = np.nan
    f["training/accuracy"][1] = np.nan
    f["validation/accuracy"][0] = np.nan
    w = f["weights/rec_out/values"]
    w[1, :50] = np.nan
    f["weights/in_rec/values"][0] = np.full(f["weights/in_rec/values"].shape[1], np.nan)


def curves_inf_weights_huge(f):
    """A run that diverged: infinite losses, weights of +-1e308 (an axis over their range has no ticks)."""
    f["training/loss"][0] = np.inf
    f["training/loss"][1] = -np.inf
    f["validation/loss"][0] = np.inf
    w = f["weights/rec_rec/values"]
    row = w[1]
    row[:10] = [1e308, -1e308] * 5
    w[1] = row
    f["examples/after/readout"][0] = np.inf


def train_attrs_strings(f):
    for key in ("dt_ms", "classification", "batch_size", "ranks"):
        f["metadata"].attrs[key] = "odd"
    f["training"].attrs["iterations"] = "two"
    f["examples/after"].attrs["label"] = "zero"
    f["examples/after"].attrs["window_begin_ms"] = np.bytes_(b"late")  # fixed-length, read back as bytes
    f["examples/before"].attrs["correct"] = np.array([1, 0])


def regression_strings(f):
    f["metadata"].attrs["classification"] = 0
    f["test"].attrs["loss"] = "n/a"


def run_attrs_odd(f):
    f["metadata"].attrs["duration_ms"] = "long"
    f["metadata"].attrs["dt_ms"] = float("nan")
    f["network/populations/E"].attrs["size"] = "many"
    f["network/populations/I"].attrs["first_gid"] = float("inf")
    f["spikes/E"].attrs["sorting"] = "by_time"


def reward_attrs_odd(f):
    f["test"].attrs["accuracy"] = "n/a"
    f["metadata"].attrs["batch_size"] = "odd"
    f["training/reward"][0] = np.nan
    g = f["examples/after"].attrs
    g["action"], g["reward"], g["decision_ms"], g["correct"] = "left", "x", float("nan"), "yes"


odd = [edited(src, f"{edit.__name__}.h5", edit) for src, edit in
       (("train", test_accuracy_string), ("train", test_accuracy_nan), ("train", curves_nan),
        ("train", curves_inf_weights_huge),
        ("train", train_attrs_strings), ("train", regression_strings), ("run", run_attrs_odd),
        ("reward", reward_attrs_odd))]


def draw(h5):
    png = os.path.splitext(h5)[0] + ".png"
    return h5, png, subprocess.run([plot, h5, "-o", png], capture_output=True, text=True)


# matplotlib's start-up dominates each call: a few at a time keep the test short.
with ThreadPoolExecutor(max_workers=4) as pool:
    results = list(pool.map(draw, list(good.values()) + [d for d, _ in damaged] + odd))
results = {h5: (png, r) for h5, png, r in results}


def is_png(png):
    return os.path.exists(png) and open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n" and os.path.getsize(png) > 20000


for h5 in list(good.values()) + odd:
    png, r = results[h5]
    name = os.path.basename(h5)
    c.check(r.returncode == 0, f"{name}: exit code {r.returncode} (0 expected): {r.stderr[-800:]}")
    c.check("Traceback" not in r.stderr, f"{name}: no traceback")
    c.check(is_png(png), f"{name}: the PNG is written")

for h5, word in damaged:
    png, r = results[h5]
    name = os.path.basename(h5)
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    c.check(r.returncode == 2, f"{name}: exit code {r.returncode} (2 expected): {r.stderr[-800:]}")
    c.check("Traceback" not in r.stderr, f"{name}: no traceback")
    c.check(len(lines) == 1 and h5 in lines[0], f"{name}: one line naming the file: {lines}")
    c.check(len(lines) == 1 and word in lines[0], f"{name}: the message says {word!r}: {lines}")
    c.check(not os.path.exists(png), f"{name}: no PNG")

# A KeyError of figures.py itself is not taken for a damaged file (it keeps its traceback); h5py's is.
package = os.path.join(os.path.dirname(args.plexus), "..", "python")
if os.path.isfile(os.path.join(package, "plexus", "figures.py")):
    code = ("import sys; sys.path.insert(0, sys.argv[1])\n"
            "import h5py\nfrom plexus.figures import raised_by_h5py\n"
            "try:\n    {}['metadata']\nexcept KeyError as e:\n    print(raised_by_h5py(e))\n"
            "with h5py.File(sys.argv[2], 'r') as f:\n    try:\n        f['nothing']\n"
            "    except KeyError as e:\n        print(raised_by_h5py(e))\n")
    r = subprocess.run([sys.executable, "-c", code, package, good["run"]], capture_output=True, text=True)
    c.check(r.stdout.split() == ["False", "True"], f"KeyError told apart by origin: {r.stdout} {r.stderr[-800:]}")
c.finish()
