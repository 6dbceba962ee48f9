#!/usr/bin/env bash
# Submits a chain of Slurm jobs that together carry one run to its end through checkpoints:
#   cluster/submit_chain.sh [--links N | --requeue MAX] [--time T] [--lead SECONDS] [--dir DIR] \
#       [sbatch options] -- run|train MODEL.toml [plexus run/train options]
#   cluster/submit_chain.sh --continue DIR [--links N | --requeue MAX] [sbatch options]
# Each link (cluster/chain_link.sbatch) runs until Slurm signals it SECONDS before its time limit T
# (--signal=B:USR1@SECONDS); the run writes a checkpoint and the link exits 0. The next link resumes
# from the newest checkpoint in DIR (at any number of tasks). The link that finishes cancels the rest.
# - --links N (default 4): N links submitted at once, each after the last (--dependency=afterok).
# - --requeue MAX: one link; a link that was stopped before the end submits the next itself, up to MAX
#   links in all (the chain says when the cap is reached).
# - --continue DIR: more links for a chain that ran out of them (or was stopped, or failed): the first
#   waits for the chain's last job if it is still queued or running. The chain's sbatch options (time,
#   lead, tasks, threads ...) are kept unless given again; --requeue sets a new cap (links from now on).
# DIR (default checkpoints/<model>-<date>) holds the checkpoints, chain.args (the command), chain.sbatch
# (the sbatch options), chain.jobs (the job ids) and plexus-chain-<job>.out. Submit from the repository
# root (or set PLEXUS_BIN). Every run kind checkpoints; a training run stops at the end of the current
# iteration (batch, chunk of learners), so make --lead longer than an iteration plus a checkpoint.
#   e.g. cluster/submit_chain.sh --links 6 --time 04:00:00 --ntasks 16 --cpus-per-task 4 -- \
#            run models/brunel_balanced.toml --set run.duration_ms=600000 -o results/brunel.h5
set -euo pipefail
links="" requeue="" time="" lead="" dir="" cont=""
sbatch_opts=()
while [ $# -gt 0 ]; do
  case "$1" in
    --links) links=$2; shift 2 ;;
    --requeue) requeue=$2; shift 2 ;;
    --time) time=$2; shift 2 ;;
    --lead) lead=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --continue) cont=1; dir=${2:?--continue needs the chain directory}; shift 2 ;;
    -h | --help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    --) shift; break ;;
    *) sbatch_opts+=("$1"); shift ;;
  esac
done
fail() { echo "submit_chain.sh: $*" >&2; exit 2; }
[ -z "$links" ] || [ -z "$requeue" ] || fail "give --links or --requeue, not both"
for v in "$links" "$requeue"; do
  [ -z "$v" ] || [[ "$v" =~ ^[1-9][0-9]*$ ]] || fail "--links and --requeue take a positive number, not '$v'"
done
here=$(cd "$(dirname "$0")" && pwd)
. "$here/find_plexus.sh"
find_plexus

if [ -n "$cont" ]; then
  [ $# -eq 0 ] || fail "--continue takes the command from DIR/chain.args; give no command after --"
  [ -f "$dir/chain.args" ] || fail "'$dir' is not a chain directory (no chain.args)"
  dir=$(cd "$dir" && pwd)
  [ -f "$dir/finished" ] && fail "the run in '$dir' has finished already ($(cat "$dir/finished"))"
  # The chain's own options, unless given again (later sbatch options win over earlier ones).
  mapfile -t old < "$dir/chain.sbatch"
  [ -n "$time" ] && old+=(--time="$time")
  [ -n "$lead" ] && old+=(--signal="B:USR1@$lead")
  sbatch_opts=("${old[@]}" "${sbatch_opts[@]}")
else
  [ $# -ge 2 ] || fail "usage: submit_chain.sh [options] -- run|train MODEL.toml [plexus options]"
  case "$1" in
    run | train) ;;
    *) fail "chains carry 'plexus run' or 'plexus train', not '$1'" ;;
  esac
  [ -n "$dir" ] || dir="checkpoints/$(basename "$2" .toml)-$(date +%Y%m%d-%H%M%S)"
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if compgen -G "$dir/ckpt-*" > /dev/null || [ -f "$dir/finished" ]; then
    fail "'$dir' holds checkpoints of a run already; give another --dir, or add links with --continue '$dir'"
  fi
  printf '%s\n' "$@" > "$dir/chain.args"
  : > "$dir/chain.jobs"
  sbatch_opts=(--time="${time:-01:00:00}" --signal="B:USR1@${lead:-300}" "${sbatch_opts[@]}")
fi
printf '%s\n' "${sbatch_opts[@]}" > "$dir/chain.sbatch"
jobs_before=$(wc -l < "$dir/chain.jobs")
if [ -n "$requeue" ]; then
  echo $(( jobs_before + requeue )) > "$dir/chain.requeue"  # the cap, in jobs of the chain
  links=1
elif [ -z "$cont" ] || [ -n "$links" ]; then
  rm -f "$dir/chain.requeue"
fi
links=${links:-4}

export PLEXUS_CHAIN_DIR=$dir PLEXUS_CLUSTER_DIR=$here
# A continued chain waits for its last job if that job is still queued or running.
prev=""
if [ -n "$cont" ] && [ "$jobs_before" -gt 0 ]; then
  last=$(tail -n 1 "$dir/chain.jobs")
  if squeue -h -j "$last" -o %i 2>/dev/null | grep -qx "$last"; then prev=$last; fi
fi
for _ in $(seq "$links"); do
  dep=()
  [ -n "$prev" ] && dep=(--dependency="afterok:$prev" --kill-on-invalid-dep=yes)
  prev=$(sbatch --parsable "${dep[@]}" --export=ALL --output="$dir/plexus-chain-%j.out" \
    "${sbatch_opts[@]}" "$here/chain_link.sbatch")
  prev=${prev%%;*}
  echo "$prev" >> "$dir/chain.jobs"
done
echo "checkpoint directory: $dir"
echo "jobs: $(tail -n "$links" "$dir/chain.jobs" | tr '\n' ' ')${requeue:+(resubmits itself, up to $(cat "$dir/chain.requeue") jobs in all)}"
