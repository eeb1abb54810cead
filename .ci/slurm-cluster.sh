#!/usr/bin/env bash
# Start (start DIR) or stop (stop DIR) a single-node Slurm cluster on this
# machine, its configuration, state, logs and pid files under DIR. After
# start, SLURM_CONF=DIR/slurm.conf points Slurm's commands at it.
set -euo pipefail
cmd=${1:?usage: slurm-cluster.sh start|stop DIR}
dir=$(realpath -m "${2:?usage: slurm-cluster.sh start|stop DIR}")
export SLURM_CONF=$dir/slurm.conf

stop() {
  local f pid
  for f in "$dir"/slurmd.pid "$dir"/slurmctld.pid; do
    [ -s "$f" ] || continue
    pid=$(cat "$f")
    kill "$pid" 2>/dev/null || continue
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
    rm -f "$f"
  done
}

case $cmd in
start)
  mkdir -p "$dir"/{state,spool,log}
  mem=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
  cat >"$SLURM_CONF" <<CONF
ClusterName=peftbench
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/none
CredType=cred/none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
MpiDefault=none
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
NodeName=localhost NodeHostname=localhost CPUs=$(nproc) RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
  slurmctld -i
  slurmd -N localhost
  for _ in $(seq 300); do
    [ "$(sinfo -h -N -o %t 2>/dev/null)" = idle ] && exit 0
    sleep 0.1
  done
  echo "slurm-cluster.sh: the node did not become idle; logs in $dir/log" >&2
  stop
  exit 1
  ;;
stop) stop ;;
*) echo "usage: slurm-cluster.sh start|stop DIR" >&2; exit 2 ;;
esac
