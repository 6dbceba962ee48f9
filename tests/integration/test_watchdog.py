"""The MPI progress watchdog: on 2 ranks, rank 1 is stopped (SIGSTOP) once the run is under way; rank 0,
left waiting in a collective, ends the job after the --watchdog limit with a message naming itself, the
collective and the step, exit non-zero, and the stopped rank is gone too. A bad --watchdog value is a
usage error; 'off' runs as before."""
import os
import signal
import subprocess
import time

from common import Checker, mpi_command, parse_args, run

args = parse_args()
c = Checker()
w = args.work_dir
model = os.path.join(args.source_dir, "models/coba_benchmark.toml")


def descendants(root):
    """Process ids below `root` (from /proc), with their environment's MPI rank."""
    parent = {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/stat") as f:
                    parent[int(p)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                pass
    out = {}
    for p in parent:
        q = p
        while q in parent and q != root:
            q = parent[q]
        if q == root and p != root:
            try:
                env = open(f"/proc/{p}/environ", "rb").read().split(b"\0")
                cmd = open(f"/proc/{p}/cmdline", "rb").read()
            except OSError:
                continue
            ranks = [e.split(b"=", 1)[1] for e in env if e.startswith(b"OMPI_COMM_WORLD_RANK=")]
            if ranks and os.path.basename(args.plexus).encode() in cmd:
                out[p] = int(ranks[0])
    return out


out = os.path.join(w, "wd.h5")
job = subprocess.Popen(mpi_command(args, 2, "run", model, "--set", "run.duration_ms=10000000", "-q", "-o", out,
                                   "--watchdog", "3s"),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
# The event to wait for: the result file exists, so both ranks have built the network and are stepping.
while not os.path.exists(out + ".partial") and job.poll() is None:
    time.sleep(0.2)
ranks = descendants(job.pid)
stopped = [p for p, r in ranks.items() if r == 1]
c.check(len(stopped) == 1, f"found rank 1 of the job ({ranks})")
for p in stopped:
    os.kill(p, signal.SIGSTOP)
try:
    stdout, stderr = job.communicate(timeout=900)
    hung = False
except subprocess.TimeoutExpired:
    hung = True
    job.kill()
    stdout, stderr = job.communicate()
c.check(not hung, "the job ended instead of hanging on the stopped rank")
c.check(job.returncode not in (0, None), f"it ended with a non-zero exit ({job.returncode})")
c.check("watchdog: rank 0 has waited" in stderr and "at step" in stderr and "--watchdog" in stderr,
        f"rank 0 named itself, the collective and the step ({stderr.strip()[-600:]})")
left = [p for p in stopped if os.path.exists(f"/proc/{p}") and open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"]
c.check(not left, f"the stopped rank was ended with the job ({left})")
for p in left:
    os.kill(p, signal.SIGKILL)

r = run(mpi_command(args, 2, "run", model, "--set", "run.duration_ms=10", "-q", "-o", os.path.join(w, "x.h5"),
                    "--watchdog", "5 parsecs"), expect=2)
c.check("--watchdog '5 parsecs'" in r.stderr, f"a bad --watchdog value is refused ({r.stderr.strip()[-300:]})")
run(mpi_command(args, 2, "run", model, "--set", "run.duration_ms=10", "-q", "-o", os.path.join(w, "off.h5"),
                "--watchdog", "off"))
c.check(os.path.exists(os.path.join(w, "off.h5")), "--watchdog off runs as before")
c.finish()
