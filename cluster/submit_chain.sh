#!/usr/bin/env bash
# Submits a chain of Slurm jobs that together carry one run to its end through checkpoints:
#   cluster/submit_chain.sh [--links N] [--time T] [--lead SECONDS] [--dir DIR] [sbatch options] -- \
#       run|train MODEL.toml [plexus run/train options]
# Each link (cluster/chain_link.sbatch) runs until Slurm signals it SECONDS before its time limit T
# (--signal=B:USR1@SECONDS), then the run writes a checkpoint and the link exits 0; the next link
# (--dependency=afterok) resumes from the newest checkpoint in DIR. The link that finishes cancels the
# rest. Prints the job ids. Submit from the repository root (or set PLEXUS_BIN). Every run kind
# checkpoints; a training run stops at the end of the current iteration (batch, chunk of learners).
#   e.g. cluster/submit_chain.sh --links 6 --time 04:00:00 --ntasks 16 --cpus-per-task 4 -- \
#            run models/brunel_balanced.toml --set run.duration_ms=600000 -o results/brunel.h5
set -euo pipefail
links=4 time=01:00:00 lead=300 dir=""
sbatch_opts=()
while [ $# -gt 0 ]; do
  case "$1" in
    --links) links=$2; shift 2 ;;
    --time) time=$2; shift 2 ;;
    --lead) lead=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --) shift; break ;;
    *) sbatch_opts+=("$1"); shift ;;
  esac
done
[ $# -ge 2 ] || { echo "usage: submit_chain.sh [options] -- run|train MODEL.toml [plexus options]" >&2; exit 2; }
case "$1" in
  run | train) ;;
  *) echo "submit_chain.sh: chains carry 'plexus run' or 'plexus train', not '$1'" >&2; exit 2 ;;
esac
here=$(cd "$(dirname "$0")" && pwd)
[ -n "$dir" ] || dir="checkpoints/$(basename "$2" .toml)-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
if compgen -G "$dir/ckpt-*" > /dev/null || [ -f "$dir/finished" ]; then
  echo "submit_chain.sh: '$dir' holds checkpoints of a run already; give another --dir" >&2
  exit 2
fi
printf '%s\n' "$@" > "$dir/chain.args"
: > "$dir/chain.jobs"
export PLEXUS_CHAIN_DIR=$dir PLEXUS_BIN=${PLEXUS_BIN:-$PWD/build/bin/plexus}
prev=""
for i in $(seq "$links"); do
  dep=()
  [ -n "$prev" ] && dep=(--dependency="afterok:$prev" --kill-on-invalid-dep=yes)
  prev=$(sbatch --parsable --time="$time" --signal="B:USR1@$lead" "${dep[@]}" --export=ALL \
    "${sbatch_opts[@]}" "$here/chain_link.sbatch")
  prev=${prev%%;*}
  echo "$prev" >> "$dir/chain.jobs"
done
echo "checkpoint directory: $dir"
echo "jobs: $(tr '\n' ' ' < "$dir/chain.jobs")"
