"""Checkpoints of every run kind (the run shell, train/shell.hpp): STDP (plain run with plastic
synapses), FORCE, tempotron and equilibrium runs stopped at a checkpoint on 2 ranks and resumed on 1
(and the reverse, with 2 threads) end with result files whose datasets equal an uninterrupted run's.
Timing datasets differ between any two runs and are left out."""
import os

from common import Checker, mpi_command, parse_args, run

import hashlib

import h5py

args = parse_args()
c = Checker()
w = args.work_dir
models = os.path.join(args.source_dir, "models")
TIMING = {"training/seconds"}


def digests(path):
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and not name.startswith("metadata") and name not in TIMING:
                out[name] = (hashlib.sha256(obj[()].tobytes()).hexdigest(), obj.shape)
        f.visititems(visit)
    return out


def sets(*pairs):
    return [x for p in pairs for x in ("--set", p)]


KINDS = {
    # STDP: 1000 Poisson inputs onto one neuron; weight snapshots and flushes inside the run.
    "stdp": ("run", os.path.join(models, "stdp_song_abbott.toml"),
             sets("run.duration_ms=1000", "record.flush_interval_ms=150", "record.weights.stdp.interval_ms=200"),
             ["--stop-at-ms", "437.3"]),
    # FORCE: stopped inside the training phase, with an RLS update in flight.
    "force": ("train", os.path.join(models, "force_lif_sine.toml"),
              sets("train.before_ms=100", "train.train_ms=300", "train.test_ms=200", "train.window_ms=100",
                   "train.max_lag_ms=20", "train.raster_ms=50"),
              ["--stop-at-ms", "252.5"]),
    # Tempotron: 8 learners, stopped after the first chunk.
    "tempotron": ("train", os.path.join(models, "tempotron_capacity.toml"),
                  sets("train.loads=[0.2, 0.4]", "train.repeats=4", "train.epochs=30"),
                  ["--stop-at-iteration", "1"]),
    # Equilibrium: 2 epochs of 6 batches, stopped inside the first epoch.
    "equilibrium": ("train", os.path.join(models, "fashion_plasticity.toml"),
                    sets("train.hidden=30", "train.epochs=2", "task.train_samples=60", "task.validation_samples=20",
                         "task.test_samples=30", "train.batch_size=10"),
                    ["--stop-at-iteration", "4"]),
}

for name, (command, model, extra, stop) in KINDS.items():
    ref = os.path.join(w, f"{name}-ref.h5")
    run(mpi_command(args, 1, command, model, "-o", ref, "-q", *extra))
    expected = digests(ref)
    c.check(len(expected) > 3, f"{name}: the reference run wrote datasets ({len(expected)})")
    for first, second, threads in [(2, 1, 1), (1, 2, 2)]:
        tag = f"{name} {first} -> {second} rank(s) x {threads} thread(s)"
        out, ck = os.path.join(w, f"{name}-{first}{second}.h5"), os.path.join(w, f"{name}-ck{first}{second}")
        r = run(mpi_command(args, first, command, model, "-o", out, "-q", *extra, "--checkpoint-dir", ck, *stop))
        c.check("resume with: plexus resume" in r.stdout, f"{tag}: stopped at a checkpoint ({r.stdout.strip()[-200:]})")
        c.check(os.path.exists(out + ".partial") and not os.path.exists(out), f"{tag}: the result is still partial")
        run(mpi_command(args, second, "resume", ck, "-q", "--threads", str(threads)))
        c.check(os.path.exists(out), f"{tag}: the resumed run finished the result file")
        got = digests(out)
        diff = sorted(k for k in set(expected) | set(got) if expected.get(k) != got.get(k))
        c.check(not diff, f"{tag}: datasets equal the uninterrupted run's ({diff[:6]})")
        c.check(os.path.exists(os.path.join(ck, "finished")), f"{tag}: the checkpoint directory is marked finished")

c.finish()
