#!/usr/bin/env bash
# Started by srun for each task (MPI rank) of the job scripts here: places the rank's OpenMP threads on
# the CPUs Slurm gave the task, prints the binding, and runs the rest of the command line.
#   srun --cpus-per-task=T cluster/bind.sh build/bin/plexus ...
# When Slurm binds tasks (task/affinity or task/cgroup), a task's CPUs are its own, fewer than the
# node's: its threads are placed one per core on them (OMP_PLACES=cores, OMP_PROC_BIND=close). When it
# does not (task/none: every task may use the whole node), binding each rank's threads from the first
# core on would stack the ranks of a node on the same cores, so threads are left to the OS scheduler.
# OMP_PLACES / OMP_PROC_BIND set by the user win.
set -euo pipefail
threads=${OMP_NUM_THREADS:-${SLURM_CPUS_PER_TASK:-1}}
export OMP_NUM_THREADS=$threads
cpus=$(nproc)           # CPUs this task may run on (its affinity mask)
node_cpus=$(nproc --all)
if [ -n "${OMP_PLACES:-}${OMP_PROC_BIND:-}" ]; then
  how="OMP_PLACES=${OMP_PLACES:-} OMP_PROC_BIND=${OMP_PROC_BIND:-} (as given)"
elif [ "$cpus" -lt "$node_cpus" ]; then
  export OMP_PLACES=cores OMP_PROC_BIND=close
  how="threads bound: OMP_PLACES=cores OMP_PROC_BIND=close"
else
  how="threads not bound (the task may use all $node_cpus CPUs of the node)"
fi
mask=$(taskset -cp $$ 2>/dev/null | sed 's/.*: //' || echo "?")
warn=""
[ "$threads" -gt "$cpus" ] && warn=" WARNING: more threads than CPUs (srun --cpus-per-task?)"
echo "plexus binding: rank ${SLURM_PROCID:-0} on $(hostname): ${cpus} CPU(s) [${mask}], ${threads} thread(s), ${how}${warn}"
exec "$@"
