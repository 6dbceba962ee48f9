"""FORCE through the command line: `plexus train` with [train] rule = "force" on 2 ranks writes a
complete result file (traces, metrics, rates, encoders, decoders, rasters before and after), prints
progress and metrics, `plexus inspect` and `plexus-plot` read it, `plexus run` of the same model is
the untrained first phase spike for spike, and bad settings are user errors (exit 2, key named)."""
import os
import subprocess

import h5py
import numpy as np

from common import Checker, mpi_command, parse_args, run

args = parse_args()
c = Checker()
model = os.path.join(args.source_dir, "models", "force_lif_sine.toml")
# 300 neurons (weight std G / (p sqrt N) for G = 0.04), 50 ms before, 200 ms of, 100 ms after training.
network = ["--set", "populations.reservoir.size=300", "--set", "projections.static.weight.std=0.0230940108"]
small = network + ["--set", "train.before_ms=50", "--set", "train.train_ms=200", "--set", "train.test_ms=100",
                   "--set", "train.window_ms=50", "--set", "train.raster_ms=25"]
out = os.path.join(args.work_dir, "force.h5")
r = run(mpi_command(args, 2, "train", model, "-o", out, *small))
c.check("[plexus] t = 0.05 / 0.35 s (before training)" in r.stderr, "a progress line at the end of each phase")
c.check("[plexus] t = 0.25 / 0.35 s (training)" in r.stderr, "progress: training")
for needle in ("FORCE training 'force_lif_sine', 300 neurons; 2 rank(s)", "80 RLS updates",
               "RMS error", "test windows of 50 ms", "worst window: correlation", "rates:"):
    c.check(needle in r.stdout, f"summary mentions {needle!r}")

with h5py.File(out, "r") as f:
    m, g = f["metadata"], f["force"]
    c.check(m.attrs["rule"] == "force" and m.attrs["ranks"] == 2, "metadata: rule and ranks")
    c.check("wall_time_s" in m.attrs and m["cpu_seconds"].shape == (2,), "metadata: wall time, CPU per rank")
    c.check(g["trace/output"].shape == (350, 1) and g["trace/target"].shape == (350, 1), "traces every ms")
    t = g["trace/times_ms"][()]
    c.check(t[0] == 1.0 and t[-1] == 350.0, "trace times are the ends of the 1-ms intervals")
    target = g["trace/target"][:, 0]
    c.check(np.allclose(target, np.sin(2 * np.pi * 5.0 * t * 1e-3), atol=1e-12), "the target is the 5 Hz sine")
    out_trace = g["trace/output"][:, 0]
    c.check(np.all(out_trace[:50] == 0.0) and np.any(out_trace[50:] != 0.0),
            "the output is zero before training (decoders zero) and not after")
    c.check(g["decoders"].shape == (300, 1) and g["encoders"].shape == (300, 1), "encoders and decoders")
    enc = g["encoders"][:, 0]
    c.check(np.all(np.abs(enc) <= 10.0) and enc.std() > 3.0, "encoders are Q U(-1, 1) with Q = 10")
    c.check(g["metrics/correlation"].shape == (2, 1) and g["metrics/window_start_ms"][()].tolist() == [250.0, 300.0],
            "two 50-ms test windows")
    c.check(g["rates/per_neuron_hz"].shape == (300, 3), "rates per neuron and phase")
    rates = g["rates/mean_hz"][()]
    c.check(np.all(rates > 5.0), f"the reservoir is active in every phase ({rates})")
    window = g["spikes/before"].attrs
    c.check(window["start_ms"] == 25.0 and window["stop_ms"] == 50.0, "raster window before training")
    before = g["spikes/before/reservoir"]
    tb, ib = before["timestamps"][()], before["node_ids"][()]
    c.check(len(tb) > 50 and tb.min() >= 25.0 and tb.max() < 50.0, f"raster before training: {len(tb)} spikes")
    c.check(g["spikes/after/reservoir/timestamps"].shape[0] > 50, "raster after training")

# `plexus run` of the same model is the phase before training: no feedback while the decoders are zero.
ran = os.path.join(args.work_dir, "run.h5")
run(mpi_command(args, 2, "run", model, "-o", ran, "-q", "--set", "run.duration_ms=50", *network))
with h5py.File(ran, "r") as f:
    t, i = f["spikes/reservoir/timestamps"][()], f["spikes/reservoir/node_ids"][()]
    keep = t >= 25.0
    c.check(np.array_equal(t[keep], tb) and np.array_equal(i[keep], ib),
            "plexus run gives the same spikes as the untrained phase of plexus train")

r = run([args.plexus, "inspect", out])
c.check("/force/trace/output" in r.stdout and "force_lif_sine" in r.stdout, "inspect lists the FORCE datasets")
plot = os.path.join(os.path.dirname(args.plexus), "plexus-plot")
png = os.path.join(args.work_dir, "force.png")
p = subprocess.run([plot, out, "-o", png], capture_output=True, text=True)
c.check(p.returncode == 0, f"plexus-plot exit code {p.returncode}: {p.stderr[-500:]}")
c.check(os.path.exists(png) and os.path.getsize(png) > 30000, "a FORCE figure was written")

# User errors: exit code 2, the key named, nothing written (one process; 2 ranks agree on errors as
# for every other model, tests/integration/test_cli_errors.py).
bad = os.path.join(args.work_dir, "bad.h5")
for sets, needle in ((["train.rls_every_steps=0"], "train.rls_every_steps"),
                     (["train.lambda=2"], "train.lambda"),
                     (["task.kind=\"evidence\""], "kind = \"signal\""),
                     (["train.test_ms=10.01"], "train.test_ms"),
                     (["populations.reservoir.params.rate_unit=\"MHz\""], "rate_unit")):
    r = run([args.plexus, "train", model, "-o", bad, "-q", *[x for s in sets for x in ("--set", s)]], expect=2)
    c.check(needle in r.stderr, f"{sets}: error names {needle!r} ({r.stderr.strip()[:200]})")
    c.check(not os.path.exists(bad) and not os.path.exists(bad + ".partial"), f"{sets}: nothing written")
c.finish()
