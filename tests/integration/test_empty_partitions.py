"""Ranks that own nothing: networks with a 0-synapse projection (fixed_probability, p = 0) and a
1-synapse projection (from a file), trained by every gradient rule (e-prop, D-RTRL, ES-D-RTRL,
reward-based e-prop) on 1, 2 and 4 ranks, so that most ranks hold no synapse of one projection and
no synapse at all of the other; and a plain run whose 1-neuron population and 1-synapse projection
leave 3 of 4 ranks empty, recorded and checkpointed, resumed on another rank count. Each run must
finish with exit 0 and give the same numbers as on 1 rank (e-prop and D-RTRL used to crash with
SIGSEGV here: a row without synapses was taken for a dense row and its first source read)."""
import os
import subprocess

import h5py
import numpy as np

from common import Checker, mpi_command, parse_args, run

args = parse_args()
c = Checker()
one = os.path.join(args.work_dir, "one_synapse.h5")
with h5py.File(one, "w") as f:
    f["source"] = np.array([0], dtype=np.uint64)
    f["target"] = np.array([0], dtype=np.uint64)

SHORT = ["train.iterations=3", "train.batch_size=2", "train.validation_trials=2", "train.test_trials=2",
         "projections.rec_rec.rule=fixed_probability", "projections.rec_rec.p=0",
         "projections.in_rec.rule=from_file", f"projections.in_rec.file={one}"]
CASES = [("eprop", "tmaze_mouse100", []), ("d_rtrl", "tmaze_mouse100", ["train.rule=d_rtrl"]),
         ("es_d_rtrl", "tmaze_mouse100", ["train.rule=es_d_rtrl"]), ("reward", "tmaze_reward", [])]


def numbers(path):
    with h5py.File(path, "r") as f:
        out = {"loss": f["training/loss"][()]}
        for p in f["weights"]:
            out[p] = f[f"weights/{p}/values"][()]
    return out


for name, model, extra in CASES:
    first = None
    for ranks in (1, 2, 4):
        out = os.path.join(args.work_dir, f"{name}_{ranks}.h5")
        sets = [x for s in SHORT + extra for x in ("--set", s)]
        r = subprocess.run(mpi_command(args, ranks, "train", os.path.join(args.source_dir, "models", model + ".toml"),
                                       "-q", "-o", out, *sets), capture_output=True, text=True)
        c.check(r.returncode == 0, f"{name} on {ranks} rank(s): exit {r.returncode} {r.stderr.strip()[-300:]}")
        if r.returncode != 0:
            continue
        got = numbers(out)
        c.check(got["in_rec"].shape[-1] == 1 and got.get("rec_rec", np.zeros(0)).size == 0,
                f"{name} on {ranks} rank(s): 1 synapse in in_rec, none in rec_rec")
        if first is None:
            first = got
        else:
            same = all(np.array_equal(first[k], got[k]) for k in first)
            c.check(same, f"{name} on {ranks} rank(s): losses and weights identical to 1 rank")

# A plain run: a 1-neuron population and a 1-synapse projection on 4 ranks, recorded and checkpointed,
# resumed on 2 ranks, against the same run on 1 rank.
MODEL = f"""
[model]
name = "nearly_empty"
[run]
duration_ms = 40.0
dt_ms = 0.1
[network]
seed = 4
[populations.drive]
model = "poisson_source"
size = 3
params = {{ rate_hz = 400.0 }}
[populations.lone]
model = "lif_coba"
size = 1
[projections.drive_lone]
source = "drive"
target = "lone"
rule = "from_file"
file = "{one}"
receptor = "exc"
weight = 20.0
delay_ms = 1.0
[record]
spikes = ["drive", "lone"]
[record.samples.lone]
variables = ["V_m"]
interval_ms = 1.0
"""
model = os.path.join(args.work_dir, "nearly_empty.toml")
with open(model, "w") as f:
    f.write(MODEL)
whole = os.path.join(args.work_dir, "whole.h5")
run(mpi_command(args, 1, "run", model, "-q", "-o", whole))
ck = os.path.join(args.work_dir, "ck")
parts = os.path.join(args.work_dir, "parts.h5")
r = run(mpi_command(args, 4, "run", model, "-q", "-o", parts, "--checkpoint-dir", ck, "--stop-at-ms", "20"))
r = run(mpi_command(args, 2, "resume", ck, "-q"))
with h5py.File(whole, "r") as a, h5py.File(parts, "r") as b:
    c.check(len(a["spikes/lone/timestamps"]) > 0, "the lone neuron fires (its one synapse delivers)")
    for d in ("spikes/drive/timestamps", "spikes/lone/timestamps", "samples/lone/V_m"):
        c.check(d in a and d in b and np.array_equal(a[d][()], b[d][()]),
                f"plain run, 4 ranks with a checkpoint, resumed on 2: {d} identical to 1 rank")
c.finish()
