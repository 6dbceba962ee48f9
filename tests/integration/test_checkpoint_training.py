"""Checkpoint and resume of a training run (issue 5, e-prop): a training run stopped after an
iteration and resumed on another number of ranks or threads appends to the same result file, which
then holds the same learning curve, validation, test accuracy, examples and initial and trained
weights, byte for byte, as the uninterrupted run's (chains 1 -> 2 -> 1 ranks and 4 -> 2 ranks x 2
threads); SIGUSR1 to a training run stops it at the next iteration with a checkpoint from which it
resumes to the same result; periodic checkpoints keep the newest K; a directory holding checkpoints
is refused for a new run."""
import os
import signal
import subprocess
import time

import h5py

from common import Checker, mpi_command, parse_args, run

args = parse_args()
c = Checker()
w = args.work_dir
model = os.path.join(args.source_dir, "models", "cortex_ei800_evidence.toml")
SETS = ["--set", "task.delay_ms=50", "--set", "train.iterations=6", "--set", "train.batch_size=2",
        "--set", "train.validation_trials=2", "--set", "train.validation_every=2", "--set", "train.test_trials=4",
        "--set", "train.target_accuracy=2", "--set", "train.clip_grad_norm=0.5"]
# Wall times and per-rank figures differ between runs by nature.
TIMING = {"training/seconds", "metadata/peak_rss_bytes", "metadata/learning_state_bytes",
          "metadata/learning_synapse_bytes", "metadata/learning_trace_bytes", "metadata/learning_neuron_bytes",
          "metadata/learning_source_bytes"}


def datasets(path):
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda n, o: out.__setitem__(n, o[()].tobytes()) if isinstance(o, h5py.Dataset) else None)
    return out


def same(path, ref, what):
    a, b = datasets(path), datasets(ref)
    keys = set(a) | set(b)
    bad = sorted(k for k in keys if k not in TIMING and a.get(k) != b.get(k))
    c.check(not bad, f"{what}: the same result as the uninterrupted run (differs: {bad[:5]})")
    c.check(len(keys) > 30, f"{what}: the comparison covers {len(keys)} datasets")


reference = os.path.join(w, "reference.h5")
run(mpi_command(args, 1, "train", model, "-o", reference, "-q", *SETS))

# 1 -> 2 -> 1 ranks.
out, ck = os.path.join(w, "chain1.h5"), os.path.join(w, "ck1")
r = run(mpi_command(args, 1, "train", model, "-o", out, "-q", *SETS, "--checkpoint-dir", ck, "--stop-at-iteration", "2"))
c.check("resume with: plexus resume" in r.stdout, "a stopped training run says how to resume")
c.check(os.path.exists(out + ".partial") and not os.path.exists(out), "a stopped run leaves NAME.h5.partial")
run(mpi_command(args, 2, "resume", ck, "-q", "--stop-at-iteration", "4"))
run(mpi_command(args, 1, "resume", ck, "-q"))
same(out, reference, "1 -> 2 -> 1 ranks")
r = run(mpi_command(args, 1, "resume", ck))
c.check("has finished" in r.stdout, "resuming a finished training run says so")

# 4 -> 2 ranks x 2 threads.
out, ck = os.path.join(w, "chain4.h5"), os.path.join(w, "ck4")
run(mpi_command(args, 4, "train", model, "-o", out, "-q", *SETS, "--checkpoint-dir", ck, "--stop-at-iteration", "3"))
run(mpi_command(args, 2, "resume", ck, "-q", "--threads", "2"))
same(out, reference, "4 -> 2 ranks x 2 threads")

# SIGUSR1: a checkpoint at the next iteration boundary, exit 0; then resumed to the same result.
out, ck = os.path.join(w, "signal.h5"), os.path.join(w, "cks")
cmd = [args.plexus, "train", model, "-o", out, *SETS, "--checkpoint-dir", ck]
p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
line = ""
while "iteration 1/6" not in line:
    line = p.stderr.readline()
    if not line and p.poll() is not None:
        break
p.send_signal(signal.SIGUSR1)
stdout, stderr = p.communicate(timeout=600)
c.check(p.returncode == 0, f"SIGUSR1: exit code 0 ({p.returncode}) {stderr[-300:]}")
c.check("stopped on SIGUSR1" in stdout, f"SIGUSR1: stopped with a checkpoint ({stdout.strip()[-200:]})")
run(mpi_command(args, 2, "resume", ck, "-q"))
same(out, reference, "SIGUSR1, then resumed on 2 ranks")

# Periodic checkpoints: every 2 iterations, the newest 2 kept, none after the last iteration.
out, ck = os.path.join(w, "every.h5"), os.path.join(w, "cke")
run(mpi_command(args, 2, "train", model, "-o", out, "-q", *SETS, "--checkpoint-dir", ck, "--checkpoint-every", "2it",
                "--checkpoint-keep", "2"))
kept = sorted(d for d in os.listdir(ck) if d.startswith("ckpt-"))
c.check(kept == ["ckpt-000000000002", "ckpt-000000000004"], f"checkpoints after iterations 2 and 4: {kept}")
c.check(os.path.exists(os.path.join(ck, "finished")), "a finished training run marks its checkpoint directory")
same(out, reference, "periodic checkpoints do not change the result")

# Refusals.
r = run(mpi_command(args, 1, "train", model, "-o", os.path.join(w, "again.h5"), *SETS, "--checkpoint-dir", ck), expect=2)
c.check("already holds checkpoints" in r.stderr, "a directory holding checkpoints is refused for a new run")
r = run(mpi_command(args, 1, "train", model, "-o", os.path.join(w, "bad.h5"), *SETS, "--checkpoint-dir",
                    os.path.join(w, "ckb"), "--checkpoint-every", "100ms"), expect=2)
c.check("between iterations" in r.stderr, "simulated-time intervals are refused for training")
# Reward-based e-prop (SPEC 4.3): nothing per synapse but the optimiser moments carries over between
# iterations, so a chain 1 -> 2 ranks x 2 threads gives the uninterrupted run's result too.
rmodel = os.path.join(args.source_dir, "models", "tmaze_reward.toml")
RSETS = ["--set", "train.iterations=4", "--set", "train.batch_size=2", "--set", "train.validation_trials=2",
         "--set", "train.validation_every=2", "--set", "train.test_trials=4", "--set", "train.entropy_coefficient=0.01"]
rref = os.path.join(w, "reward_reference.h5")
run(mpi_command(args, 1, "train", rmodel, "-o", rref, "-q", *RSETS))
out, ck = os.path.join(w, "reward_chain.h5"), os.path.join(w, "ckr")
run(mpi_command(args, 1, "train", rmodel, "-o", out, "-q", *RSETS, "--checkpoint-dir", ck, "--stop-at-iteration", "2"))
run(mpi_command(args, 2, "resume", ck, "-q", "--threads", "2"))
same(out, rref, "reward mode, 1 -> 2 ranks x 2 threads")

# ES-D-RTRL (SPEC 4.2): the same checkpoint arrays (Adam moments), its own traces rebuilt per trial.
ESETS = SETS + ["--set", "train.rule=es_d_rtrl", "--set", "train.iterations=4"]
eref = os.path.join(w, "es_reference.h5")
run(mpi_command(args, 1, "train", model, "-o", eref, "-q", *ESETS))
out, ck = os.path.join(w, "es_chain.h5"), os.path.join(w, "ckes")
run(mpi_command(args, 2, "train", model, "-o", out, "-q", *ESETS, "--checkpoint-dir", ck, "--stop-at-iteration", "2"))
run(mpi_command(args, 1, "resume", ck, "-q", "--threads", "2"))
same(out, eref, "ES-D-RTRL, 2 -> 1 rank x 2 threads")
c.finish()
