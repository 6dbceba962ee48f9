#!/usr/bin/env bash
# Weak and strong scaling sweeps with `plexus scale-test`, one JSON file per point (plexus-plot
# DIR draws them; docs/scaling.md shows how they were made).
#   cluster/scaling_sweep.sh weak   MODEL NEURONS_PER_RANK RANKS... [-- scale-test options]
#   cluster/scaling_sweep.sh strong MODEL NEURONS          RANKS... [-- scale-test options]
# Where the ranks are run is chosen with PLEXUS_SWEEP:
#   dry    (default) one process per point plays rank 0 of the R-rank run (--dry-run-ranks R): memory and
#          traffic per rank at any R on one machine;
#   local  mpiexec -n R on this machine;
#   slurm  one sbatch job per point (cluster/scale_test.sbatch), R tasks.
# Results go to PLEXUS_SWEEP_OUT (default results/scaling/<mode>-<kind>).
set -euo pipefail
kind=${1:?usage: scaling_sweep.sh weak|strong MODEL N RANKS... [-- options]}
model=${2:?model}
n=${3:?neurons}
shift 3
ranks=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do ranks+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
mode=${PLEXUS_SWEEP:-dry}
bin=${PLEXUS_BIN:-build/bin/plexus}
out=${PLEXUS_SWEEP_OUT:-results/scaling/$mode-$kind}
mkdir -p "$out"
here=$(cd "$(dirname "$0")" && pwd)
for r in "${ranks[@]}"; do
  case "$kind" in
    weak) total=$((n * r)) ;;
    strong) total=$n ;;
    *) echo "scaling_sweep.sh: weak or strong, not '$kind'" >&2; exit 2 ;;
  esac
  json="$out/$(basename "$model" .toml)-n$total-r$r.json"
  echo "== $kind: $total neurons on $r rank(s) ($mode) -> $json"
  case "$mode" in
    dry) /usr/bin/time -f "   %U s user, %e s wall, %M KiB max RSS" \
           "$bin" scale-test "$model" --neurons "$total" --dry-run-ranks "$r" --json "$json" "$@" ;;
    local) mpiexec -n "$r" --oversubscribe --bind-to none "$bin" scale-test "$model" --neurons "$total" --json "$json" "$@" ;;
    slurm) PLEXUS_CLUSTER_DIR=$here sbatch --ntasks="$r" "$here/scale_test.sbatch" "$model" --neurons "$total" --json "$json" "$@" ;;
    *) echo "scaling_sweep.sh: PLEXUS_SWEEP is dry, local or slurm, not '$mode'" >&2; exit 2 ;;
  esac
done
