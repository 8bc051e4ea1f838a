#!/usr/bin/env bash
# A real single-node Slurm on this machine, for testing the sweep's job-array scripts.
#   scripts/slurm-local.sh start DIR   install (Debian: slurm-wlm, munge) if missing, write a one-node
#                                      config under DIR, start munged, slurmctld and slurmd
#   scripts/slurm-local.sh stop DIR    stop them
# Needs root (the daemons run as root here). Everything it writes stays under DIR.
set -euo pipefail
cmd=${1:?start|stop}; dir=$(realpath -m "${2:?state directory}")
mkdir -p "$dir"
if [ "$cmd" = stop ]; then
  [ -f "$dir/slurm.conf" ] && SLURM_CONF="$dir/slurm.conf" scontrol shutdown >/dev/null 2>&1 || true
  for p in slurmd slurmctld munged; do [ -f "$dir/$p.pid" ] && kill "$(cat "$dir/$p.pid")" 2>/dev/null || true; done
  exit 0
fi
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  [ "$(id -u)" -eq 0 ] || { echo "error: slurm-wlm and munge are missing; run as root or install them" >&2; exit 2; }
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi
host=$(hostname -s)
cpus=$(nproc)
mkdir -p "$dir/munge" "$dir/state" "$dir/spool" "$dir/log"
chmod 700 "$dir/munge"
[ -f "$dir/munge/munge.key" ] || { dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none; chmod 400 "$dir/munge/munge.key"; }
munged --key-file="$dir/munge/munge.key" --socket="$dir/munge/socket" --pid-file="$dir/munged.pid" \
       --log-file="$dir/log/munged.log" --seed-file="$dir/munge/seed" --force </dev/null >/dev/null 2>&1
cat > "$dir/slurm.conf" <<CONF
ClusterName=blocklocal-test
SlurmctldHost=$host
AuthType=auth/munge
AuthInfo=socket=$dir/munge/socket
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SlurmctldPort=46817
SlurmdPort=46818
NodeName=$host CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$dir/slurm.conf"
# the daemons must not hold the caller's stdout/stderr open (a caller reading to EOF would wait forever)
slurmctld -f "$dir/slurm.conf" </dev/null >/dev/null 2>&1
slurmd -f "$dir/slurm.conf" </dev/null >/dev/null 2>&1
for _ in $(seq 1 50); do
  sinfo -h -o %T 2>/dev/null | grep -qE "idle|mixed" && { echo "slurm up: SLURM_CONF=$dir/slurm.conf"; exit 0; }
  sleep 0.2
done
echo "error: slurm did not come up; see $dir/log" >&2
exit 1
