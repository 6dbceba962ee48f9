#!/usr/bin/env python3
"""Concurrent trials: time per training iteration (batch 32) of a layout against 1 rank x 1 thread,
measured in the same run, runs interleaved, medians of several repeats; CPU time beside wall time.

  /usr/bin/python3 tests/bench/concurrent_trials.py [--plexus build/bin/plexus] [--repeats 5] [--markdown]

Layouts: 1 x 2 threads running trials (OMP_WAIT_POLICY active and passive), 1 x 2 with auto, 1 x 2
splitting neurons (the only way before concurrent trials), 2 ranks x 1 thread with --batch-groups 2,
and 2 ranks splitting the neurons (--batch-groups 1). Every layout must train the same weights (checked
on the result files: the speed of a wrong answer is not reported)."""
import argparse
import hashlib
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import h5py

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
p = argparse.ArgumentParser()
p.add_argument("--plexus", default=os.path.join(ROOT, "build/bin/plexus"))
p.add_argument("--mpiexec", default="mpiexec")
p.add_argument("--repeats", type=int, default=5)
p.add_argument("--models", nargs="*", default=["eprop_evidence100", "cortex_ei800_evidence"])
p.add_argument("--markdown", action="store_true")
p.add_argument("--skip-slow", action="store_true", help="leave out the layouts that split neurons over threads")
a = p.parse_args()

ITERATIONS = {"eprop_evidence100": 5, "cortex_ei800_evidence": 2}
BASE_ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
# (label, ranks, threads, extra arguments, OMP_WAIT_POLICY)
LAYOUTS = [
    ("1 x 1", 1, 1, [], "passive"),
    ("1 x 2 trials, active", 1, 2, ["--set", 'train.parallel="trials"'], "active"),
    ("1 x 2 trials, passive", 1, 2, ["--set", 'train.parallel="trials"'], "passive"),
    ("1 x 2 auto, passive", 1, 2, [], "passive"),
    ("1 x 2 neurons, passive", 1, 2, ["--set", 'train.parallel="neurons"'], "passive"),
    ("2 x 1, --batch-groups 2", 2, 1, ["--batch-groups", "2"], "passive"),
    ("2 x 1, --batch-groups 1 (neurons)", 2, 1, ["--batch-groups", "1"], "passive"),
]


def weights_digest(path):
    h = hashlib.sha256()
    with h5py.File(path, "r") as f:
        for name in sorted(f["weights"]):
            h.update(f[f"weights/{name}/values"][()].tobytes())
        h.update(f["training/loss"][()].tobytes())
    return h.hexdigest()


def one(model, ranks, threads, extra, policy, out):
    cmd = [a.plexus, "train", os.path.join(ROOT, "models", model + ".toml"), "-o", out, "--threads", str(threads),
           "--set", f"train.iterations={ITERATIONS.get(model, 2)}", "--set", "train.batch_size=32",
           "--set", "train.validation_trials=0", "--set", "train.test_trials=0", *extra]
    if ranks > 1:
        cmd = [a.mpiexec, "-n", str(ranks), "--oversubscribe", "--bind-to", "none", *cmd]
    env = dict(BASE_ENV, OMP_WAIT_POLICY=policy)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    per_it = float(re.search(r"\(([0-9.]+) s per iteration\)", r.stdout).group(1))
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    chosen = re.search(r"\[plexus\] (\d+ batch group.*?); memory", r.stdout + r.stderr)
    return per_it, wall, cpu, weights_digest(out), chosen.group(1) if chosen else ""


def load():
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


print(f"# concurrent trials, {a.repeats} repeats, load average {load()} at the start", file=sys.stderr)
results = {}
with tempfile.TemporaryDirectory() as tmp:
    for model in a.models:
        layouts = [l for l in LAYOUTS if not (a.skip_slow and "neurons, passive" in l[0])]
        runs = {l[0]: [] for l in layouts}
        for rep in range(a.repeats):
            for label, ranks, threads, extra, policy in layouts:
                out = os.path.join(tmp, f"{model}.h5")
                runs[label].append(one(model, ranks, threads, extra, policy, out))
                print(f"{model} {label} repeat {rep + 1}: {runs[label][-1][0]:.3f} s/it", file=sys.stderr)
        results[model] = runs

for model, runs in results.items():
    base = statistics.median(r[0] for r in runs["1 x 1"])
    digests = {r[3] for rs in runs.values() for r in rs}
    same = "yes" if len(digests) == 1 else f"NO ({len(digests)} different)"
    if a.markdown:
        print(f"\n`{model}`, batch 32, {ITERATIONS.get(model, 2)} iterations; same weights in every layout: {same}\n")
        print("| layout | s per iteration: median [min, max] | speed-up (median) | CPU s per run | wall s per run | what ran |")
        print("|---|---:|---:|---:|---:|---|")
    else:
        print(f"\n{model}: same weights in every layout: {same}")
    for label, rs in runs.items():
        t = [r[0] for r in rs]
        med = statistics.median(t)
        cpu = statistics.median(r[2] for r in rs)
        wall = statistics.median(r[1] for r in rs)
        if a.markdown:
            print(f"| {label} | {med:.3f} [{min(t):.3f}, {max(t):.3f}] | **{base / med:.2f}x** | {cpu:.2f} | {wall:.2f} | {rs[0][4]} |")
        else:
            print(f"  {label:<36} {med:8.3f} s/it [{min(t):.3f}, {max(t):.3f}]  {base / med:5.2f}x  cpu {cpu:6.2f} s  wall {wall:6.2f} s  ({rs[0][4]})")
    if len(digests) != 1:
        sys.exit(1)
