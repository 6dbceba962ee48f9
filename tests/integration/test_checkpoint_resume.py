"""Checkpoint and resume (issue 5): a run stopped at a checkpoint and resumed on another number of ranks
or threads appends to the same result file, which then holds byte-identical spikes, samples and weights
to the uninterrupted run's (1 -> 2, 2 -> 1 x 2 threads, 4 -> 2 x 2 threads, and a chain 2 -> 4 -> 1).
A truncated, corrupted or mismatched checkpoint is refused with exit code 2."""
import os
import re
import shutil

from common import Checker, mpi_command, parse_args, result_digests, run

args = parse_args()
c = Checker()
w = args.work_dir

# Delays of up to 3 ms (30 slots in flight), Poisson sources with delay 0, a Poisson drive, a current
# step that starts after some of the stops, samples and weight snapshots; the flush interval is not a
# divisor of the stop times.
model = os.path.join(w, "net.toml")
with open(model, "w") as f:
    f.write("""
[run]
duration_ms = 200.0
dt_ms = 0.1
[network]
seed = 21
[populations.src]
model = "poisson_source"
size = 100
params = { rate_hz = 20.0 }
[populations.E]
model = "lif_coba"
size = 1600
dale = "excitatory"
params = { I_e_pA = 200.0 }
init = { V_m = { dist = "normal", mean = -55.0, std = 5.0 } }
[populations.I]
model = "lif_coba"
size = 400
dale = "inhibitory"
params = { I_e_pA = 200.0 }
init = { V_m = { dist = "normal", mean = -55.0, std = 5.0 } }
[projections.sE]
source = "src"
target = "E"
rule = "fixed_probability"
p = 0.05
weight = 2.0
receptor = "exc"
delay_ms = { dist = "uniform", low = 0.0, high = 1.0 }
[projections.EE]
source = "E"
target = "E"
rule = "fixed_probability"
p = 0.04
weight = 3.0
delay_ms = { dist = "uniform", low = 0.1, high = 3.0 }
[projections.EI]
source = "E"
target = "I"
rule = "fixed_probability"
p = 0.04
weight = 3.0
delay_ms = 0.5
[projections.IE]
source = "I"
target = "E"
rule = "fixed_probability"
p = 0.04
weight = 40.0
delay_ms = { dist = "uniform", low = 0.1, high = 2.0 }
[projections.II]
source = "I"
target = "I"
rule = "fixed_probability"
p = 0.04
weight = 40.0
delay_ms = 0.1
[inputs.drive]
type = "poisson"
target = "I"
rate_hz = 500.0
weight = 1.0
receptor = "exc"
[inputs.step]
type = "current"
target = "E"
node_ids = [0, 1, 2, 3, 4, 5, 6, 7]
amplitude = 150.0
start_ms = 100.0
stop_ms = 160.0
[record]
flush_interval_ms = 37.0
[record.samples.E]
variables = ["V_m", "g_e", "g_i"]
node_ids = [0, 1, 2, 3, 900, 1599]
interval_ms = 0.3
[record.samples.I]
variables = ["V_m"]
interval_ms = 0.7
[record.weights.EE]
times_ms = [0.0, 120.0, 200.0]
""")

ref = os.path.join(w, "ref.h5")
run(mpi_command(args, 1, "run", model, "-o", ref, "-q"))
expected = result_digests(ref)
n_spikes = sum(shape[0] for name, (_, shape) in expected.items() if name.endswith("node_ids") and "spikes" in name)
c.check(n_spikes > 3000, f"the network is active ({n_spikes} spikes)")
c.check(any(k.startswith("weights/EE") for k in expected), "weights are recorded")


def compare(name, out):
    got = result_digests(out)
    same = got == expected
    if not same:
        for k in sorted(set(got) | set(expected)):
            if got.get(k) != expected.get(k):
                print(f"  {name}: {k} differs: {got.get(k)} vs {expected.get(k)}")
    c.check(same, f"{name}: the resumed result equals the uninterrupted run's")


# (ranks, threads, stop at ms) for the first run, then for each resume; the last resume runs to the end.
chains = {
    "1to2": [(1, 1, 90.0), (2, 1, None)],
    "2to1x2": [(2, 1, 130.0), (1, 2, None)],
    "4to2x2": [(4, 1, 60.0), (2, 2, None)],
    "2to4to1": [(2, 2, 40.3), (4, 1, 150.0), (1, 1, None)],
}
for name, links in chains.items():
    out = os.path.join(w, name + ".h5")
    ck = os.path.join(w, name + "_ck")
    for i, (ranks, threads, stop) in enumerate(links):
        cmd = (["run", model, "-o", out, "--checkpoint-dir", ck] if i == 0 else ["resume", ck])
        cmd += ["-q", "--threads", str(threads)]
        if stop is not None:
            cmd += ["--stop-at-ms", str(stop)]
        r = run(mpi_command(args, ranks, *cmd))
        if stop is not None:
            c.check("resume with: plexus resume" in r.stdout, f"{name}: link {i} says how to resume")
            c.check(os.path.exists(out + ".partial") and not os.path.exists(out),
                    f"{name}: link {i} leaves the result file unfinished")
        else:
            c.check(os.path.exists(out) and not os.path.exists(out + ".partial"), f"{name}: the result is committed")
    compare(name, out)
    c.check(os.path.exists(os.path.join(ck, "finished")), f"{name}: the checkpoint directory is marked finished")

# Resuming a finished run does nothing, successfully.
r = run(mpi_command(args, 1, "resume", os.path.join(w, "1to2_ck")))
c.check("has finished" in r.stdout, "resume of a finished run says so")

# --- refusals: exit code 2 and a clear message -------------------------------------------------------
base_out = os.path.join(w, "faults.h5")
base_ck = os.path.join(w, "faults_ck")
run(mpi_command(args, 2, "run", model, "-o", base_out, "--checkpoint-dir", base_ck, "--checkpoint-every", "50ms",
                "--stop-at-ms", "160", "-q"))
ckpts = sorted(d for d in os.listdir(base_ck) if d.startswith("ckpt-"))
c.check(ckpts == ["ckpt-000000001500", "ckpt-000000001600"], f"the newest two checkpoints are kept ({ckpts})")

fault_no = 0


def refused(what, mutate, expect_words):
    """Copies the stopped run, damages its newest checkpoint with `mutate`, and checks that resume fails
    with exit code 2 and a message containing one of `expect_words`."""
    global fault_no
    fault_no += 1
    ck = os.path.join(w, f"fault{fault_no}_ck")
    out = os.path.join(w, f"fault{fault_no}.h5")
    shutil.copytree(base_ck, ck)
    shutil.copy(base_out + ".partial", out + ".partial")
    newest = os.path.join(ck, ckpts[-1])
    mutate(newest, ck)
    r = run(mpi_command(args, 2, "resume", newest, "-o", out, "-q"), expect=2)
    msg = r.stderr.lower()
    c.check(any(x in msg for x in expect_words), f"{what}: refused with a clear message ({r.stderr.strip()[:200]})")


def flip(path, where):
    with open(path, "r+b") as f:
        size = f.seek(0, 2)
        f.seek(int(size * where))
        b = f.read(1)
        f.seek(int(size * where))
        f.write(bytes([b[0] ^ 0x55]))


def truncate(path, fraction):
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(int(size * fraction))


refused("corrupted state file", lambda p, ck: flip(os.path.join(p, "state.h5"), 0.6), ["damaged", "checksum"])
refused("truncated state file", lambda p, ck: truncate(os.path.join(p, "state.h5"), 0.5), ["truncated"])
refused("truncated manifest", lambda p, ck: truncate(os.path.join(p, "manifest.txt"), 0.7), ["truncated"])
refused("corrupted manifest", lambda p, ck: flip(os.path.join(p, "manifest.txt"), 0.5), ["damaged", "checksum"])
refused("state file of another checkpoint",
        lambda p, ck: shutil.copy(os.path.join(ck, ckpts[0], "state.h5"), os.path.join(p, "state.h5")),
        ["mismatched", "truncated"])


def other_format(p, ck):
    m = os.path.join(p, "manifest.txt")
    text = open(m, "rb").read()
    open(m, "wb").write(re.sub(rb"format [0-9]+,", b"format 99,", text, count=1))


refused("another format version", other_format, ["format version"])

# A new run into a directory that holds checkpoints would prune them: refused.
r = run(mpi_command(args, 1, "run", model, "-o", os.path.join(w, "x.h5"), "--checkpoint-dir", base_ck, "-q"), expect=2)
c.check("already holds checkpoints" in r.stderr, "run into a used checkpoint directory is refused")
r = run(mpi_command(args, 1, "run", model, "--checkpoint-dir", os.path.join(w, "y"), "--checkpoint-every", "5 parsecs"),
        expect=2)
c.check("--checkpoint-every" in r.stderr, "a bad --checkpoint-every is refused")
r = run(mpi_command(args, 1, "resume", os.path.join(w, "nothing-here")), expect=2)
c.check("checkpoint" in r.stderr, "resume without a checkpoint is refused")
r = run(mpi_command(args, 1, "run", model, "-o", os.path.join(w, "z.h5"), "--checkpoint-dir", os.path.join(w, "z"),
                    "--stop-at-iteration", "3"), expect=2)
c.check("--stop-at-ms" in r.stderr, "--stop-at-iteration is refused for a run stepped in simulated time")

# The undamaged copy still resumes to the right result (the refusals above worked on copies).
run(mpi_command(args, 1, "resume", base_ck, "-q"))
compare("after refusals", base_out)

c.finish()
