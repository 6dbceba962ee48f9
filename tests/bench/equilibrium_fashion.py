#!/usr/bin/python3
"""Fashion-MNIST with the equilibrium rule (models/fashion_plasticity.toml): accuracy and time for
given hidden sizes and epochs, next to a linear classifier (softmax regression, numpy) trained in
the same run on the same split (first 55000 training images, last 5000 for validation, the 10000
test images). Prints a markdown table; CPU time comes from the child's rusage, so it is comparable
on a loaded machine, wall time is not.

  /usr/bin/python3 tests/bench/equilibrium_fashion.py --plexus build/bin/plexus \\
      --hidden 500 4500 --epochs 10 --threads 2 [--ranks 1] [--seeds 1] [--set key=value ...]

With --throughput IMAGES it measures training speed instead: one epoch over IMAGES images (no
validation or test) for each hidden size and each of 1 rank x 1 thread, 1 x 2 and 2 x 1.
"""
import argparse
import gzip
import os
import resource
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

DATA = "/usr/share/datasets/fashion-mnist"  # Debian package dataset-fashion-mnist


def load(kind):
    with gzip.open(os.path.join(DATA, f"{kind}-images-idx3-ubyte.gz")) as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784) / 255.0
    with gzip.open(os.path.join(DATA, f"{kind}-labels-idx1-ubyte.gz")) as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)
    return x, y


def linear_baseline(epochs=30, seed=1):
    """Softmax regression by minibatch SGD (batch 100, learning rate 0.5, decayed by 0.9 per epoch);
    the epoch with the best validation accuracy is tested."""
    xtr, ytr = load("train")
    xte, yte = load("t10k")
    xv, yv = xtr[55000:], ytr[55000:]
    xtr, ytr = xtr[:55000], ytr[:55000]
    rng = np.random.default_rng(seed)
    w = np.zeros((784, 10))
    b = np.zeros(10)
    lr = 0.5
    best = (-1.0, None)
    t0 = time.process_time()
    for _ in range(epochs):
        order = rng.permutation(len(xtr))
        for s in range(0, len(order), 100):
            i = order[s:s + 100]
            z = xtr[i] @ w + b
            p = np.exp(z - z.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            p[np.arange(len(i)), ytr[i]] -= 1.0
            w -= lr * xtr[i].T @ p / len(i)
            b -= lr * p.mean(axis=0)
        lr *= 0.9
        val = ((xv @ w + b).argmax(axis=1) == yv).mean()
        if val > best[0]:
            best = (val, ((xte @ w + b).argmax(axis=1) == yte).mean())
    return best[0], best[1], time.process_time() - t0


def run_timed(cmd):
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.time()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.time() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall, load


def throughput(a):
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for hidden in a.hidden:
            for ranks, threads in ((1, 1), (1, 2), (2, 1)):
                runs = []
                for _ in range(a.repeats):
                    cmd = [a.plexus, "train", a.model, "-q", "-o", os.path.join(tmp, "t.h5"), "--threads",
                           str(threads), "--set", f"train.hidden={hidden}", "--set", "train.epochs=1",
                           "--set", f"task.train_samples={a.throughput}", "--set", "task.validation_samples=0",
                           "--set", "task.test_samples=0"]
                    for s in a.set:
                        cmd += ["--set", s]
                    if ranks > 1:
                        cmd = [a.mpiexec, "-n", str(ranks), "--oversubscribe", "--bind-to", "none"] + cmd
                    runs.append(run_timed(cmd))
                runs.sort(key=lambda r: r[1])
                cpu, wall, load = runs[len(runs) // 2]
                rows.append((hidden, ranks, threads, cpu, wall, load))
                print(f"hidden {hidden}, {ranks} x {threads}: {cpu:.1f} s CPU, {wall:.1f} s wall", file=sys.stderr)
    print(f"\nOne epoch over {a.throughput} training images (includes reading the data set, about 1 s of CPU "
          f"per rank); median of {a.repeats} by wall time\n")
    print("| hidden | ranks x threads | CPU s | wall s | images / wall s | load |")
    print("|---:|---|---:|---:|---:|---:|")
    for h, r, t, cpu, wall, load in rows:
        print(f"| {h} | {r} x {t} | {cpu:.1f} | {wall:.1f} | {a.throughput / wall:.0f} | {load:.1f} |")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--plexus", required=True)
    p.add_argument("--mpiexec", default="mpiexec")
    p.add_argument("--model", default=os.path.join(os.path.dirname(__file__), "..", "..", "models",
                                                     "fashion_plasticity.toml"))
    p.add_argument("--hidden", type=int, nargs="+", default=[500])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seeds", type=int, nargs="+", default=[1])
    p.add_argument("--ranks", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--set", action="append", default=[], help="further overrides of the model file")
    p.add_argument("--no-baseline", action="store_true")
    p.add_argument("--throughput", type=int, metavar="IMAGES")
    p.add_argument("--repeats", type=int, default=3, help="throughput: runs per configuration (median)")
    a = p.parse_args()
    if a.throughput:
        return throughput(a)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for hidden in a.hidden:
            for seed in a.seeds:
                out = os.path.join(tmp, f"h{hidden}_s{seed}.h5")
                cmd = [a.plexus, "train", a.model, "-q", "-o", out, "--threads", str(a.threads),
                       "--set", f"train.hidden={hidden}", "--set", f"train.epochs={a.epochs}",
                       "--set", f"network.seed={seed}"]
                for s in a.set:
                    cmd += ["--set", s]
                if a.ranks > 1:
                    cmd = [a.mpiexec, "-n", str(a.ranks), "--oversubscribe", "--bind-to", "none"] + cmd
                load = os.getloadavg()[0]
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                t0 = time.time()
                subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
                wall = time.time() - t0
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
                with h5py.File(out, "r") as f:
                    val = f["validation/accuracy"][()]
                    rows.append((f"equilibrium, {hidden} hidden", seed, a.epochs, val[-1], val.max(),
                                 float(f["test"].attrs["accuracy"]), cpu, wall, load))
                print(f"hidden {hidden} seed {seed}: validation {val[-1]:.4f}, test {rows[-1][5]:.4f}, "
                      f"{cpu:.0f} s CPU, {wall:.0f} s wall", file=sys.stderr)
    if not a.no_baseline:
        load = os.getloadavg()[0]
        t0 = time.time()
        val, test, cpu = linear_baseline()
        rows.append(("linear classifier (softmax regression)", 1, 30, val, val, test, cpu, time.time() - t0, load))
    print(f"\n{a.ranks} rank(s) x {a.threads} thread(s); extra overrides: {' '.join(a.set) or 'none'}\n")
    print("| network | seed | epochs | validation (last) | validation (best) | test | CPU s | wall s | load |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.4f} | {r[4]:.4f} | {r[5]:.4f} | {r[6]:.0f} | {r[7]:.0f} | "
              f"{r[8]:.1f} |")


if __name__ == "__main__":
    main()
