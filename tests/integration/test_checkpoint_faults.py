"""Checkpoints under faults (issue 5): SIGUSR1 (forwarded by mpiexec to the ranks) and SIGTERM make a run
write a checkpoint at the next step boundary and exit 0 with a message saying how to resume; kill -9 while
a checkpoint is being written leaves the previous checkpoint usable. Each resumed run must end with the
same spikes, samples and weights as the uninterrupted run."""
import os
import signal
import subprocess
import time

from common import Checker, mpi_command, parse_args, result_digests, run

args = parse_args()
c = Checker()
w = args.work_dir
# Brunel's network scaled down to 10 000 cells and 10 M synapses: the weights alone make a checkpoint of
# about 40 MB, so that writing one takes long enough to be caught by kill -9.
brunel = [os.path.join(args.source_dir, "models/brunel_balanced.toml"), "--set", "run.duration_ms=400",
          "--set", "populations.E.size=8000", "--set", "populations.I.size=2000",
          "--set", "projections.EE.indegree=800", "--set", "projections.EI.indegree=800",
          "--set", "projections.IE.indegree=200", "--set", "projections.II.indegree=200",
          "--set", "record.samples.E.interval_ms=1.0"]

ref = os.path.join(w, "ref.h5")
run(mpi_command(args, 1, "run", *brunel, "-o", ref, "-q"))
expected = result_digests(ref)


def compare(name, out):
    got = result_digests(out)
    if got != expected:
        for k in sorted(set(got) | set(expected)):
            if got.get(k) != expected.get(k):
                print(f"  {name}: {k} differs")
    c.check(got == expected, f"{name}: the resumed result equals the uninterrupted run's")


def children(pid):
    """Process ids whose parent is `pid` (the ranks under mpiexec)."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return out


def wait_for(predicate, timeout, proc):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if predicate():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.002)
    return False


def checkpoints(ck):
    return sorted(d for d in os.listdir(ck) if d.startswith("ckpt-")) if os.path.isdir(ck) else []


# --- signals: checkpoint at the next step boundary, exit 0, resume -------------------------------------
for name, sig, ranks in (("usr1_mpiexec2", signal.SIGUSR1, 2), ("term_single", signal.SIGTERM, 0)):
    out = os.path.join(w, name + ".h5")
    ck = os.path.join(w, name + "_ck")
    cmd = ["run", *brunel, "-o", out, "--checkpoint-dir", ck, "--checkpoint-every", "50ms", "-q"]
    cmd = mpi_command(args, ranks, *cmd) if ranks else [args.plexus, *cmd]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Signal once the first periodic checkpoint exists, i.e. well inside the run.
    started = wait_for(lambda: len(checkpoints(ck)) >= 1, 120, p)
    c.check(started, f"{name}: the run wrote a periodic checkpoint")
    os.kill(p.pid, sig)
    stdout, stderr = p.communicate(timeout=300)
    c.check(p.returncode == 0, f"{name}: exit code 0 after the signal (got {p.returncode}; {stderr[-300:]})")
    c.check(("stopped on " + sig.name) in stdout and "resume with: plexus resume" in stdout,
            f"{name}: says it stopped on {sig.name} and how to resume")
    c.check(os.path.exists(out + ".partial") and not os.path.exists(out), f"{name}: the result file is unfinished")
    run(mpi_command(args, 2 if ranks == 0 else 1, "resume", ck, "-q"))
    compare(name, out)

# --- kill -9 while a checkpoint is being written -------------------------------------------------------
out = os.path.join(w, "kill.h5")
ck = os.path.join(w, "kill_ck")
p = subprocess.Popen([args.plexus, "run", *brunel, "-o", out, "--checkpoint-dir", ck, "--checkpoint-every", "20ms",
                      "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def writing():
    # A complete checkpoint exists and the next one's state file is being written.
    if not checkpoints(ck):
        return False
    return any(d.startswith(".tmp-ckpt-") and os.path.exists(os.path.join(ck, d, "state.h5")) for d in os.listdir(ck))


caught = wait_for(writing, 120, p)
if caught:
    os.kill(p.pid, signal.SIGKILL)
p.communicate(timeout=60)
c.check(caught, "kill -9 landed while a checkpoint was being written")
left = [d for d in os.listdir(ck) if d.startswith(".tmp-ckpt-")]
c.check(len(left) == 1, f"the interrupted write left its temporary directory ({left})")
before = checkpoints(ck)
c.check(len(before) >= 1, f"an earlier checkpoint is there ({before})")
r = run([args.plexus, "resume", ck, "-q"])
c.check(f"from {os.path.join(ck, before[-1])}" in r.stdout, "resume used the newest complete checkpoint")
compare("kill -9 during a write", out)
c.check(not [d for d in os.listdir(ck) if d.startswith(".tmp-ckpt-")], "the next checkpoint cleared the left-over")

# --- a damaged newest checkpoint: refused, and the message points to the one before it -------------------
small = [os.path.join(args.source_dir, "models/coba_benchmark.toml"), "--set", "run.duration_ms=100"]
out = os.path.join(w, "damaged.h5")
ck = os.path.join(w, "damaged_ck")
run([args.plexus, "run", *small, "-o", out, "--checkpoint-dir", ck, "--checkpoint-every", "20ms",
     "--stop-at-ms", "60", "-q"])
kept = checkpoints(ck)
c.check(len(kept) == 2, f"two checkpoints kept ({kept})")
manifest = os.path.join(ck, kept[-1], "manifest.txt")
with open(manifest, "r+b") as f:
    f.truncate(os.path.getsize(manifest) // 2)
r = run([args.plexus, "resume", ck, "-q"], expect=2)
c.check(f"plexus resume {os.path.join(ck, kept[0])}" in r.stderr,
        f"the refusal names the checkpoint before it: {r.stderr.strip()[:400]}")
r = run([args.plexus, "resume", os.path.join(ck, kept[0]), "-q"])
c.check(r.returncode == 0, "that older checkpoint resumes")

c.finish()
