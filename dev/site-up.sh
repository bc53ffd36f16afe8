#!/usr/bin/env bash
# A centre's layout on this one machine, next to the main test cluster: a hub's
# host and two compute nodes, each a network namespace of its own behind a
# firewall, joined by a bridge, with a Slurm cluster of their own.
#
#   dev/site-up.sh            # build what is missing and start it (again: a check)
#   dev/site-up.sh --stop     # stop its daemons and remove the namespaces
#   dev/site-up.sh --accounts # only the accounts: moss-hub, and moss01-16 in moss-site-users
#
# Hosts (bridge mossbr0, 10.77.0.0/24; each a network namespace, and a UTS namespace
# with its own host name):
#   10.77.0.1   this machine's own namespace: slurmctld, and the users' browsers
#   10.77.0.10  namespace moss-hub: where the tests run JupyterHub, as the ordinary
#               account moss-hub, with the sudo rules 'jupyterhub-moss sudoers' prints
#   10.77.0.11  namespace moss-site1: slurmd of node site1 (port 36818)
#   10.77.0.12  namespace moss-site2: slurmd of node site2 (port 36818)
# Firewall (nftables, in each namespace, incoming; everything else dropped):
#   nodes: slurmd's port from the controller; 41000-41999 (the servers) from the
#          hub's host only
#   hub:   everything from 10.77.0.1 (browsers, admins); 18100-18199 (the hub's API
#          port of the tests' hubs) from the nodes
# Slurm: its own slurmctld (port 36817, /etc/moss-dev/site/slurm.conf, so
# SLURM_CONF must name it), partition "site" = site[1-2]; accounting in the main
# cluster's slurmdbd when it runs one (cluster mosssite; accounts moss and proj1),
# else none; the machine's munged, whose socket is a file and so reaches every namespace.
# Jobs run in their node's namespace: a server listens on the node's address, and
# reaches the hub at 10.77.0.10.
#
# What it costs: two more slurmd and one slurmctld (a few MB each), a bridge and
# three veth pairs; it starts in about 2 s.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CONF=/etc/moss-dev/site
STATE=/var/lib/moss-dev/site
LOG_DIR=/var/log/moss-dev
BRIDGE=mossbr0
NET=10.77.0
CTLD_PORT=36817
SLURMD_PORT=36818
HUB_ACCOUNT=moss-hub
USERS_GROUP=moss-site-users
NODES="site1 site2"
UTS_DIR=/run/moss-site # the hosts' UTS namespaces (their host names), bound to files

log() { echo "[site-up] $*"; }
pid_alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop_daemons() {
    local f
    for f in "$STATE"/slurmd-*.pid "$STATE/slurmctld.pid"; do
        if pid_alive "$f"; then kill "$(cat "$f")" 2>/dev/null || true; fi
    done
    for _ in $(seq 100); do
        local alive=0
        for f in "$STATE"/slurmd-*.pid "$STATE/slurmctld.pid"; do pid_alive "$f" && alive=1; done
        [ $alive = 0 ] && return 0
        sleep 0.1
    done
}

stop_site() {
    stop_daemons
    for ns in moss-hub moss-site1 moss-site2; do
        ip netns del "$ns" 2>/dev/null || true
        umount "$UTS_DIR/$ns" 2>/dev/null || true
        rm -f "$UTS_DIR/$ns"
    done
    ip link del "$BRIDGE" 2>/dev/null || true
}

if [ "${1:-}" = "--stop" ]; then
    stop_site
    exit 0
fi

# -- accounts -------------------------------------------------------------------
make_accounts() {
    getent group "$USERS_GROUP" >/dev/null || groupadd "$USERS_GROUP"
    local i groups
    for i in $(seq -f '%02g' 1 16); do
        groups=" $(id -nG "moss$i") "
        [[ $groups == *" $USERS_GROUP "* ]] || usermod -a -G "$USERS_GROUP" "moss$i"
    done
    id "$HUB_ACCOUNT" >/dev/null 2>&1 ||
        useradd --system --create-home --home-dir "/var/lib/$HUB_ACCOUNT" --shell /usr/sbin/nologin "$HUB_ACCOUNT"
}
if [ "${1:-}" = "--accounts" ]; then # the accounts alone (an unprivileged test hub)
    make_accounts
    exit 0
fi

command -v nft >/dev/null || {
    log "installing nftables"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nftables >/dev/null
}
command -v slurmctld >/dev/null || {
    echo "run dev/cluster-up.sh first (Slurm and munge)" >&2
    exit 1
}
make_accounts

# -- network --------------------------------------------------------------------
netns() { # NAME ADDRESS
    local name=$1 address=$2 veth=v${1#moss-} listed addresses
    # (Output read whole, then matched: "| grep -q" under pipefail fails at random,
    # when grep's early exit cuts the writer off.)
    listed=$(ip netns list)
    if [[ " ${listed//$'\n'/ } " == *" $name "* ]]; then
        addresses=$(ip -n "$name" -o addr show dev eth0 2>/dev/null || true)
        [[ $addresses == *" $address/"* ]] && return 0
        ip netns del "$name" # left half made
    fi
    # A daemon of the old namespace would go on in it, cut off: it is started anew.
    if pid_alive "$STATE/slurmd-${name#moss-}.pid"; then
        kill "$(cat "$STATE/slurmd-${name#moss-}.pid")" 2>/dev/null || true
        for _ in $(seq 100); do pid_alive "$STATE/slurmd-${name#moss-}.pid" || break; sleep 0.1; done
    fi
    # A namespace deleted while a process still held it keeps its pair alive.
    ip link del "$veth" 2>/dev/null || true
    ip netns add "$name"
    ip link add "$veth" type veth peer name eth0 netns "$name"
    ip link set "$veth" master "$BRIDGE" up
    ip -n "$name" link set lo up
    ip -n "$name" addr add "$address/24" dev eth0
    ip -n "$name" link set eth0 up
    ip -n "$name" route add default via "$NET.1"
}
if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
    ip addr add "$NET.1/24" dev "$BRIDGE"
    ip link set "$BRIDGE" up
fi
# Each host's own host name: a UTS namespace, kept by a bind mount on a file.
uts() { # NAME HOSTNAME
    local file=$UTS_DIR/$1
    mkdir -p "$UTS_DIR"
    if [ -e "$file" ] && [ "$(nsenter --uts="$file" hostname 2>/dev/null)" = "$2" ]; then
        return 0
    fi
    umount "$file" 2>/dev/null || true
    touch "$file"
    unshare --uts="$file" hostname "$2"
}
uts moss-hub moss-hub
uts moss-site1 site1
uts moss-site2 site2
netns moss-hub "$NET.10"
netns moss-site1 "$NET.11"
netns moss-site2 "$NET.12"
for n in $NODES; do
    grep -q "\\b$n\\b" /etc/hosts || echo "$NET.1${n#site} $n" >>/etc/hosts
done
grep -q "\\bmoss-hub\\b" /etc/hosts || echo "$NET.10 moss-hub" >>/etc/hosts
# Another name of the hub's host, on a line of its own (so that it is not the host's
# canonical name), which JupyterHub's certificates do not carry: the tests of
# internal_ssl call the hub by it.
grep -q "\\bmosshub-alias\\b" /etc/hosts || echo "$NET.10 mosshub-alias" >>/etc/hosts

firewall() { # NAMESPACE RULES...
    local ns=$1
    shift
    ip netns exec "$ns" nft -f - <<NFT
flush ruleset
table inet moss {
    chain input {
        type filter hook input priority 0; policy drop;
        iif lo accept
        ct state established,related accept
        icmp type echo-request accept
$(printf '        %s\n' "$@")
    }
}
NFT
}
for n in $NODES; do
    firewall "moss-$n" \
        "ip saddr $NET.1 tcp dport $SLURMD_PORT accept" \
        "ip saddr $NET.10 tcp dport 41000-41999 accept"
done
firewall moss-hub \
    "ip saddr $NET.1 accept" \
    "ip saddr { $NET.11, $NET.12 } tcp dport 18100-18199 accept"

# -- Slurm ----------------------------------------------------------------------
mkdir -p "$CONF" "$STATE/ctld" "$LOG_DIR"
# Accounting: the main cluster's slurmdbd, when it has one (dev/cluster-up.sh), keeps
# this cluster's associations too, under its own cluster name.
accounting="AccountingStorageType=accounting_storage/none"
main_conf=$(cat /etc/slurm/slurm.conf 2>/dev/null || true)
if [[ $main_conf == *accounting_storage/slurmdbd* ]]; then
    # At this machine's address on the bridge: "localhost" on the hub's host is the
    # hub's host itself, where sacctmgr would find no slurmdbd.
    accounting="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=$NET.1
$(grep -E '^AccountingStoragePort=' <<<"$main_conf" || true)
AccountingStorageEnforce=associations,limits,qos"
fi
chown slurm: "$STATE/ctld"
cat >"$CONF/slurm.conf.new" <<CONF
# Written by jupyterhub_moss dev/site-up.sh: the hosts of a centre, as namespaces.
ClusterName=mosssite
SlurmctldHost=$(hostname)($NET.1)
SlurmUser=slurm
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d-%n
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd-%n.pid
SlurmctldLogFile=$LOG_DIR/site-slurmctld.log
SlurmdLogFile=$LOG_DIR/site-slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=500
SlurmdParameters=config_overrides
SchedulerParameters=batch_sched_delay=0
$accounting
MailProg=/bin/true
ReturnToService=2
MinJobAge=300
KillWait=5
MpiDefault=none
NodeName=site1 NodeAddr=$NET.11 CPUs=8 RealMemory=16000 State=UNKNOWN
NodeName=site2 NodeAddr=$NET.12 CPUs=8 RealMemory=16000 State=UNKNOWN
PartitionName=site Nodes=site[1-2] MaxTime=02:00:00 Default=YES State=UP
CONF
if ! cmp -s "$CONF/slurm.conf.new" "$CONF/slurm.conf"; then
    mv "$CONF/slurm.conf.new" "$CONF/slurm.conf"
    stop_daemons # they run with the old configuration
else
    rm -f "$CONF/slurm.conf.new"
fi
chmod 0644 "$CONF/slurm.conf"
export SLURM_CONF=$CONF/slurm.conf
# The associations (before slurmctld, which must find its cluster): every test user
# in account moss; moss01 and moss02 also in proj1, with QOS normal, short and capped
# (dev/cluster-up.sh makes the QOS).
site_assoc() { sacctmgr -nP show assoc where cluster=mosssite user=moss02 account=proj1 format=QOS 2>/dev/null || true; }
if [[ $accounting == *slurmdbd* && $(site_assoc) != *short* ]]; then
    log "loading the site's associations"
    sacctmgr -i >"$LOG_DIR/site-sacctmgr.log" 2>&1 <<CMDS || true
add cluster mosssite
add account moss,proj1 Cluster=mosssite
modify account where name=proj1 cluster=mosssite set QOS=normal,short,capped DefaultQOS=normal
add user $(seq -f 'moss%02g' -s , 1 16) Account=moss DefaultAccount=moss Cluster=mosssite
add user moss01,moss02 Account=proj1 Cluster=mosssite
CMDS
    [[ $(site_assoc) == *short* ]] || {
        echo "could not load the site's associations; see $LOG_DIR/site-sacctmgr.log" >&2
        exit 1
    }
fi
pid_alive "$STATE/slurmctld.pid" || {
    log "starting slurmctld"
    /usr/sbin/slurmctld
}
for n in $NODES; do
    # One left running in a namespace since deleted is cut off: it is started anew.
    if pid_alive "$STATE/slurmd-$n.pid" && {
        [ "$(ip netns identify "$(cat "$STATE/slurmd-$n.pid")")" != "moss-$n" ] ||
            [ "$(readlink "/proc/$(cat "$STATE/slurmd-$n.pid")/ns/uts")" != "uts:[$(stat -L -c %i "$UTS_DIR/moss-$n")]" ]
    }; then
        log "slurmd of $n runs outside namespace moss-$n: starting it again"
        kill "$(cat "$STATE/slurmd-$n.pid")" 2>/dev/null || true
        for _ in $(seq 100); do pid_alive "$STATE/slurmd-$n.pid" || break; sleep 0.1; done
    fi
    pid_alive "$STATE/slurmd-$n.pid" || {
        log "starting slurmd for $n in namespace moss-$n"
        mkdir -p "$STATE/d-$n"
        # nsenter, not "ip netns exec": that one mounts a /sys of its own, without
        # the cgroup file system slurmd looks for.
        nsenter --net="/run/netns/moss-$n" --uts="$UTS_DIR/moss-$n" /usr/sbin/slurmd -N "$n"
    }
done
deadline=$((SECONDS + 60))
while :; do
    ready=1
    for n in $NODES; do
        info=$(scontrol show node "$n" 2>/dev/null || true)
        grep -q 'SlurmdStartTime=[0-9]' <<<"$info" || ready=0
        if grep -Eq 'State=[A-Z+]*(DRAIN|DOWN)' <<<"$info"; then
            scontrol update nodename="$n" state=resume >/dev/null 2>&1 || true
            ready=0
        fi
    done
    [ $ready = 1 ] && break
    if [ $SECONDS -ge $deadline ]; then
        echo "the site's nodes did not register; see $LOG_DIR/site-*.log" >&2
        sinfo -N -l >&2 || true
        exit 1
    fi
    sleep 0.2
done
log "site is up: hub 10.77.0.10 (moss-hub), nodes $(sinfo -h -N -o '%N' | sort -u | tr '\n' ' ')"
: "$here"
