#!/usr/bin/python3
"""Tempotron capacity sweep (models/tempotron_capacity.toml): epochs to zero errors and the
accuracy reached per load alpha = P/N, with the time it took.

Runs `plexus train` on the model (extra `--set` overrides are passed through), reads the result
file and prints, per load, the first error-free epoch of every repeat and the training accuracy of
the final weights (all patterns, no learning), then wall and CPU time and the load average.

This is a benchmark, not a test: it prints numbers and exits 0 (non-zero only when the run
fails). See tests/bench/README.md.

Usage:
    /usr/bin/python3 tests/bench/tempotron_capacity.py [--ranks 1] [--threads 2] [--markdown]
        [--set train.loads=[2.0] ...]
"""

import argparse
import os
import platform
import resource
import shlex
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--plexus", default=os.path.join(REPO_ROOT, "build", "bin", "plexus"))
    p.add_argument("--model", default=os.path.join(REPO_ROOT, "models", "tempotron_capacity.toml"))
    p.add_argument("--ranks", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--mpiexec", default="mpiexec")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--markdown", action="store_true")
    args = p.parse_args()
    if not os.path.exists(args.plexus):
        sys.exit(f"no Plexus binary at {args.plexus}: build it first (cmake --build --preset release)")
    with tempfile.TemporaryDirectory(prefix="plexus-tempotron-bench-") as workdir:
        out = os.path.join(workdir, "capacity.h5")
        cmd = [args.plexus, "train", args.model, "-q", "-o", out, "--threads", str(args.threads)]
        for s in args.set:
            cmd += ["--set", s]
        if args.ranks > 1:
            cmd = [args.mpiexec, "-n", str(args.ranks), "--oversubscribe", "--bind-to", "none"] + cmd
        load0 = os.getloadavg()[0]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.time()
        r = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.time() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if r.returncode != 0:
            sys.exit(f"plexus train failed:\n{r.stderr[-3000:]}")
        load1 = os.getloadavg()[0]
        with h5py.File(out, "r") as f:
            g = f["tempotron"]
            ex = g["experiments"]
            load, patterns, repeat = ex["load"][()], ex["patterns"][()], ex["repeat"][()]
            solved, acc = ex["solved_epoch"][()], ex["train_accuracy"][()]
            epochs, afferents = int(g.attrs["epochs"]), int(g.attrs["afferents"])
            lr, mom = float(g.attrs["learning_rate"]), float(g.attrs["momentum"])
            own = float(f["metadata"].attrs["wall_time_s"])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    lines = []
    if args.markdown:
        lines.append(f"{time.strftime('%Y-%m-%d')}, {platform.processor() or platform.machine()}, "
                     f"{os.cpu_count()} logical CPUs; load average {load0:.1f} at the start, {load1:.1f} at the end.")
        lines.append("")
        lines.append(f"Command: `{' '.join(shlex.quote(a) for a in sys.argv)}`")
        lines.append("")
    lines.append(f"N = {afferents} afferents, at most {epochs} epochs, learning rate {lr:g}, momentum {mom:g}; "
                 f"{args.ranks} rank(s) x {args.threads} thread(s).")
    lines.append("")
    lines.append("| load P/N | patterns | epochs to zero errors, per repeat | solved | training accuracy: mean [min, max] |")
    lines.append("|---:|---:|---|---:|---:|")
    for a in sorted(set(load.tolist())):
        m = load == a
        eps = ", ".join(str(int(e)) if e > 0 else f"> {epochs}" for e in solved[m][np.argsort(repeat[m])])
        lines.append(f"| {a:g} | {int(patterns[m][0])} | {eps} | {int((solved[m] > 0).sum())} of {int(m.sum())} | "
                     f"{acc[m].mean():.4f} [{acc[m].min():.4f}, {acc[m].max():.4f}] |")
    lines.append("")
    lines.append(f"Time: {own:.1f} s training (Plexus's timer), {wall:.1f} s wall for the command, {cpu:.1f} s CPU.")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
