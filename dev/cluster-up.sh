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
#   node5          32 CPUs,  64 GB, 2 fake GPUs of type A100-SXM4-40GB and 3 MIG
#                  slices of type a100_1g.5gb (a second and third GPU type)
# Partitions:
#   cpu    node[1-2]      MaxTime 12:00:00  (default)
#   gpu    node3          MaxTime 01:00:00
#   long   node[1-2,4]    MaxTime 2-00:00:00 (two kinds of nodes)
#   debug  node4          MaxTime 00:30:00
#   gpumix node[3,5]      MaxTime 02:00:00  (three GPU types)
# Users: moss-demo, and moss01 .. moss16 for the tests and benchmarks.
#
# Accounting (MOSS_ACCOUNTING=1, the default): MariaDB and slurmdbd, run as the
# slurm user as plain daemons (MariaDB with its own data folder, its socket only,
# no password), and AccountingStorageEnforce=associations,limits,qos. What it holds:
#   accounts   moss (every dev user; their default), proj1 (moss-demo, moss01,
#              moss02), proj2 (moss01), physics (moss03, on partition debug only)
#   QOS        normal; short (MaxWall 00:30:00, DenyOnLimit: refused at submission);
#              capped (MaxWall 00:20:00, no DenyOnLimit: such a job pends for ever)
#   proj1 may use QOS normal, short and capped (default normal); the others normal.
# MOSS_ACCOUNTING=0 leaves accounting out (accounting_storage/none): the cluster
# without slurmdbd that the Slurm 24.11 run tests against.
#
# /etc/moss-dev/cluster.env, when it exists, may set the cluster's name and ports
# (MOSS_CLUSTER_NAME, MOSS_SLURMCTLD_PORT, MOSS_SLURMD_PORT, MOSS_NODE_PORT_BASE), and
# MOSS_SLURMCTLD_PARAMETERS (slurm.conf's SlurmctldParameters, none by default):
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
SLURMDBD_PORT=${MOSS_SLURMDBD_PORT:-16819}
MOSS_ACCOUNTING=${MOSS_ACCOUNTING:-1}
# SlurmctldParameters, if any (the 24.11 cluster turns on the per-user RPC rate limit)
SLURMCTLD_PARAMETERS=${MOSS_SLURMCTLD_PARAMETERS:-}
CONF_DIR=/etc/slurm
STATE_DIR=/var/lib/moss-dev/slurm
LOG_DIR=/var/log/moss-dev
NODES="node1 node2 node3 node4 node5"
DB_DIR=/var/lib/moss-dev/mariadb
DB_SOCKET=$DB_DIR/mariadb.sock

log() { printf '[cluster-up] %s\n' "$*" >&2; }

if [ "$(id -u)" != 0 ]; then
    echo "cluster-up.sh must run as root" >&2
    exit 1
fi

install_packages() {
    local missing=()
    local packages=(slurmctld slurmd slurm-client munge sudo)
    for cmd in slurmctld slurmd sinfo munged sudo; do
        command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
    done
    if [ "$MOSS_ACCOUNTING" = 1 ]; then
        # The server's core is enough for a database of one's own (no init scripts).
        packages+=(mariadb-server-core mariadb-client-core slurmdbd)
        for cmd in mariadbd mariadb-install-db slurmdbd; do
            [ -x "/usr/sbin/$cmd" ] || [ -x "/usr/bin/$cmd" ] || missing+=("$cmd")
        done
    fi
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing Slurm and munge (missing: ${missing[*]})"
    # Keep the packages' install scripts from starting daemons through init scripts.
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${packages[@]}" >/dev/null
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
    for i in 0 1 2 3 4 5 6; do
        [ -c "$STATE_DIR/gpu/fake$i" ] || { rm -f "$STATE_DIR/gpu/fake$i"; mknod "$STATE_DIR/gpu/fake$i" c 1 3; }
    done
    for n in $NODES; do
        grep -q "\\b$n\\b" /etc/hosts || echo "127.0.0.1 $n" >>/etc/hosts
    done
    local accounting="AccountingStorageType=accounting_storage/none"
    if [ "$MOSS_ACCOUNTING" = 1 ]; then
        accounting="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$SLURMDBD_PORT
AccountingStorageEnforce=associations,limits,qos"
    fi

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
${SLURMCTLD_PARAMETERS:+SlurmctldParameters=$SLURMCTLD_PARAMETERS}
SchedulerType=sched/backfill
$accounting
MailProg=/bin/true
EnforcePartLimits=ALL
ReturnToService=2
MinJobAge=300
KillWait=5
# Servers of a class on one loaded core may take a while to die: not a node fault.
UnkillableStepTimeout=180
GresTypes=gpu
MpiDefault=none
NodeName=node[1-2] NodeHostname=$host NodeAddr=127.0.0.1 Port=[$((p + 1))-$((p + 2))] CPUs=28 RealMemory=64000 State=UNKNOWN
NodeName=node3 NodeHostname=$host NodeAddr=127.0.0.1 Port=$((p + 3)) CPUs=128 RealMemory=256000 Gres=gpu:V100-SXM2-32GB:2 State=UNKNOWN
NodeName=node4 NodeHostname=$host NodeAddr=127.0.0.1 Port=$((p + 4)) CPUs=64 RealMemory=128000 State=UNKNOWN
NodeName=node5 NodeHostname=$host NodeAddr=127.0.0.1 Port=$((p + 5)) CPUs=32 RealMemory=64000 Gres=gpu:A100-SXM4-40GB:2,gpu:a100_1g.5gb:3 State=UNKNOWN
PartitionName=cpu Nodes=node[1-2] MaxTime=12:00:00 Default=YES State=UP
PartitionName=gpu Nodes=node3 MaxTime=01:00:00 State=UP
PartitionName=long Nodes=node[1-2],node4 MaxTime=2-00:00:00 State=UP
PartitionName=debug Nodes=node4 MaxTime=00:30:00 State=UP
PartitionName=gpumix Nodes=node[3,5] MaxTime=02:00:00 State=UP
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
NodeName=node5 Name=gpu Type=A100-SXM4-40GB File=$STATE_DIR/gpu/fake2
NodeName=node5 Name=gpu Type=A100-SXM4-40GB File=$STATE_DIR/gpu/fake3
NodeName=node5 Name=gpu Type=a100_1g.5gb File=$STATE_DIR/gpu/fake4
NodeName=node5 Name=gpu Type=a100_1g.5gb File=$STATE_DIR/gpu/fake5
NodeName=node5 Name=gpu Type=a100_1g.5gb File=$STATE_DIR/gpu/fake6
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

# MariaDB for slurmdbd: its own data folder, its socket only (no TCP), no password
# (the slurm user is let in by the unix_socket plugin). mariadbd does not fork.
start_mariadb() {
    mkdir -p "$DB_DIR"
    chown slurm:slurm "$DB_DIR"
    if [ ! -d "$DB_DIR/mysql" ]; then
        log "creating the accounting database's folder"
        mariadb-install-db --no-defaults --user=slurm --datadir="$DB_DIR" \
            --auth-root-authentication-method=socket --skip-test-db >"$LOG_DIR/mariadb-install.log" 2>&1
    fi
    if db_answers; then
        return 0
    fi
    log "starting mariadbd"
    runuser -u slurm -- setsid /usr/sbin/mariadbd --no-defaults --datadir="$DB_DIR" \
        --socket="$DB_SOCKET" --skip-networking --pid-file="$DB_DIR/mariadbd.pid" \
        --log-error="$LOG_DIR/mariadb.log" --innodb-buffer-pool-size=64M \
        --innodb-lock-wait-timeout=900 </dev/null >/dev/null 2>&1 &
    for _ in $(seq 150); do
        db_answers && return 0
        sleep 0.2
    done
    echo "mariadbd did not start; see $LOG_DIR/mariadb.log" >&2
    exit 1
}

db_answers() {
    runuser -u slurm -- mariadb --no-defaults --socket="$DB_SOCKET" -e 'SELECT 1' >/dev/null 2>&1
}

write_slurmdbd_config() {
    local new
    new=$(mktemp)
    cat >"$new" <<CONF
# Written by jupyterhub_moss dev/cluster-up.sh.
AuthType=auth/munge
DbdHost=localhost
DbdPort=$SLURMDBD_PORT
SlurmUser=slurm
PidFile=$STATE_DIR/slurmdbd.pid
LogFile=$LOG_DIR/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StorageLoc=slurm_acct_db
CONF
    if ! cmp -s "$new" "$CONF_DIR/slurmdbd.conf"; then
        install -m 0600 -o slurm -g slurm "$new" "$CONF_DIR/slurmdbd.conf"
        CONFIG_CHANGED=1
    fi
    rm -f "$new"
}

# slurmdbd has no setting for MariaDB's socket: the client library reads it from
# MYSQL_UNIX_PORT (StorageHost=localhost means the socket).
start_slurmdbd() {
    if [ "${CONFIG_CHANGED:-0}" = 1 ] && pid_alive "$STATE_DIR/slurmdbd.pid"; then
        kill "$(cat "$STATE_DIR/slurmdbd.pid")" 2>/dev/null || true
        for _ in $(seq 100); do pid_alive "$STATE_DIR/slurmdbd.pid" || break; sleep 0.1; done
    fi
    if ! pid_alive "$STATE_DIR/slurmdbd.pid"; then
        log "starting slurmdbd"
        env MYSQL_UNIX_PORT="$DB_SOCKET" /usr/sbin/slurmdbd
    fi
    for _ in $(seq 300); do
        sacctmgr -n show cluster >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    echo "slurmdbd does not answer; see $LOG_DIR/slurmdbd.log" >&2
    exit 1
}

# The accounts, users and QOS described at the top, in one sacctmgr process.
load_accounting() {
    if [ "$(sacctmgr -nP show qos capped format=Name 2>/dev/null)" = capped ] &&
        sacctmgr -nP show assoc where user=moss03 account=physics format=Account 2>/dev/null | grep -q physics; then
        return 0
    fi
    log "loading the accounts, users and QOS"
    local users
    users=$(echo $MOSS_DEV_USERS | tr ' ' ',')
    sacctmgr -i >"$LOG_DIR/sacctmgr-load.log" 2>&1 <<CMDS || true
add cluster $CLUSTER_NAME
add qos short MaxWall=00:30:00 Flags=DenyOnLimit
add qos capped MaxWall=00:20:00
add account moss,proj1,proj2,physics Cluster=$CLUSTER_NAME
modify account where name=proj1 set QOS=normal,short,capped DefaultQOS=normal
add user $users Account=moss DefaultAccount=moss Cluster=$CLUSTER_NAME
add user moss01,moss02,moss-demo Account=proj1 Cluster=$CLUSTER_NAME
add user moss01 Account=proj2 Cluster=$CLUSTER_NAME
add user moss03 Account=physics Partition=debug Cluster=$CLUSTER_NAME
CMDS
    if [ "$(sacctmgr -nP show qos capped format=Name 2>/dev/null)" != capped ]; then
        echo "could not load the accounts; see $LOG_DIR/sacctmgr-load.log" >&2
        exit 1
    fi
}

stop_accounting() {
    local f
    for f in "$STATE_DIR/slurmdbd.pid" "$DB_DIR/mariadbd.pid"; do
        if pid_alive "$f"; then
            kill "$(cat "$f")" 2>/dev/null || true
            for _ in $(seq 100); do pid_alive "$f" || break; sleep 0.1; done
        fi
    done
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
    stop_accounting
    exit 0
fi

install_packages
create_users
CONFIG_CHANGED=0
write_config
start_munge
if [ "$MOSS_ACCOUNTING" = 1 ]; then
    start_mariadb
    write_slurmdbd_config
    start_slurmdbd
    load_accounting
elif pid_alive "$STATE_DIR/slurmdbd.pid"; then
    stop_accounting
fi
start_slurm
wait_ready
log "cluster is up: $(sinfo -h -o '%P' | tr '\n' ' ')"
