"""Runs own their files. A run id (random, kept across resumes) is written into the result file and the
checkpoints:
- a second run with the same output name refuses while the first can still be resumed, unless given
  --replace; the first's resume then refuses the replaced file instead of mixing both runs;
- a foreign .partial copied in place of a run's own is refused by resume, nothing appended;
- while a run writes NAME.h5.partial, NAME.h5.partial.lock names the owner: another run or resume is
  refused with the owner's process and host, and a lock left by a process that is gone is taken over.
(The lock cases use a lock file written by the test, with the pid of a live or of a finished process:
no race with a running simulation.)"""
import os
import shutil
import socket
import subprocess
import time

import h5py

from common import Checker, mpi_command, parse_args, run

args = parse_args()
c = Checker()
w = args.work_dir
model = os.path.join(args.source_dir, "models/coba_benchmark.toml")
short = ["--set", "run.duration_ms=100"]


def start(out, ck, *extra):
    return run(mpi_command(args, 2, "run", model, *short, "-o", out, "--checkpoint-dir", ck,
                           "--checkpoint-every", "20ms", "--stop-at-ms", "60", "-q", *extra))


# --- a second run on the output of a resumable one ---------------------------------------------------
out, ck = os.path.join(w, "a.h5"), os.path.join(w, "a_ck")
start(out, ck)
with h5py.File(out + ".partial", "r") as f:
    first_id = f["metadata"].attrs["run_id"]
r = run(mpi_command(args, 1, "run", model, *short, "-o", out, "-q"), expect=2)
c.check("can still be resumed" in r.stderr and f"plexus resume {ck}" in r.stderr,
        f"a second run on a resumable run's output is refused: {r.stderr.strip()[:300]}")
run(mpi_command(args, 1, "run", model, *short, "--set", "network.seed=9", "-o", out, "-q", "--replace"))
with h5py.File(out, "r") as f:
    c.check(f["metadata"].attrs["run_id"] != first_id, "--replace: a new run with its own id")
r = run(mpi_command(args, 2, "resume", ck, "-q"), expect=2)
c.check("is the result of another run" in r.stderr,
        f"the first run's resume refuses the replaced output: {r.stderr.strip()[:300]}")

# --- a foreign .partial copied in place --------------------------------------------------------------
out_b, ck_b = os.path.join(w, "b.h5"), os.path.join(w, "b_ck")
out_c, ck_c = os.path.join(w, "c.h5"), os.path.join(w, "c_ck")
start(out_b, ck_b)
start(out_c, ck_c, "--set", "network.seed=5")
shutil.copy(out_c + ".partial", out_b + ".partial")
before = open(out_b + ".partial", "rb").read()
r = run(mpi_command(args, 2, "resume", ck_b, "-q"), expect=2)
c.check("belongs to another run" in r.stderr, f"a foreign .partial is refused: {r.stderr.strip()[:300]}")
c.check(open(out_b + ".partial", "rb").read() == before and not os.path.exists(out_b), "nothing was appended")

# --- the lock: a live owner is named; a dead one's lock is taken over ---------------------------------
lock = out_c + ".partial.lock"
sleeper = subprocess.Popen(["sleep", "600"])
try:
    with open(lock, "w") as f:
        f.write(f"{socket.gethostname()} {sleeper.pid} {int(time.time())}\n")
    r = run(mpi_command(args, 2, "resume", ck_c, "-q"), expect=2)
    c.check(f"being written by process {sleeper.pid} on {socket.gethostname()}" in r.stderr,
            f"a resume while another process holds the lock names it: {r.stderr.strip()[:300]}")
    r = run(mpi_command(args, 1, "run", model, *short, "-o", out_c, "-q", "--replace"), expect=2)
    c.check(f"process {sleeper.pid}" in r.stderr, "so is a new run on that output, even with --replace")
finally:
    sleeper.kill()
    sleeper.wait()
with open(lock, "w") as f:
    f.write(f"{socket.gethostname()} {sleeper.pid} {int(time.time())}\n")  # its process is gone now
run(mpi_command(args, 2, "resume", ck_c, "-q"))
c.check(os.path.exists(out_c) and not os.path.exists(lock), "a stale lock is taken over, and removed at the end")
with h5py.File(out_c, "r") as f:
    c.check(len(f["spikes/E/timestamps"]) > 0 and "config_hash" in f["metadata"].attrs,
            "the resumed run finished, with its run id and config hash")
# The lock goes beside the output, whose directory a run makes (results/ by default).
nested = os.path.join(w, "not", "there", "yet.h5")
run(mpi_command(args, 2, "run", model, *short, "-o", nested, "-q"))
c.check(os.path.exists(nested) and not os.path.exists(nested + ".partial.lock"),
        "an output in a directory that does not exist yet: made, written, the lock gone")
c.finish()
