#!/usr/bin/env bash
# A real single-node Slurm for tests: munged, slurmctld and slurmd on this machine, with no systemd and
# no cgroups (proctrack/linuxproc; task/affinity, so tasks get CPUs of their own, as on clusters that
# bind), all state, sockets and logs under one new directory.
#
#   eval "$(cluster/local_slurm.sh up)"     # starts it; prints `export SLURM_CONF=... PLEXUS_LOCAL_SLURM=...`
#   sbatch ...; squeue; ...                 # the usual commands, through SLURM_CONF
#   cluster/local_slurm.sh down "$PLEXUS_LOCAL_SLURM"   # stops what `up` started and removes the directory
#
# Needs the Debian packages slurm-wlm and munge (scripts/install-deps.sh slurm). Runs the daemons as
# the calling user (root in CI). It stops only the processes whose pid files it wrote.
set -euo pipefail

die() { echo "local_slurm.sh: $*" >&2; exit 1; }

free_port() {
  local p
  for _ in $(seq 200); do
    p=$((20000 + RANDOM % 20000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  die "no free port found"
}

up() {
  for b in munged slurmctld slurmd sbatch scontrol; do
    command -v "$b" >/dev/null || [ -x "/usr/sbin/$b" ] || die "'$b' not found: install slurm-wlm and munge"
  done
  export PATH="$PATH:/usr/sbin"
  local d
  d=$(mktemp -d "${TMPDIR:-/tmp}/plexus-slurm.XXXXXX")
  chmod 755 "$d"
  mkdir -p "$d/munge" "$d/state" "$d/spool" "$d/log"
  chmod 700 "$d/munge"
  head -c 1024 /dev/urandom > "$d/munge/munge.key"
  chmod 400 "$d/munge/munge.key"
  munged --force --socket="$d/munge/munge.socket" --key-file="$d/munge/munge.key" \
    --pid-file="$d/munge/munged.pid" --log-file="$d/munge/munged.log" --seed-file="$d/munge/munged.seed" \
    >"$d/log/munged.out" 2>&1 || { cat "$d/log/munged.out" >&2; die "munged did not start (see $d)"; }

  local user cpus mem node
  user=$(id -un)
  cpus=$(nproc)
  mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2 ))
  node=plexus-node
  cat > "$d/slurm.conf" <<CONF
ClusterName=plexus-local
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$d/munge/munge.socket
SlurmUser=$user
SlurmdUser=$user
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool
SlurmctldPidFile=$d/slurmctld.pid
SlurmdPidFile=$d/slurmd.pid
SlurmctldLogFile=$d/log/slurmctld.log
SlurmdLogFile=$d/log/slurmd.log
PlugStackConfig=$d/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=600
KillWait=15
MessageTimeout=30
NodeName=$node NodeHostname=$(hostname) NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=local Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
  : > "$d/plugstack.conf"
  export SLURM_CONF="$d/slurm.conf"
  slurmctld -i >"$d/log/slurmctld.out" 2>&1 || { cat "$d/log/slurmctld.out" "$d/log/slurmctld.log" >&2; die "slurmctld did not start"; }
  slurmd -N "$node" >"$d/log/slurmd.out" 2>&1 || { cat "$d/log/slurmd.out" "$d/log/slurmd.log" >&2; die "slurmd did not start"; }
  # Ready when the node is idle.
  for _ in $(seq 60); do
    if sinfo -h -n "$node" -o %t 2>/dev/null | grep -qx "idle"; then
      echo "export SLURM_CONF=$d/slurm.conf PLEXUS_LOCAL_SLURM=$d"
      return
    fi
    sleep 1
  done
  tail -20 "$d/log/slurmctld.log" "$d/log/slurmd.log" >&2 || true
  down "$d"
  die "the node did not come up"
}

stop_pidfile() {
  local f=$1 pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
  kill -9 "$pid" 2>/dev/null || true
}

down() {
  local d=${1:?usage: local_slurm.sh down DIR}
  [ -f "$d/slurm.conf" ] || die "'$d' is not a directory made by local_slurm.sh up"
  export SLURM_CONF="$d/slurm.conf" PATH="$PATH:/usr/sbin"
  # Jobs first (only this cluster's: SLURM_CONF points at it), then the daemons this script started.
  scancel --quiet --user="$(id -un)" 2>/dev/null || true
  for _ in $(seq 30); do
    [ -z "$(squeue -h 2>/dev/null)" ] && break
    sleep 1
  done
  stop_pidfile "$d/slurmd.pid"
  stop_pidfile "$d/slurmctld.pid"
  stop_pidfile "$d/munge/munged.pid"
  rm -rf "$d"
}

case "${1:-}" in
  up) up ;;
  down) down "${2:-}" ;;
  *) echo "usage: local_slurm.sh up | down DIR" >&2; exit 2 ;;
esac
