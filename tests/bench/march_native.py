#!/usr/bin/env python3
"""The portable release build against the `native` preset (-march=native), on the main job (the
800-cell cortex trained with e-prop, 2 ranks as two batch groups, a few iterations) and on the COBA
benchmark (4000 cells, one rank, one thread). The two builds run alternately, `--repeats` times each;
prints the medians of wall time and CPU time (children's user + system) and native's speed-up.

    cmake --preset release && cmake --build --preset release
    cmake --preset native && cmake --build --preset native --target plexus
    tests/bench/march_native.py [--repeats 5] [--iterations 3] [--coba-ms 5000]
"""
import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(os.path.dirname(here))
p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
p.add_argument("--repeats", type=int, default=5)
p.add_argument("--iterations", type=int, default=3)
p.add_argument("--coba-ms", type=float, default=5000.0)
p.add_argument("--portable", default=os.path.join(root, "build/bin/plexus"))
p.add_argument("--native", default=os.path.join(root, "build-native/bin/plexus"))
p.add_argument("--other", action="append", default=[], metavar="NAME=BINARY",
               help="another build to time against the portable one, e.g. v3=build-v3/bin/plexus")
a = p.parse_args()
for b in (a.portable, a.native):
    if not os.path.exists(b):
        sys.exit(f"march_native.py: no binary {b}; build the release and native presets first")
env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMP_WAIT_POLICY="passive")
out = "/dev/null"
jobs = {
    "main job (cortex e-prop, 2 ranks)": lambda b: [
        "mpiexec", "-n", "2", "--oversubscribe", "--bind-to", "none", b, "train",
        os.path.join(root, "models/cortex_ei800_evidence.toml"), "--batch-groups", "2",
        "--set", f"train.iterations={a.iterations}", "--set", "train.validation_trials=0", "--set", "train.test_trials=32", "-q", "-o", "tmp_march.h5"],
    "COBA (1 rank)": lambda b: [b, "run", os.path.join(root, "models/coba_benchmark.toml"),
                                "--set", f"run.duration_ms={a.coba_ms}", "-q", "-o", "tmp_march.h5"],
}


def measure(cmd):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{r.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


load = os.getloadavg()[0]
print(f"load average at start {load:.2f}; {a.repeats} alternating runs per build")
for name, make in jobs.items():
    builds = [("portable", a.portable), ("native", a.native)] + [tuple(o.split("=", 1)) for o in a.other]
    res = {k: [] for k, _ in builds}
    for _ in range(a.repeats):
        for kind, b in builds:
            res[kind].append(measure(make(b)))
    med = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for k, v in res.items()}
    base = med["portable"]
    print(f"{name}: portable {base[0]:.2f} s wall / {base[1]:.2f} s CPU")
    for kind, _ in builds[1:]:
        m = med[kind]
        print(f"  {kind}: {m[0]:.2f} s wall / {m[1]:.2f} s CPU; speed-up over portable "
              f"{base[0] / m[0]:.3f}x wall, {base[1] / m[1]:.3f}x CPU")
if os.path.exists("tmp_march.h5"):
    os.remove("tmp_march.h5")
