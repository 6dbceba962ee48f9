#!/usr/bin/env bash
# The main job: install what is missing, build, and train the 800-cell E/I ALIF cortex
# (models/cortex_ei800_evidence.toml) on the evidence-accumulation (T-maze) task with e-prop on 2
# MPI ranks (two batch groups: each rank holds the whole network and runs half of every batch's
# trials, the fastest layout on two cores; docs/benchmarks.md), writing results/cortex_ei800_evidence.h5 and the figure results/cortex_ei800_evidence.png
# (learning curve, example trials before and after training, weight distributions).
# Extra arguments go to `plexus train` (e.g. --set train.iterations=50, --set task.delay_ms=1000).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target plexus

if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
mkdir -p results
mpiexec -n 2 --oversubscribe --bind-to none build/bin/plexus train models/cortex_ei800_evidence.toml \
  --batch-groups 2 -o results/cortex_ei800_evidence.h5 "$@"
build/bin/plexus-plot results/cortex_ei800_evidence.h5 -o results/cortex_ei800_evidence.png
