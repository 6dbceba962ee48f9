#!/usr/bin/env bash
# Submits a parameter sweep as one Slurm job array: task I runs MODEL with parameter set I of SWEEP.toml
# (a product of lists and/or explicit rows; cluster/sweep.py says the format) and writes DIR/task-I.h5.
#   cluster/submit_sweep.sh [--dir DIR] [--max-parallel N] [sbatch options] SWEEP.toml MODEL.toml \
#       [-- plexus run/train options]
# A model with a [train] table is trained (plexus train), any other is run (plexus run). sbatch options
# size each task (--ntasks R --cpus-per-task T --time ...). DIR (default sweeps/<sweep>-<date>) gets
# sweep.toml, sweep.args, jobs, task-I.out and task-I.h5; cluster/collect_sweep.py DIR tabulates them.
#   e.g. cluster/submit_sweep.sh --ntasks 2 --cpus-per-task 2 --time 01:00:00 \
#            models/sweeps/eprop_lr.toml models/eprop_evidence100.toml -- --set train.iterations=200
# Submit from the repository root (or set PLEXUS_BIN).
set -euo pipefail
dir="" limit=""
sbatch_opts=()
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir=$2; shift 2 ;;
    --max-parallel) limit=$2; shift 2 ;;
    -h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *.toml) break ;;  # the sweep file: sbatch options end here
    *) sbatch_opts+=("$1"); shift ;;
  esac
done
[ $# -ge 2 ] || { echo "usage: submit_sweep.sh [--dir DIR] [sbatch options] SWEEP.toml MODEL.toml [-- plexus options]" >&2; exit 2; }
sweep=$1 model=$2
shift 2
[ "${1:-}" = "--" ] && shift
[ -f "$model" ] || { echo "submit_sweep.sh: no model file '$model'" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
n=$(python3 "$here/sweep.py" count "$sweep") || exit 2
kind=$(python3 "$here/sweep.py" kind "$model") || exit 2
. "$here/find_plexus.sh"
find_plexus
[ -n "$dir" ] || dir="sweeps/$(basename "$sweep" .toml)-$(date +%Y%m%d-%H%M%S)"
if [ -e "$dir" ] && [ -n "$(ls -A "$dir" 2>/dev/null)" ]; then
  echo "submit_sweep.sh: '$dir' is not empty; give another --dir" >&2
  exit 2
fi
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
cp "$sweep" "$dir/sweep.toml"
model_abs=$(cd "$(dirname "$model")" && pwd)/$(basename "$model")
printf '%s\n' "$kind" "$model_abs" "$@" > "$dir/sweep.args"
export PLEXUS_SWEEP_DIR=$dir PLEXUS_CLUSTER_DIR=$here
array="0-$((n - 1))${limit:+%$limit}"
job=$(sbatch --parsable --array="$array" --output="$dir/task-%a.out" --export=ALL "${sbatch_opts[@]}" \
  "$here/sweep.sbatch")
job=${job%%;*}
echo "$job" > "$dir/jobs"
echo "sweep of $n parameter sets ($kind $(basename "$model")): job array $job, tasks 0-$((n - 1))"
echo "results in $dir; tabulate with: cluster/collect_sweep.py $dir"
