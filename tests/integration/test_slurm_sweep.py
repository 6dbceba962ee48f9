"""Slurm job arrays and thread binding against a real single-node Slurm (cluster/local_slurm.sh, with
task/affinity so tasks get CPUs of their own):
- cluster/submit_sweep.sh runs a sweep of 4 parameter sets (a 2 x 2 product) as one job array; every
  task writes its own result with its set in /metadata/overrides; cluster/collect_sweep.py tabulates
  them (CSV) and plexus-plot draws the table. Each task's result equals the same run made directly.
- cluster/run_network.sbatch with 1 task x 2 threads: the rank reports 2 CPUs, bound threads;
  2 tasks x 1 thread: each rank has 1 CPU of its own."""
import csv
import os
import re

from common import Checker, mpi_command, parse_args, result_digests, run
from local_slurm import LocalSlurm

args = parse_args()
c = Checker()
w = args.work_dir
cluster = os.path.abspath(os.path.join(args.source_dir, "cluster"))
model = os.path.join(args.source_dir, "models/coba_benchmark.toml")
sweep = os.path.join(w, "sweep.toml")
with open(sweep, "w") as f:
    f.write('[product]\n"network.seed" = [1, 2]\n"populations.E.params.I_e_pA" = [200.0, 240.0]\n')
base = ["--set", "run.duration_ms=100"]

with LocalSlurm(args.source_dir) as s:
    s.env["PLEXUS_BIN"] = args.plexus
    s.env["PLEXUS_CLUSTER_DIR"] = cluster  # the job scripts are submitted from the work directory
    sdir = os.path.join(w, "sweep")
    sub = s.run([os.path.join(cluster, "submit_sweep.sh"), "--dir", sdir, "--ntasks", "1", "--cpus-per-task", "1",
                 sweep, model, "--", *base, "-q"], cwd=w)
    print(sub.stdout, sub.stderr)
    c.check(sub.returncode == 0 and "sweep of 4 parameter sets" in sub.stdout, "the sweep was submitted as 4 tasks")
    job = open(os.path.join(sdir, "jobs")).read().split()[0]

    # Thread binding while the array runs.
    jobs = [job]
    for name, ntasks, cpus in (("two_threads", 1, 2), ("two_ranks", 2, 1)):
        r = s.run(["sbatch", "--parsable", f"--ntasks={ntasks}", f"--cpus-per-task={cpus}",
                   f"--output={w}/{name}.out", os.path.join(cluster, "run_network.sbatch"), model, *base], cwd=w)
        c.check(r.returncode == 0, f"{name}: submitted ({r.stderr.strip()})")
        jobs.append(r.stdout.strip().split(";")[0])
    c.check(s.wait(jobs), "the jobs ended")

    two = open(os.path.join(w, "two_threads.out")).read() if os.path.exists(os.path.join(w, "two_threads.out")) else ""
    print("--- two_threads.out\n" + two[-2000:])
    c.check("1 rank(s) x 2 thread(s), 2 CPU(s) per rank" in two, "a 2-thread rank reports 2 CPUs per rank")
    c.check(re.search(r"plexus binding: rank 0 .*: 2 CPU\(s\) .*2 thread\(s\)", two) is not None,
            "bind.sh reports 2 CPUs and 2 threads for the rank")
    c.check("warning" not in two.lower(), "no warning of threads sharing CPUs")
    ranks = open(os.path.join(w, "two_ranks.out")).read() if os.path.exists(os.path.join(w, "two_ranks.out")) else ""
    print("--- two_ranks.out\n" + ranks[-2000:])
    masks = re.findall(r"plexus binding: rank (\d) .*: 1 CPU\(s\) \[([0-9,-]+)\]", ranks)
    c.check(len(masks) == 2 and masks[0][1] != masks[1][1], f"two 1-CPU ranks run on CPUs of their own ({masks})")

    for i in range(4):
        out = os.path.join(sdir, f"task-{i}.out")
        print(f"--- task {i}\n" + (open(out).read()[-800:] if os.path.exists(out) else "(no output)"))

col = run(["/usr/bin/python3", os.path.join(cluster, "collect_sweep.py"), sdir])
print(col.stdout)
rows = list(csv.DictReader(open(os.path.join(sdir, "sweep.csv"))))
c.check(len(rows) == 4 and all(r["status"] == "done" for r in rows), "the table has 4 finished tasks")
sets = {(r["network.seed"], r["populations.E.params.I_e_pA"]) for r in rows}
c.check(sets == {("1", "200.0"), ("1", "240.0"), ("2", "200.0"), ("2", "240.0")},
        f"the overrides in /metadata give the 4 sets of the product ({sorted(sets)})")
rates = [float(r["rate_hz:E"]) for r in rows]
c.check(all(x > 0 for x in rates) and len(set(rates)) == 4, f"each task measured its own rates ({rates})")
# Task 3 is the product's last set; the array task must equal the same run made directly.
direct = os.path.join(w, "direct.h5")
run(mpi_command(args, 1, "run", model, *base, "--set", "network.seed=2", "--set",
                "populations.E.params.I_e_pA=240.0", "-o", direct, "-q"))
c.check(result_digests(direct) == result_digests(os.path.join(sdir, "task-3.h5")),
        "array task 3 equals the same set run directly")
png = os.path.join(w, "sweep.png")
run(["/usr/bin/python3", os.path.join(os.path.dirname(args.plexus), "plexus-plot"), os.path.join(sdir, "sweep.csv"),
     "-o", png])
c.check(os.path.exists(png) and os.path.getsize(png) > 10000, "plexus-plot drew the sweep's table")

# A bad sweep file is refused before anything is submitted.
bad = os.path.join(w, "bad.toml")
with open(bad, "w") as f:
    f.write('[product]\n"network.seed" = []\n')
r = run(["bash", os.path.join(cluster, "submit_sweep.sh"), "--dir", os.path.join(w, "bad"), bad, model], expect=2)
c.check("non-empty array" in r.stderr and not os.path.exists(os.path.join(w, "bad")),
        "an empty list is refused with exit 2 and no directory")
c.finish()
