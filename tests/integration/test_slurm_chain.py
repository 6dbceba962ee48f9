"""Slurm job chain against a real single-node Slurm (issue 5): cluster/local_slurm.sh brings up munged,
slurmctld and slurmd; cluster/submit_chain.sh submits a 2-task chain whose 2-minute time limit, with
--signal=B:USR1@60, stops the run at least once (checkpoint at a step boundary, exit 0); the next link
resumes from the newest checkpoint (srun --mpi=pmix), and the final result file must hold the same
spikes and samples, byte for byte, as an uninterrupted run. Takes a few minutes (CTest label `long`)."""
import os
import re
import subprocess
import sys
import time

from common import Checker, mpi_command, parse_args, result_digests, run

args = parse_args()
c = Checker()
w = args.work_dir
cluster = os.path.join(args.source_dir, "cluster")

# Brunel's network at 10 000 cells, 10 M synapses.
model = [os.path.join(args.source_dir, "models/brunel_balanced.toml"),
         "--set", "populations.E.size=8000", "--set", "populations.I.size=2000",
         "--set", "projections.EE.indegree=800", "--set", "projections.EI.indegree=800",
         "--set", "projections.IE.indegree=200", "--set", "projections.II.indegree=200",
         "--set", "record.samples.E.interval_ms=1.0"]

# The run must outlast the first link's signal (30 to 60 s after the link starts) whatever the load
# of the machine: the uninterrupted reference run is made longer until its stepping takes 90 s (its
# own wall-clock figure, without start-up), and the chain runs right after it at about the same speed.
ref = os.path.join(w, "ref.h5")
duration_ms = 1000.0
for attempt in range(4):
    r = run(mpi_command(args, 2, "run", *model, "--set", f"run.duration_ms={duration_ms}", "-o", ref, "-q"))
    m = re.search(r"simulated [0-9.]+ ms in ([0-9.]+) s wall", r.stdout)
    wall = float(m.group(1)) if m else 0.0
    print(f"uninterrupted run of {duration_ms} ms: {wall:.0f} s of stepping")
    if wall >= 90.0 or attempt == 3:
        break
    duration_ms = round(duration_ms * min(max(110.0 / max(wall, 1.0), 1.3), 20.0) / 10.0) * 10.0
c.check(wall >= 90.0, f"the reference run takes long enough to need a time-limit stop ({wall:.0f} s)")
model += ["--set", f"run.duration_ms={duration_ms}"]

up = subprocess.run([os.path.join(cluster, "local_slurm.sh"), "up"], capture_output=True, text=True)
if up.returncode != 0:
    print(up.stdout, up.stderr)
    print("FAILED: local Slurm did not come up")
    sys.exit(1)
env = dict(os.environ)
for part in up.stdout.strip().split()[1:]:
    k, v = part.split("=", 1)
    env[k] = v
env["PATH"] = env.get("PATH", "") + ":/usr/sbin"
slurm_dir = env["PLEXUS_LOCAL_SLURM"]
try:
    out = os.path.join(w, "chain.h5")
    ck = os.path.join(w, "chain_ck")
    env["PLEXUS_BIN"] = args.plexus
    sub = subprocess.run([os.path.join(cluster, "submit_chain.sh"), "--links", "10", "--time", "2", "--lead", "60",
                          "--dir", ck, "--ntasks", "2", "--cpus-per-task", "1", "--", "run", *model, "-o", out, "-q"],
                         capture_output=True, text=True, env=env, cwd=w)
    print(sub.stdout, sub.stderr)
    c.check(sub.returncode == 0, "the chain was submitted")
    jobs = open(os.path.join(ck, "chain.jobs")).read().split()
    deadline = time.time() + 1200
    while time.time() < deadline:
        q = subprocess.run(["squeue", "-h", "-o", "%i %T"], capture_output=True, text=True, env=env).stdout
        if not any(line.split()[0] in jobs for line in q.splitlines() if line.strip()):
            break
        time.sleep(5)
    logs = {}
    for j in jobs:
        p = os.path.join(w, f"plexus-chain-{j}.out")
        if os.path.exists(p):
            logs[j] = open(p).read()
    for j, text in logs.items():
        print(f"--- link {j}\n{text[-1500:]}")
    resumed = [j for j, t in logs.items() if "resumes from the newest checkpoint" in t]
    signalled = [j for j, t in logs.items() if "time limit near" in t and "stopped on SIGUSR1" in t]
    c.check(len(signalled) >= 1, f"the time limit stopped at least one link with a checkpoint ({signalled})")
    c.check(len(resumed) >= 1, f"at least one link resumed from a checkpoint ({resumed})")
    c.check(all("exit code 0" in t for t in logs.values()), "every link that ran ended with exit code 0")
    c.check(os.path.exists(os.path.join(ck, "finished")) and os.path.exists(out), "the chain finished the run")
    if os.path.exists(out):
        same = result_digests(out) == result_digests(ref)
        c.check(same, "the chained result equals the uninterrupted run's (spikes, samples)")
finally:
    subprocess.run([os.path.join(cluster, "local_slurm.sh"), "down", slurm_dir], env=env)
c.finish()
