#!/usr/bin/env python3
"""What the Python interface costs in a training run, against the command line, in the same run: the
main job's model (models/cortex_ei800_evidence.toml) trained for a few iterations on 1 rank x 1 thread,
once by `plexus train MODEL --set train.iterations=N -q -o FILE` and once by a fresh
`/usr/bin/python3 -c "import plexus; ...; plexus.train(m, quiet=True, output=FILE)"`, interleaved,
`--repeats` times each; medians of wall time and CPU time (children's user + system) per whole process.

  /usr/bin/python3 tests/bench/python_overhead.py [--repeats 5] [--iterations 3] [--markdown]

The Python process's time holds interpreter start, `import plexus` (NumPy, h5py), the model check, the
run and reading the Result into memory; the script also reports, from inside that process, the time of
the plexus.train call alone, so that start-up + import is told apart from the call. Both runs must
train the same weights (the /weights/*/values datasets of the result files are compared): otherwise
the two would not be doing the same work. Exits 0 whatever the numbers."""
import argparse
import datetime
import hashlib
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

import h5py

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
p.add_argument("--plexus", default=os.path.join(ROOT, "build/bin/plexus"), help="the plexus binary")
p.add_argument("--python-path", default=os.path.join(ROOT, "build/python"),
               help="the folder holding the assembled plexus package (PYTHONPATH of the Python runs)")
p.add_argument("--python", default="/usr/bin/python3", help="the interpreter of the Python runs")
p.add_argument("--model", default=os.path.join(ROOT, "models/cortex_ei800_evidence.toml"))
p.add_argument("--iterations", type=int, default=3)
p.add_argument("--repeats", type=int, default=5)
p.add_argument("--markdown", action="store_true", help="a markdown table with date, CPU and command line")
a = p.parse_args()
plexus_bin, python_path, model = (os.path.abspath(x) for x in (a.plexus, a.python_path, a.model))
for path, what in ((plexus_bin, "binary"), (python_path, "package folder"), (model, "model file")):
    if not os.path.exists(path):
        sys.exit(f"python_overhead.py: no {what} {path}; build the project first (cmake --build build)")

# The Python run: as a user would write it. Timers start before anything but `time` is imported.
CHILD = """\
import time
t0 = time.perf_counter()
import json, sys
import plexus
t1 = time.perf_counter()
m = plexus.Model.from_toml(sys.argv[1]).set("train.iterations", int(sys.argv[2]))
t2 = time.perf_counter()
c2 = time.process_time()
r = plexus.train(m, threads=1, quiet=True, output=sys.argv[3])
t3 = time.perf_counter()
c3 = time.process_time()
print("PYTHON_OVERHEAD " + json.dumps({"import": t1 - t0, "model": t2 - t1, "call": t3 - t2,
                                       "call_cpu": c3 - c2, "script": t3 - t0}))
"""

ENV = dict(os.environ, OMP_WAIT_POLICY="passive")
ENV.pop("OMP_NUM_THREADS", None)
PY_ENV = dict(ENV, PYTHONPATH=python_path + (os.pathsep + ENV["PYTHONPATH"] if ENV.get("PYTHONPATH") else ""))


def timed(cmd, env, cwd):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        sys.exit(f"python_overhead.py: failed (exit {r.returncode}): {shlex.join(cmd)}\n"
                 f"{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, r.stdout


def from_file(path):
    """The trained weights' digest, the trainer's seconds per iteration, the run's own wall time and the batch."""
    h = hashlib.sha256()
    with h5py.File(path, "r") as f:
        for name in sorted(f["weights"]):
            h.update(name.encode())
            h.update(f[f"weights/{name}/values"][()].tobytes())
        per_it = float(f["training"].attrs["seconds_per_iteration"])
        engine = float(f["metadata"].attrs["wall_time_s"])
        batch = int(f["metadata"].attrs["batch_size"])
    return h.hexdigest(), per_it, engine, batch


def run_cli(tmp):
    out = os.path.join(tmp, "cli.h5")
    cmd = [plexus_bin, "train", model, "--threads", "1", "--set", f"train.iterations={a.iterations}", "-q", "-o", out]
    wall, cpu, _ = timed(cmd, ENV, tmp)
    digest, per_it, engine, batch = from_file(out)
    os.remove(out)
    return {"wall": wall, "cpu": cpu, "digest": digest, "per_it": per_it, "engine": engine, "batch": batch}


def run_python(tmp):
    out = os.path.join(tmp, "python.h5")
    cmd = [a.python, "-c", CHILD, model, str(a.iterations), out]
    wall, cpu, stdout = timed(cmd, PY_ENV, tmp)
    lines = [l for l in stdout.splitlines() if l.startswith("PYTHON_OVERHEAD ")]
    if not lines:
        sys.exit(f"python_overhead.py: the Python run printed no timings:\n{stdout[-2000:]}")
    inner = json.loads(lines[-1].split(" ", 1)[1])
    digest, per_it, engine, batch = from_file(out)
    os.remove(out)
    return dict(inner, wall=wall, cpu=cpu, digest=digest, per_it=per_it, engine=engine, batch=batch)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def med(xs):
    return statistics.median(xs)


def rng(xs, digits=2):
    return f"{med(xs):.{digits}f} [{min(xs):.{digits}f}, {max(xs):.{digits}f}]"


def builds():
    """The binary's and the compiled module's modification times: a rebuild during the benchmark would mix builds."""
    mods = [os.path.join(python_path, "plexus", n) for n in sorted(os.listdir(os.path.join(python_path, "plexus")))
            if n.startswith("_plexus")]
    return {f: os.stat(f).st_mtime_ns for f in [plexus_bin] + mods}


built = builds()
load = os.getloadavg()[0]
print(f"# python_overhead: {os.path.basename(model)}, {a.iterations} iteration(s), 1 rank x 1 thread, "
      f"{a.repeats} interleaved repeats; load average {load:.2f}", file=sys.stderr)
cli, py = [], []
with tempfile.TemporaryDirectory(prefix="python-overhead-") as tmp:
    for rep in range(a.repeats):
        # Alternate which goes first, so that a slow spell or a warm cache favours neither.
        order = (("cli", run_cli, cli), ("python", run_python, py))
        for kind, fn, into in (order if rep % 2 == 0 else order[::-1]):
            into.append(fn(tmp))
            r = into[-1]
            print(f"repeat {rep + 1}/{a.repeats} {kind:<6}: {r['wall']:.2f} s wall, {r['cpu']:.2f} s CPU, "
                  f"{r['per_it']:.3f} s/it", file=sys.stderr)

rebuilt = [os.path.relpath(f) for f, t in builds().items() if t != built[f]]
if rebuilt:
    print(f"# warning: rebuilt during the benchmark: {', '.join(rebuilt)}; the runs mix builds", file=sys.stderr)
digests = {r["digest"] for r in cli + py}
identical = "yes" if len(digests) == 1 else f"no ({len(digests)} different sets of weights in {len(cli + py)} runs)"


def col(runs, key):
    return [r[key] for r in runs]


cw, cc, pw, pc = med(col(cli, "wall")), med(col(cli, "cpu")), med(col(py, "wall")), med(col(py, "cpu"))
ratio_wall, ratio_cpu = pw / cw, pc / cc
paired = [p_["wall"] / c_["wall"] for c_, p_ in zip(cli, py)]
paired_cpu = [p_["cpu"] / c_["cpu"] for c_, p_ in zip(cli, py)]
start = [r["wall"] - r["call"] for r in py]  # interpreter start + import + model check + exit
# The Python process, taken apart (medians): interpreter start and exit (outside the script's timers),
# `import plexus`, the model (read, set, checked twice), the call beyond the run's own wall time (options,
# session, reading the result into memory), and the run itself; the CLI: its process beyond its run.
parts = {"start + exit": med([r["wall"] - r["script"] for r in py]), "import": med(col(py, "import")),
         "model": med(col(py, "model")), "call beyond run": med([r["call"] - r["engine"] for r in py])}
cli_beyond = med([r["wall"] - r["engine"] for r in cli])
# The verdict uses the per-repeat ratios (each Python run beside the CLI run next to it): on a shared
# machine whose speed drifts over minutes, the ratio of the two medians mixes that drift in; the paired
# median does not. The fixed cost (the Python process beyond its run, less the CLI's) is shown beside it.
overhead = (med(paired) - 1) * 100
fixed = med([r["wall"] - r["engine"] for r in py]) - cli_beyond
fixed_pct = 100 * fixed / cw
target = "met" if overhead < 2 else "missed"

if a.markdown:
    cmd = shlex.join([sys.executable, os.path.relpath(os.path.abspath(sys.argv[0]))] + sys.argv[1:])
    print(f"Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}; CPU: {cpu_model()}, "
          f"{os.cpu_count()} logical cores; load average {load:.2f} at the start\n")
    print(f"Command: `{cmd}`\n")
    print(f"`{os.path.basename(model)}`, {a.iterations} iteration(s) of batch "
          f"{cli[0]['batch']}, 1 rank x 1 thread, {a.repeats} interleaved repeats; "
          f"same trained weights (/weights/*/values): {identical}\n")
    print("| run | wall s: median [min, max] | CPU s: median [min, max] | s per iteration (median) | "
          "run's own wall s (median) |")
    print("|---|---:|---:|---:|---:|")
    print(f"| `plexus train ... -q -o FILE` | {rng(col(cli, 'wall'))} | {rng(col(cli, 'cpu'))} | "
          f"{med(col(cli, 'per_it')):.3f} | {med(col(cli, 'engine')):.2f} |")
    print(f"| `python3 -c \"import plexus; ...; plexus.train(...)\"` | {rng(col(py, 'wall'))} | {rng(col(py, 'cpu'))} | "
          f"{med(col(py, 'per_it')):.3f} | {med(col(py, 'engine')):.2f} |")
    print(f"| ratio of the medians, Python / CLI | {ratio_wall:.3f} ({(ratio_wall - 1) * 100:+.1f} %) | "
          f"{ratio_cpu:.3f} ({(ratio_cpu - 1) * 100:+.1f} %) | | |")
    print(f"| median of the per-repeat ratios, Python / CLI | **{med(paired):.3f}** ({overhead:+.1f} %) | "
          f"**{med(paired_cpu):.3f}** ({(med(paired_cpu) - 1) * 100:+.1f} %) | | |")
    print(f"\nPer repeat, Python / CLI: wall {rng(paired, 3)}, CPU {rng(paired_cpu, 3)}. The Python process "
          f"taken apart (medians, s): interpreter start + exit {parts['start + exit']:.3f}, `import plexus` "
          f"{parts['import']:.3f}, model from TOML + set {parts['model']:.3f}, the plexus.train call "
          f"{med(col(py, 'call')):.2f} (CPU {med(col(py, 'call_cpu')):.2f}), of which beyond the run's own wall time "
          f"(options, reading the result into memory) {parts['call beyond run']:.3f}; the CLI process beyond its "
          f"run's own wall time {cli_beyond:.3f}. Python process minus the call: {rng(start, 3)} s. "
          f"Load average {os.getloadavg()[0]:.2f} at the end."
          f"{' WARNING: rebuilt during the run: ' + ', '.join(rebuilt) + '.' if rebuilt else ''} Fixed cost of the Python process beyond the CLI's: {fixed:.3f} s ({fixed_pct:.1f} % of the CLI run). "
          f"Target < 2 % overhead (median of the per-repeat wall ratios, {overhead:+.1f} %): {target}.")
else:
    print(f"{os.path.basename(model)}, {a.iterations} iteration(s), 1 rank x 1 thread, {a.repeats} interleaved "
          f"repeats; load average {load:.2f} at the start")
    print(f"same trained weights: {identical}")
    print(f"  CLI     wall {rng(col(cli, 'wall'))} s  CPU {rng(col(cli, 'cpu'))} s  "
          f"{med(col(cli, 'per_it')):.3f} s/it  run's own wall {med(col(cli, 'engine')):.2f} s")
    print(f"  Python  wall {rng(col(py, 'wall'))} s  CPU {rng(col(py, 'cpu'))} s  "
          f"{med(col(py, 'per_it')):.3f} s/it  run's own wall {med(col(py, 'engine')):.2f} s")
    print(f"  Python / CLI (medians): wall {ratio_wall:.3f} ({(ratio_wall - 1) * 100:+.1f} %), "
          f"CPU {ratio_cpu:.3f} ({(ratio_cpu - 1) * 100:+.1f} %); per repeat wall {rng(paired, 3)}, CPU {rng(paired_cpu, 3)}")
    print(f"  Python process (medians): start + exit {parts['start + exit']:.3f} s, import plexus "
          f"{parts['import']:.3f} s, model {parts['model']:.3f} s, plexus.train call {med(col(py, 'call')):.2f} s "
          f"(CPU {med(col(py, 'call_cpu')):.2f} s), of which beyond the run's own wall {parts['call beyond run']:.3f} s")
    print(f"  Python process minus the call: {rng(start, 3)} s; CLI process beyond its run's own wall {cli_beyond:.3f} s")
    print(f"  load average {os.getloadavg()[0]:.2f} at the end")
    if rebuilt:
        print(f"  WARNING: rebuilt during the benchmark: {', '.join(rebuilt)}")
    print(f"  fixed cost of the Python process beyond the CLI's: {fixed:.3f} s ({fixed_pct:.1f} % of the CLI run)")
    print(f"  target < 2 % overhead (median of the per-repeat wall ratios, {overhead:+.1f} %): {target}")
