"""Slurm job chains against a real single-node Slurm (cluster/local_slurm.sh): a run carried to its end
by links that are stopped, resubmit themselves and are added to, ending byte-identical to an
uninterrupted run.

What stops a link does not depend on the machine's speed: the run writes a checkpoint every 1000 ms of
simulated time, and once a link has written one, the test sends the link's batch shell SIGUSR1 with
`scancel --signal=USR1 --batch`, the signal Slurm sends near the time limit (--signal=B:USR1@LEAD).
The run then checkpoints at the next step boundary and exits 0. A loaded machine only makes each link
slower; the run has far more simulated time left after the first checkpoint than any machine simulates
while the signal is on its way.

1. `submit_chain.sh --requeue 2`: one link; stopped, it submits the next itself; the second, stopped,
   has reached the cap of 2 and says so instead of resubmitting.
2. `submit_chain.sh --continue DIR --links 2`: the chain gets 2 more links; the first resumes and
   finishes the run, and cancels the second.
The final result holds the same spikes and samples, byte for byte, as the uninterrupted run."""
import glob
import os
import time

from common import Checker, mpi_command, parse_args, result_digests, run
from local_slurm import LocalSlurm

args = parse_args()
c = Checker()
w = args.work_dir
cluster = os.path.abspath(os.path.join(args.source_dir, "cluster"))

# Brunel's network (12 500 cells, 15.6 M synapses), 6 s: about 20 s of stepping on 2 ranks unloaded.
model = [os.path.abspath(os.path.join(args.source_dir, "models/brunel_balanced.toml")),
         "--set", "run.duration_ms=6000"]
ref = os.path.join(w, "ref.h5")
run(mpi_command(args, 2, "run", *model, "-o", ref, "-q"))


def checkpoints(ck):
    return sorted(os.path.basename(p) for p in glob.glob(os.path.join(ck, "ckpt-*")))


def link_log(ck, job):
    p = os.path.join(ck, f"plexus-chain-{job}.out")
    return open(p).read() if os.path.exists(p) else ""


def stop_link_after_checkpoint(s, ck, job, before):
    """Waits until link `job` has written a checkpoint not in `before`, then signals its batch shell as
    the time limit would. Returns False if the link ended first (a safety limit, not a timing)."""
    deadline = time.time() + 1200
    while time.time() < deadline:
        if set(checkpoints(ck)) - set(before):
            r = s.run(["scancel", "--signal=USR1", "--batch", job])
            return r.returncode == 0
        if not s.active([job]):
            return False
        time.sleep(0.5)
    return False


with LocalSlurm(args.source_dir) as s:
    s.env["PLEXUS_BIN"] = args.plexus
    out = os.path.join(w, "chain.h5")
    ck = os.path.join(w, "chain_ck")
    sub = s.run([os.path.join(cluster, "submit_chain.sh"), "--requeue", "2", "--time", "30", "--lead", "60",
                 "--dir", ck, "--ntasks", "2", "--cpus-per-task", "1", "--",
                 "run", *model, "-o", out, "-q", "--checkpoint-every", "1000ms"], cwd=w)
    print(sub.stdout, sub.stderr)
    c.check(sub.returncode == 0, "the self-requeuing chain was submitted")
    jobs_file = os.path.join(ck, "chain.jobs")

    # 1. Two links stopped; the first resubmits, the second is at the cap.
    first = open(jobs_file).read().split()[0]
    c.check(stop_link_after_checkpoint(s, ck, first, []), "link 1 wrote a checkpoint and was signalled")
    c.check(s.wait([first]), "link 1 ended")
    jobs = open(jobs_file).read().split()
    c.check(len(jobs) == 2, f"link 1 submitted link 2 itself ({jobs})")
    if len(jobs) == 2:
        c.check(stop_link_after_checkpoint(s, ck, jobs[1], checkpoints(ck)),
                "link 2 resumed, wrote a checkpoint and was signalled")
        c.check(s.wait([jobs[1]]), "link 2 ended")
    jobs = open(jobs_file).read().split()
    logs = {j: link_log(ck, j) for j in jobs}
    for j, text in logs.items():
        print(f"--- link {j}\n{text[-1500:]}")
    c.check(len(jobs) == 2, f"the cap of 2 links held ({jobs})")
    c.check(all("stopped on SIGUSR1" in t and "exit code 0" in t for t in logs.values()),
            "both links stopped on the signal with a checkpoint and exit code 0")
    c.check("resumes from the newest checkpoint" in logs.get(jobs[-1], ""), "link 2 resumed from a checkpoint")
    c.check("reached its cap of 2 links" in logs.get(jobs[-1], ""), "link 2 says the cap is reached")
    c.check(not os.path.exists(os.path.join(ck, "finished")), "the run is not finished yet")

    # A chain directory in use is refused for a new chain.
    again = s.run([os.path.join(cluster, "submit_chain.sh"), "--dir", ck, "--", "run", *model], cwd=w)
    c.check(again.returncode == 2 and "--continue" in again.stderr, "a used directory is refused, --continue suggested")

    # 2. Two more links; the first finishes and cancels the second.
    more = s.run([os.path.join(cluster, "submit_chain.sh"), "--continue", ck, "--links", "2"], cwd=w)
    print(more.stdout, more.stderr)
    c.check(more.returncode == 0, "the chain was continued")
    added = open(jobs_file).read().split()[len(jobs):]
    c.check(len(added) == 2, f"--continue added 2 links ({added})")
    c.check(s.wait(added), "the added links ended")
    for j in added:
        print(f"--- link {j}\n{link_log(ck, j)[-1500:]}")
    if added:
        c.check("resumes from the newest checkpoint" in link_log(ck, added[0])
                and "exit code 0" in link_log(ck, added[0]), "the first added link resumed and ended with 0")
        c.check(link_log(ck, added[-1]) == "", "the last added link was cancelled (it never ran)")
    c.check(os.path.exists(os.path.join(ck, "finished")) and os.path.exists(out), "the chain finished the run")
    if os.path.exists(out):
        c.check(result_digests(out) == result_digests(ref),
                "the chained result equals the uninterrupted run's (spikes, samples)")
    done = s.run([os.path.join(cluster, "submit_chain.sh"), "--continue", ck], cwd=w)
    c.check(done.returncode == 2 and "finished already" in done.stderr, "a finished chain is not continued")
c.finish()
