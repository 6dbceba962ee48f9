#!/usr/bin/python3
"""The Song, Miller & Abbott (2000) STDP experiment in Plexus and in Brian2, side by side.

Runs models/stdp_song_abbott.toml (1000 Poisson inputs at 15 Hz onto one conductance LIF through
additive STDP synapses, 100 s by default) with Plexus, and the same model written in Brian2
(cpp_standalone, one thread, exponential Euler like Plexus), for several seeds, runs interleaved.
Reports per simulator: the fractions of weights below 0.1 W_max and above 0.9 W_max at the end,
the mean weight, the output rate over the run and over its last 10 s, and the time of the
simulation loop (Plexus: its own stepping timer, plus the process CPU time; Brian2:
device._last_run_time, excluding code generation and compilation).

This is a benchmark, not a test: it prints numbers and exits 0 (non-zero only when a prerequisite
is missing or a run fails). See tests/bench/README.md.

Usage:
    /usr/bin/python3 tests/bench/stdp_song_abbott_vs_brian2.py [--duration-ms 100000] [--repeats 3]
        [--plexus build/bin/plexus] [--no-brian] [--markdown]
"""

import argparse
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
import numpy as np

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# The Brian2 side, run as `python -c BRIAN2_SCRIPT '<json parameters>'`; prints "RESULT {json}".
# Parameters as in the model file: conductances in units of the leak conductance (g_max = 0.01).
BRIAN2_SCRIPT = r'''
import json, sys
import numpy as np
params = json.loads(sys.argv[1])
from brian2 import (NeuronGroup, PoissonGroup, Synapses, SpikeMonitor, defaultclock, device, ms, mV, Hz,
                    prefs, run, second, seed, set_device)
set_device('cpp_standalone', directory=params['directory'], build_on_run=True)
prefs.devices.cpp_standalone.openmp_threads = 0
seed(params['seed'])
defaultclock.dt = 0.1 * ms
taum, taue, tau_pre, tau_post = 10 * ms, 5 * ms, 20 * ms, 20 * ms
e_exc, v_th, v_reset, e_leak = 0 * mV, -54 * mV, -60 * mV, -74 * mV
g_max = 0.01
d_pre, d_post = 0.01 * g_max, -1.05 * 0.01 * g_max
inputs = PoissonGroup(1000, rates=15 * Hz)
neuron = NeuronGroup(1, """dv/dt = (ge * (e_exc - v) + e_leak - v) / taum : volt
dge/dt = -ge / taue : 1""", threshold="v > v_th", reset="v = v_reset", method="exponential_euler")
neuron.v = v_reset
syn = Synapses(inputs, neuron, """w : 1
dApre/dt = -Apre / tau_pre : 1 (event-driven)
dApost/dt = -Apost / tau_post : 1 (event-driven)""",
               on_pre="""ge += w
Apre += d_pre
w = clip(w + Apost, 0, g_max)""",
               on_post="""Apost += d_post
w = clip(w + Apre, 0, g_max)""")
syn.connect()
syn.w = "rand() * g_max"
spikes = SpikeMonitor(neuron)
duration = params['duration_ms'] * ms
run(duration)
w = np.asarray(syn.w[:]) / g_max
t = np.asarray(spikes.t / ms)
print("RESULT " + json.dumps({
    "below": float(np.mean(w < 0.1)), "above": float(np.mean(w > 0.9)), "mean_w": float(w.mean()),
    "rate": float(len(t) / (params['duration_ms'] / 1000.0)),
    "rate_end": float(np.sum(t >= params['duration_ms'] - 10000.0) / min(10.0, params['duration_ms'] / 1000.0)),
    "seconds": float(device._last_run_time)}))
'''


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run_plexus(args, seed, workdir):
    out = os.path.join(workdir, f"plexus_{seed}.h5")
    cmd = [args.plexus, "run", args.model, "-q", "-o", out, "--set", f"network.seed={seed}",
           "--set", f"run.duration_ms={args.duration_ms}"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = subprocess.run(cmd, capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        sys.exit(f"plexus failed ({' '.join(cmd)}):\n{r.stderr}")
    with h5py.File(out, "r") as f:
        w_max = float(f["network/projections/stdp"].attrs["w_max"])
        w = f["weights/stdp/values"][-1] / w_max
        t = f["spikes/neuron/timestamps"][()]
        seconds = float(f["metadata"].attrs["wall_time_s"])
    d = args.duration_ms
    return {"below": float(np.mean(w < 0.1)), "above": float(np.mean(w > 0.9)), "mean_w": float(w.mean()),
            "rate": len(t) / (d / 1000.0), "rate_end": float(np.sum(t >= d - 10000.0)) / min(10.0, d / 1000.0),
            "seconds": seconds, "cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)}


def run_brian(args, seed, workdir):
    params = {"seed": seed, "duration_ms": args.duration_ms, "directory": os.path.join(workdir, f"brian_{seed}")}
    r = subprocess.run([args.brian_python, "-c", BRIAN2_SCRIPT, json.dumps(params)], capture_output=True, text=True)
    for line in r.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    sys.exit(f"Brian2 failed (seed {seed}):\n{r.stderr[-3000:]}")


def summary(rows, key):
    v = [r[key] for r in rows]
    return statistics.median(v), min(v), max(v)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--duration-ms", type=float, default=100000.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--plexus", default=os.path.join(REPO_ROOT, "build", "bin", "plexus"))
    p.add_argument("--model", default=os.path.join(REPO_ROOT, "models", "stdp_song_abbott.toml"))
    p.add_argument("--brian-python", default="/usr/bin/python3")
    p.add_argument("--no-brian", action="store_true", help="Plexus only")
    p.add_argument("--markdown", action="store_true")
    args = p.parse_args()
    if not os.path.exists(args.plexus):
        sys.exit(f"no Plexus binary at {args.plexus}: build it first (cmake --build --preset release)")
    load0 = os.getloadavg()[0]
    results = {"Plexus": [], "Brian2": []}
    with tempfile.TemporaryDirectory(prefix="plexus-stdp-bench-") as workdir:
        for seed in range(1, args.repeats + 1):
            log(f"seed {seed}: Plexus")
            results["Plexus"].append(run_plexus(args, seed, workdir))
            if not args.no_brian:
                log(f"seed {seed}: Brian2 (cpp_standalone; compiling takes a while)")
                results["Brian2"].append(run_brian(args, seed, workdir))
    load1 = os.getloadavg()[0]
    lines = []
    if args.markdown:
        lines.append(f"{time.strftime('%Y-%m-%d')}, {platform.processor() or platform.machine()}, "
                     f"{os.cpu_count()} logical CPUs, load average {load0:.1f} at the start and {load1:.1f} at the end; "
                     f"{args.duration_ms / 1000:g} s simulated, seeds 1-{args.repeats}.")
        lines.append("")
        lines.append(f"Command: `{' '.join(shlex.quote(a) for a in sys.argv)}`")
        lines.append("")
    lines.append("| simulator | below 0.1 W_max | above 0.9 W_max | mean w / W_max | rate Hz (whole run) | "
                 "rate Hz (last 10 s) | loop s | CPU s |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, rows in results.items():
        if not rows:
            continue
        cells = []
        for key in ("below", "above", "mean_w", "rate", "rate_end", "seconds"):
            med, lo, hi = summary(rows, key)
            cells.append(f"{med:.3f} [{lo:.3f}, {hi:.3f}]" if key in ("below", "above", "mean_w")
                         else f"{med:.2f} [{lo:.2f}, {hi:.2f}]")
        cells.append(f"{statistics.median(r['cpu'] for r in rows):.2f}" if "cpu" in rows[0] else "-")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Medians over seeds, [min, max] in brackets. Per seed: " + "; ".join(
        f"{name} {i + 1}: {r['below']:.3f}/{r['above']:.3f}, {r['rate']:.1f} Hz"
        for name, rows in results.items() for i, r in enumerate(rows)))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
