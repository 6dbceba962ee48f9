#!/usr/bin/env python3
"""Projected time per training iteration on machines larger than this one, from costs measured here.

  /usr/bin/python3 tests/bench/training_projection.py [--plexus build/bin/plexus] [--markdown]
                                                      [--alpha-us 5] [--beta-gbs 10] [--reuse FILE.json]

Measured on this machine (one process at a time):
  1. one e-prop trial of `cortex_ei800_evidence` on one core (a batch of 8 on one thread, / 8), and of
     the cortex at 80 000 cells (`network.scale = 100`, one trial on one core), with the plastic
     synapses and the bytes of the shared state and of one trial instance that the run reports;
  2. spike-exchange bytes received per step and rank when a trial's neurons are split over S ranks,
     from dry runs (`plexus scale-test --dry-run-ranks S`, one process playing rank 0 of S).
Assumed (stated on the output): an allgather over P ranks costs alpha * ceil(log2 P) + bytes / beta
(alpha 5 us, beta 10 GB/s per rank: an InfiniBand-class cluster), computation splits evenly over the
ranks of a group and over the threads of a rank (no memory-bandwidth contention), and a trial on S
ranks, with N instances per rank exchanging in turn, costs T1 / S + steps * N * allgather(S, bytes).

For C cores and batch B, every layout of G batch groups x S ranks per group x N trial instances per
rank with G * S * N = C is tried (G <= B, G * N <= B, the rank's memory within --memory-gb per core
times N): an iteration is ceil(B / (G * N)) trials of T(S) each, then the groups' partial gradients
joined (every rank receives the other groups' nodes: allgather of 4 bytes per plastic synapse / S
per group) and the optimiser step. The fastest layout is printed with its time."""
import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
p = argparse.ArgumentParser()
p.add_argument("--plexus", default=os.path.join(ROOT, "build/bin/plexus"))
p.add_argument("--alpha-us", type=float, default=5.0)
p.add_argument("--beta-gbs", type=float, default=10.0)
p.add_argument("--memory-gb", type=float, default=4.0, help="memory per core")
p.add_argument("--batch", type=int, default=128)
p.add_argument("--cores", type=int, nargs="*", default=[1, 16, 128, 1024])
p.add_argument("--reuse", help="measurements of an earlier run (JSON), or where to keep these")
p.add_argument("--markdown", action="store_true")
a = p.parse_args()

ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMP_WAIT_POLICY="passive")
MODEL = os.path.join(ROOT, "models/cortex_ei800_evidence.toml")
KIB = {"B": 1.0, "KiB": 1024.0, "MiB": 1024.0 ** 2, "GiB": 1024.0 ** 3}


def train(scale, batch):
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [a.plexus, "train", MODEL, "-o", os.path.join(tmp, "p.h5"), "--threads", "1",
               "--set", f"network.scale={scale}", "--set", "train.iterations=1", "--set", f"train.batch_size={batch}",
               "--set", "train.validation_trials=0", "--set", "train.test_trials=0", "--set", "train.example_cells=0"]
        r = subprocess.run(cmd, capture_output=True, text=True, env=ENV)
        if r.returncode:
            sys.exit(r.stdout + r.stderr)
    out = r.stdout + r.stderr
    per_it = float(re.search(r"\(([0-9.]+) s per iteration\)", out).group(1))
    syn = int(re.search(r"(\d+) plastic synapses", out).group(1))
    steps = int(re.search(r"trials of (\d+) steps", out).group(1))
    m = re.search(r"([0-9.]+) (B|KiB|MiB|GiB) per trial instance x \d+ \+ ([0-9.]+) (B|KiB|MiB|GiB) shared", out)
    return {"trial_s": per_it / batch, "synapses": syn, "steps": steps,
            "instance_bytes": float(m.group(1)) * KIB[m.group(2)], "shared_bytes": float(m.group(3)) * KIB[m.group(4)]}


def exchange_bytes(neurons, ranks):
    if ranks == 1:
        return 0.0
    with tempfile.TemporaryDirectory() as tmp:
        js = os.path.join(tmp, "s.json")
        cmd = [a.plexus, "scale-test", MODEL, "--neurons", str(neurons), "--dry-run-ranks", str(ranks), "--steps", "200",
               "--json", js]
        r = subprocess.run(cmd, capture_output=True, text=True, env=ENV)
        if r.returncode:
            sys.exit(r.stdout + r.stderr)
        return json.load(open(js))["per_rank"]["bytes received per step"][0]


SPLITS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
if a.reuse and os.path.exists(a.reuse):
    meas = json.load(open(a.reuse))
else:
    meas = {}
    for name, scale, batch, neurons in (("cortex 800", 1, 8, 800), ("cortex 80 000", 100, 1, 80000)):
        m = train(scale, batch)
        m["exchange"] = {str(s): exchange_bytes(neurons, s) for s in SPLITS if s <= neurons // 10}
        meas[name] = m
        print(f"measured {name}: {m['trial_s']:.3f} s per trial, {m['synapses']} synapses", file=sys.stderr)
    if a.reuse:
        json.dump(meas, open(a.reuse, "w"), indent=1)

alpha, beta = a.alpha_us * 1e-6, a.beta_gbs * 1e9


def allgather(ranks, nbytes):
    return 0.0 if ranks <= 1 else alpha * math.ceil(math.log2(ranks)) + nbytes / beta


def best(m, cores, B):
    out = None
    for S_txt, xbytes in m["exchange"].items():
        S = int(S_txt)
        if cores % S:
            continue
        for N in (1, 2, 4, 8, 16, 32, 64):
            if (cores // S) % N:
                continue
            # On S > 1 ranks a rank's N instances step in lockstep with the other ranks' and are
            # exchanged one after another by one thread: N allgathers per step.
            t_trial = m["trial_s"] / S + m["steps"] * N * allgather(S, xbytes)
            G = cores // S // N
            if G > B or G * N > B:
                continue
            mem = (m["shared_bytes"] + N * m["instance_bytes"]) / S
            if mem > a.memory_gb * 1e9 * N:
                continue
            waves = math.ceil(B / (G * N))
            node = 4.0 * m["synapses"] / S
            reduce = allgather(G, (G - 1) * node) + G * m["synapses"] / S * 1e-9
            apply = m["synapses"] / S * 4e-9
            t = waves * t_trial + reduce + apply
            if out is None or t < out[0]:
                out = (t, G, S, N, waves, t_trial, reduce, mem)
    return out


rows = []
for name, m in meas.items():
    for C in a.cores:
        r = best(m, C, a.batch)
        rows.append((name, C, r))
head = (f"Batch {a.batch}; allgather alpha {a.alpha_us:g} us per stage, beta {a.beta_gbs:g} GB/s; "
        f"{a.memory_gb:g} GB per core")
if a.markdown:
    print(head + "\n")
    for name, m in meas.items():
        print(f"- {name}: {m['trial_s']:.3f} s per trial on one core ({m['steps']} steps), {m['synapses']:,} plastic "
              f"synapses, {m['instance_bytes'] / 2**20:.1f} MiB per trial instance, {m['shared_bytes'] / 2**20:.1f} MiB shared")
    print("\n| network | cores | layout: groups x ranks per group x trials per rank | trials per instance | "
          "s per trial | join gradients s | s per iteration | speed-up | memory per rank |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
for name, C, r in rows:
    base = next(x for x in rows if x[0] == name and x[1] == a.cores[0])[2][0]
    if r is None:
        print(f"| {name} | {C} | no layout fits | | | | | | |" if a.markdown else f"{name} {C}: no layout fits")
        continue
    t, G, S, N, waves, tt, red, mem = r
    if a.markdown:
        print(f"| {name} | {C} | {G} x {S} x {N} | {waves} | {tt:.3f} | {red:.4f} | {t:.2f} | {base / t:.0f}x | "
              f"{mem / 2**20:.0f} MiB |")
    else:
        print(f"{name:>14} {C:5d} cores: {G} groups x {S} ranks x {N} trials: {waves} trial(s) of {tt:.3f} s + "
              f"{red:.4f} s joining = {t:.2f} s per iteration ({base / t:.0f}x), {mem / 2**20:.0f} MiB per rank")
