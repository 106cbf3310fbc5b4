#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, for CI and for trying the
# scripts without a cluster: installs Debian's slurm-wlm and munge if they
# are missing, writes /etc/slurm/slurm.conf for this host, and starts
# munged, slurmctld and slurmd. Needs root (or sudo). Idempotent.
set -euo pipefail

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends slurm-wlm munge
fi

host="$(hostname -s)"
cpus="$(nproc)"
memory_mb="$(awk '/MemTotal/ { print int($2 / 1024 * 0.9) }' /proc/meminfo)"

$sudo mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge
$sudo tee /etc/slurm/slurm.conf >/dev/null <<CONF
# Written by scripts/slurm/local-cluster.sh: one node, this machine.
ClusterName=variability-ci
SlurmctldHost=${host}
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
NodeName=${host} CPUs=${cpus} RealMemory=${memory_mb} State=UNKNOWN
PartitionName=local Nodes=${host} Default=YES MaxTime=INFINITE State=UP
CONF

# munge: a key, then the daemon (it refuses root-owned runs without --force).
if [ ! -s /etc/munge/munge.key ]; then
    $sudo mkdir -p /etc/munge
    $sudo dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
$sudo chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
$sudo chmod 400 /etc/munge/munge.key
if ! pgrep -x munged >/dev/null; then
    if [ -z "$sudo" ]; then
        runuser -u munge -- /usr/sbin/munged 2>/dev/null || /usr/sbin/munged --force
    else
        sudo -u munge /usr/sbin/munged 2>/dev/null || sudo /usr/sbin/munged --force
    fi
fi

pgrep -x slurmctld >/dev/null || $sudo /usr/sbin/slurmctld
pgrep -x slurmd >/dev/null || $sudo /usr/sbin/slurmd

# Wait (bounded) until the node takes jobs.
for _ in $(seq 1 30); do
    if sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
        sinfo
        exit 0
    fi
    sleep 1
done
echo "local-cluster: the Slurm node did not come up; see /var/log/slurm/" >&2
sinfo >&2 || true
exit 1
