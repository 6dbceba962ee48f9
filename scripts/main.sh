#!/usr/bin/env bash
# The main job: install what is missing, build, and run the COBA benchmark network on 2 MPI ranks,
# writing results/coba_benchmark.h5 and a raster plot results/coba_benchmark.png.
# Extra arguments go to `plexus run` (e.g. --set run.duration_ms=5000).
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
mpiexec -n 2 --oversubscribe --bind-to none build/bin/plexus run models/coba_benchmark.toml \
  -o results/coba_benchmark.h5 "$@"
build/bin/plexus-plot results/coba_benchmark.h5 -o results/coba_benchmark.png
