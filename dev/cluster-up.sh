#!/usr/bin/env bash
# Bring up a small Slurm cluster on this one machine, for the demo and the tests.
#
# Run as root on Debian 12 (no systemd needed). Safe to run again: when the
# cluster is already up it only checks it and returns.
#
#   dev/cluster-up.sh          # install packages if missing, write config, start daemons
#   dev/cluster-down.sh        # stop the daemons
#
# Nodes (all on 127.0.0.1, one slurmd each, CPUs and memory advertised, not real):
#   node1, node2   28 CPUs,  64 GB
#   node3         128 CPUs, 256 GB, 2 fake GPUs of type V100-SXM2-32GB
#   node4          64 CPUs, 128 GB
# Partitions:
#   cpu    node[1-2]      MaxTime 12:00:00  (default)
#   gpu    node3          MaxTime 01:00:00
#   long   node[1-2,4]    MaxTime 2-00:00:00 (two kinds of nodes)
#   debug  node4          MaxTime 00:30:00
# Users: moss-demo, and moss01 .. moss16 for the tests and benchmarks.
#
# /etc/moss-dev/cluster.env, when it exists, may set the cluster's name and ports
# (MOSS_CLUSTER_NAME, MOSS_SLURMCTLD_PORT, MOSS_SLURMD_PORT, MOSS_NODE_PORT_BASE):
# dev/slurm24-up.sh runs this script inside a Debian 13 chroot, and its cluster
# needs ports of its own to run next to this one.
set -euo pipefail

MOSS_DEV_USERS=${MOSS_DEV_USERS:-"moss-demo $(printf 'moss%02d ' $(seq 1 16))"}
SETTINGS=/etc/moss-dev/cluster.env
# shellcheck source=/dev/null
[ ! -f "$SETTINGS" ] || . "$SETTINGS"
CLUSTER_NAME=${MOSS_CLUSTER_NAME:-moss}
SLURMCTLD_PORT=${MOSS_SLURMCTLD_PORT:-16817}
SLURMD_PORT=${MOSS_SLURMD_PORT:-16818}
# node N's slurmd listens on NODE_PORT_BASE + N
NODE_PORT_BASE=${MOSS_NODE_PORT_BASE:-17000}
CONF_DIR=/etc/slurm
STATE_DIR=/var/lib/moss-dev/slurm
LOG_DIR=/var/log/moss-dev
NODES="node1 node2 node3 node4"

log() { printf '[cluster-up] %s\n' "$*" >&2; }

if [ "$(id -u)" != 0 ]; then
    echo "cluster-up.sh must run as root" >&2
    exit 1
fi

install_packages() {
    local missing=()
    for cmd in slurmctld slurmd sinfo munged sudo; do
        command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing Slurm and munge (missing: ${missing[*]})"
    # Keep the packages' install scripts from starting daemons through init scripts.
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        slurmctld slurmd slurm-client munge sudo >/dev/null
    rm -f /usr/sbin/policy-rc.d
    trap - EXIT
}

create_users() {
    local u
    for u in $MOSS_DEV_USERS; do
        id "$u" >/dev/null 2>&1 || useradd -m -s /bin/bash "$u"
    done
}

write_config() {
    local host
    host=$(hostname -s)
    mkdir -p "$CONF_DIR" "$STATE_DIR/ctld" "$STATE_DIR/gpu" "$LOG_DIR"
    for n in $NODES; do mkdir -p "$STATE_DIR/d-$n"; done
    chown -R slurm:slurm "$STATE_DIR/ctld"
    chown slurm:slurm "$LOG_DIR"
    # Fake GPU devices: Slurm only needs character devices to point at.
    for i in 0 1; do
        [ -c "$STATE_DIR/gpu/fake$i" ] || { rm -f "$STATE_DIR/gpu/fake$i"; mknod "$STATE_DIR/gpu/fake$i" c 1 3; }
    done
    grep -q '\bnode1\b' /etc/hosts || echo "127.0.0.1 node1 node2 node3 node4" >>/etc/hosts

    local new p=$NODE_PORT_BASE
    new=$(mktemp)
    cat >"$new" <<CONF
# Written by jupyterhub_moss dev/cluster-up.sh: a one-machine test cluster.
ClusterName=$CLUSTER_NAME
SlurmctldHost=$host(127.0.0.1)
SlurmUser=slurm
SlurmctldPort=$SLURMCTLD_PORT
SlurmdPort=$SLURMD_PORT
AuthType=auth/munge
StateSaveLocation=$STATE_DIR/ctld
SlurmdSpoolDir=$STATE_DIR/d-%n
SlurmctldPidFile=$STATE_DIR/slurmctld.pid
SlurmdPidFile=$STATE_DIR/slurmd-%n.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=500
SlurmdParameters=config_overrides
SchedulerParameters=batch_sched_delay=0,bf_interval=2
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
MailProg=/bin/true
EnforcePartLimits=ALL
ReturnToService=2
MinJobAge=300
KillWait=5
GresTypes=gpu
MpiDefault=none
NodeName=node[1-2] NodeHostname=$host NodeAddr=127.0.0.1 Port=[$((p + 1))-$((p + 2))] CPUs=28 RealMemory=64000 State=UNKNOWN
NodeName=node3 NodeHostname=$host NodeAddr=127.0.0.1 Port=$((p + 3)) CPUs=128 RealMemory=256000 Gres=gpu:V100-SXM2-32GB:2 State=UNKNOWN
NodeName=node4 NodeHostname=$host NodeAddr=127.0.0.1 Port=$((p + 4)) CPUs=64 RealMemory=128000 State=UNKNOWN
PartitionName=cpu Nodes=node[1-2] MaxTime=12:00:00 Default=YES State=UP
PartitionName=gpu Nodes=node3 MaxTime=01:00:00 State=UP
PartitionName=long Nodes=node[1-2],node4 MaxTime=2-00:00:00 State=UP
PartitionName=debug Nodes=node4 MaxTime=00:30:00 State=UP
CONF
    if ! cmp -s "$new" "$CONF_DIR/slurm.conf"; then
        install -m 0644 "$new" "$CONF_DIR/slurm.conf"
        CONFIG_CHANGED=1
    fi
    rm -f "$new"
    cat >"$new" <<CONF
AutoDetect=off
NodeName=node3 Name=gpu Type=V100-SXM2-32GB File=$STATE_DIR/gpu/fake0
NodeName=node3 Name=gpu Type=V100-SXM2-32GB File=$STATE_DIR/gpu/fake1
CONF
    if ! cmp -s "$new" "$CONF_DIR/gres.conf"; then
        install -m 0644 "$new" "$CONF_DIR/gres.conf"
        CONFIG_CHANGED=1
    fi
    rm -f "$new"
    # Slurm 24.11 loads a cgroup plugin even with proctrack/linuxproc and
    # task/none, and slurmd stops at start ("cgroup filesystem not mounted") where
    # the cgroup filesystem is not usable, as in the chroot. 22.05 has no
    # "disabled" value and needs no cgroup.conf: leave it alone there.
    if [ "$(slurm_major)" -ge 24 ]; then
        echo "CgroupPlugin=disabled" >"$new"
        if ! cmp -s "$new" "$CONF_DIR/cgroup.conf"; then
            install -m 0644 "$new" "$CONF_DIR/cgroup.conf"
            CONFIG_CHANGED=1
        fi
        rm -f "$new"
    fi
}

slurm_major() {
    # "slurm-wlm 22.05.8" -> 22
    /usr/sbin/slurmd -V | awk '{ split($NF, v, "."); print v[1] }'
}

start_munge() {
    if [ ! -s /etc/munge/munge.key ]; then
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    if munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
        return 0
    fi
    log "starting munged"
    runuser -u munge -- /usr/sbin/munged
    for _ in $(seq 50); do
        munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "munged did not start" >&2
    exit 1
}

pid_alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start_slurm() {
    if [ "${CONFIG_CHANGED:-0}" = 1 ]; then
        # A new configuration: restart whatever runs with the old one.
        stop_daemons
    fi
    if ! pid_alive "$STATE_DIR/slurmctld.pid"; then
        log "starting slurmctld"
        /usr/sbin/slurmctld
    fi
    for n in $NODES; do
        if ! pid_alive "$STATE_DIR/slurmd-$n.pid"; then
            log "starting slurmd for $n"
            /usr/sbin/slurmd -N "$n"
        fi
    done
}

stop_daemons() {
    local f
    for f in "$STATE_DIR"/slurmd-*.pid "$STATE_DIR/slurmctld.pid"; do
        if pid_alive "$f"; then kill "$(cat "$f")" 2>/dev/null || true; fi
    done
    for _ in $(seq 100); do
        local alive=0
        for f in "$STATE_DIR"/slurmd-*.pid "$STATE_DIR/slurmctld.pid"; do
            pid_alive "$f" && alive=1
        done
        [ $alive = 0 ] && return 0
        sleep 0.1
    done
}

wait_ready() {
    # The controller answers, and every node has registered with a running slurmd.
    local n deadline=$((SECONDS + 60))
    while [ $SECONDS -lt $deadline ]; do
        local ok=1
        if ! sinfo -h >/dev/null 2>&1; then ok=0; fi
        if [ $ok = 1 ]; then
            for n in $NODES; do
                local info
                info=$(scontrol show node "$n" 2>/dev/null || true)
                if ! grep -q 'SlurmdStartTime=[0-9]' <<<"$info"; then ok=0; break; fi
                if grep -Eq 'State=[A-Z+]*(DRAIN|DOWN)' <<<"$info"; then
                    scontrol update nodename="$n" state=resume >/dev/null 2>&1 || true
                    ok=0
                fi
            done
        fi
        [ $ok = 1 ] && return 0
        sleep 0.2
    done
    echo "the cluster did not become ready; see $LOG_DIR" >&2
    sinfo -N -l >&2 || true
    exit 1
}

if [ "${1:-}" = "--stop" ]; then
    stop_daemons
    exit 0
fi

install_packages
create_users
CONFIG_CHANGED=0
write_config
start_munge
start_slurm
wait_ready
log "cluster is up: $(sinfo -h -o '%P' | tr '\n' ' ')"
