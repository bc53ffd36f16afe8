#!/usr/bin/env bash
# A second local Slurm cluster, with Slurm 24.11 from Debian 13 ("trixie"), in a
# chroot on this Debian 12 machine: the integration tests run against Debian 12's
# Slurm 22.05 (dev/cluster-up.sh, on the host) and against this one.
#
#   dev/slurm24-up.sh           # build what is missing, start the cluster (as root)
#   dev/slurm24-up.sh --build   # build what is missing, do not start the cluster
#   dev/slurm24-up.sh --stop    # cancel its jobs, stop its daemons, unmount
#   dev/slurm24-run.sh CMD...   # run a command inside it, in this repository
#
# The chroot (MOSS_CHROOT, default /var/lib/moss-dev/trixie) holds:
#  - Debian 13 minbase with Slurm 24.11, munge, Python 3.13 and Node.js
#  - the cluster of dev/cluster-up.sh (that very script runs inside), with its own
#    name, ports, state, logs, munged and munge key, so both clusters can run at once,
#    and slurmctld's per-user RPC rate limit on (rl_enable), as a centre may have it
#  - the same users, and /opt/moss-dev/jh6: JupyterHub 6, JupyterLab and this
#    package, readable by the users since their jobs run servers from it
#  - this repository, bind-mounted at /opt/moss-src
# Clients and controller must be close in version, so the hub (and the tests) run
# inside too. Safe to run again: what is there is kept (a finished debootstrap
# leaves a stamp), and this package is reinstalled from the working tree.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
ROOT=${MOSS_CHROOT:-/var/lib/moss-dev/trixie}
SUITE=trixie
# Where the host's dev/setup.sh put configurable-http-proxy.
HOST_DEV_ROOT=${MOSS_DEV_ROOT:-/opt/moss-dev}
# Inside the chroot: the same paths as on the host, which the tests expect.
DEV_ROOT=/opt/moss-dev
VENV=$DEV_ROOT/jh6
HUB_VERSION=6.1.1
SRC=/opt/moss-src
STAMP=$ROOT/.moss-debootstrap-done
# Ports next to the host cluster's (16817, 16818, 16819, 17001-17005).
CLUSTER_SETTINGS="MOSS_CLUSTER_NAME=moss24
MOSS_SLURMCTLD_PORT=26817
MOSS_SLURMD_PORT=26818
MOSS_NODE_PORT_BASE=27000
MOSS_ACCOUNTING=0
MOSS_SLURMCTLD_PARAMETERS=rl_enable,rl_log_freq=0"
PACKAGES=(slurmctld slurmd slurm-client munge python3 python3-venv sudo nodejs procps
    ca-certificates hostname)

log() { printf '[slurm24-up] %s\n' "$*" >&2; }

if [ "$(id -u)" != 0 ]; then
    echo "slurm24-up.sh must run as root" >&2
    exit 1
fi

# A command inside the chroot, with a clean environment (nothing of the
# caller's PATH, pip or proxy settings leaks in).
in_chroot() {
    chroot "$ROOT" /usr/bin/env -i \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
}

# The main Debian archive this machine's apt uses: the URI of the first entry for
# the host's own release (not -security or -updates), from deb822 .sources files
# (Debian 12's default) or one-line .list entries.
debian_mirror() {
    local codename files=()
    # shellcheck source=/dev/null
    codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
    shopt -s nullglob
    files=(/etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources)
    shopt -u nullglob
    local f uri=
    for f in "${files[@]}"; do
        [ -f "$f" ] || continue
        case "$f" in
        *.sources)
            uri=$(awk -v want="$codename" '
                function flush() {
                    if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " want " ") && enabled != "no" && uris != "") {
                        split(uris, u, " "); print u[1]; found = 1; exit
                    }
                    types = suites = uris = enabled = ""
                }
                /^[ \t]*#/ { next }
                /^[ \t]*$/ { flush(); next }
                { key = tolower($1); sub(/^[^:]*:[ \t]*/, "") }
                key == "types:" { types = $0 } key == "suites:" { suites = $0 }
                key == "uris:" { uris = $0 } key == "enabled:" { enabled = tolower($0) }
                END { if (!found) flush() }' "$f")
            ;;
        *)
            uri=$(awk -v want="$codename" '
                $1 != "deb" { next }
                { sub(/^deb[ \t]+(\[[^]]*\][ \t]+)?/, ""); if ($2 == want) { print $1; exit } }' "$f")
            ;;
        esac
        if [ -n "$uri" ]; then
            echo "${uri%/}"
            return 0
        fi
    done
    return 1
}

is_mounted() { mountpoint -q "$1"; }

mount_all() {
    local d
    for d in proc sys dev dev/pts; do
        mkdir -p "$ROOT/$d"
        is_mounted "$ROOT/$d" || mount --bind "/$d" "$ROOT/$d"
    done
    # The repository, for the venv and the tests: re-bound when it is another
    # checkout than the one bound before.
    mkdir -p "$ROOT$SRC"
    if is_mounted "$ROOT$SRC" && [ "$(stat -c %d:%i "$repo")" != "$(stat -c %d:%i "$ROOT$SRC")" ]; then
        umount "$ROOT$SRC"
    fi
    is_mounted "$ROOT$SRC" || mount --bind "$repo" "$ROOT$SRC"
}

unmount_all() {
    local d
    for d in "${SRC#/}" dev/pts dev sys proc; do
        if is_mounted "$ROOT/$d"; then
            # A lazy unmount if something still holds it: only the chroot's
            # view of the host's /proc, /sys or /dev goes away.
            umount "$ROOT/$d" 2>/dev/null || umount -l "$ROOT/$d"
        fi
    done
}

# Processes whose root directory is the chroot: its daemons, and jobs or hubs
# left behind. Nothing outside the chroot is ever listed.
chroot_pids() {
    local p root
    root=$(stat -c %d:%i "$ROOT")
    for p in /proc/[0-9]*; do
        [ "$(stat -L -c %d:%i "$p/root" 2>/dev/null)" = "$root" ] && echo "${p#/proc/}"
    done
    return 0
}

stop_all() {
    [ -d "$ROOT" ] || return 0
    if [ -n "$(chroot_pids)" ]; then
        if [ -f "$ROOT$SRC/dev/cluster-up.sh" ] && [ -x "$ROOT/usr/bin/sinfo" ] &&
            in_chroot timeout 10 sinfo -h >/dev/null 2>&1; then
            in_chroot bash "$SRC/dev/cancel-leftovers.sh" || true
        fi
        if [ -f "$ROOT$SRC/dev/cluster-up.sh" ]; then
            log "stopping slurmctld and slurmd"
            in_chroot bash "$SRC/dev/cluster-up.sh" --stop || true
        fi
        local pids
        pids=$(chroot_pids)
        if [ -n "$pids" ]; then
            # munged, and whatever else still runs in there: unmounting needs them gone.
            log "stopping what still runs in the chroot: $(echo "$pids" | tr '\n' ' ')"
            # shellcheck disable=SC2086 # one pid per word
            kill $pids 2>/dev/null || true
            for _ in $(seq 50); do
                [ -z "$(chroot_pids)" ] && break
                sleep 0.1
            done
            pids=$(chroot_pids)
            # shellcheck disable=SC2086
            [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
        fi
    fi
    unmount_all
    log "stopped"
}

if [ "${1:-}" = "--stop" ]; then
    stop_all
    exit 0
fi

t_start=$SECONDS
t_last=$SECONDS
took() {
    log "$1: $((SECONDS - t_last)) s"
    t_last=$SECONDS
}

# -- the Debian 13 base system -------------------------------------------------

make_base() {
    if [ -f "$STAMP" ]; then
        return 0
    fi
    if ! command -v debootstrap >/dev/null 2>&1; then
        log "installing debootstrap"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
    fi
    local mirror=${MOSS_DEBIAN_MIRROR:-}
    if [ -z "$mirror" ] && ! mirror=$(debian_mirror); then
        echo "no Debian archive found in this machine's apt sources; set MOSS_DEBIAN_MIRROR" >&2
        exit 1
    fi
    if [ -e "$ROOT" ]; then
        # An interrupted debootstrap: start again. Unmount first, and never
        # follow a mount out of the chroot.
        log "removing the unfinished $ROOT"
        stop_all
        # --one-file-system does not stop at a bind mount of the same file
        # system (the repository's): refuse while anything is mounted in there.
        if findmnt -rn -o TARGET | grep -q "^$ROOT/"; then
            echo "$ROOT still has mounts; not removing it" >&2
            exit 1
        fi
        rm -rf --one-file-system "$ROOT"
    fi
    log "debootstrap $SUITE from $mirror into $ROOT"
    mkdir -p "$(dirname "$ROOT")"
    debootstrap --variant=minbase "$SUITE" "$ROOT" "$mirror" >"$ROOT.debootstrap.log" 2>&1 || {
        tail -n 20 "$ROOT.debootstrap.log" >&2
        exit 1
    }
    rm -f "$ROOT.debootstrap.log"
    date -u +%FT%TZ >"$STAMP"
    took "debootstrap"
}

configure_chroot() {
    # Package scripts must not start daemons: this script starts them.
    printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
    chmod +x "$ROOT/usr/sbin/policy-rc.d"
    cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
    local host
    host=$(hostname -s)
    # The chroot shares the host's network and host name; its slurm.conf names
    # the nodes and the host, and sudo wants to resolve the host name.
    cat >"$ROOT/etc/hosts" <<HOSTS
127.0.0.1 localhost $host $(hostname)
127.0.0.1 node1 node2 node3 node4 node5
HOSTS
    mkdir -p "$ROOT/etc/moss-dev"
    printf '# Written by dev/slurm24-up.sh: read by dev/cluster-up.sh inside the chroot.\n%s\n' \
        "$CLUSTER_SETTINGS" >"$ROOT/etc/moss-dev/cluster.env"
    # Trust the CAs the host's admin added (a TLS-inspecting proxy in front of
    # PyPI, say): pip inside the chroot then works wherever the host's does.
    local ca_changed=0 crt
    mkdir -p "$ROOT/usr/local/share/ca-certificates"
    for crt in /usr/local/share/ca-certificates/*.crt; do
        [ -f "$crt" ] || continue
        if ! cmp -s "$crt" "$ROOT/usr/local/share/ca-certificates/${crt##*/}"; then
            cp "$crt" "$ROOT/usr/local/share/ca-certificates/"
            ca_changed=1
        fi
    done
    if [ $ca_changed = 1 ] && [ -x "$ROOT/usr/sbin/update-ca-certificates" ]; then
        in_chroot update-ca-certificates >/dev/null
    fi
}

install_packages() {
    local missing=() pkg
    for pkg in "${PACKAGES[@]}"; do
        # shellcheck disable=SC2016 # a dpkg-query format, not a shell expansion
        in_chroot dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
            missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing in the chroot: ${missing[*]}"
    in_chroot apt-get update -qq
    in_chroot apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # ca-certificates' own install ran update-ca-certificates with the host's CAs
    # already in place.
    took "packages"
}

# -- JupyterHub and the proxy inside -------------------------------------------

copy_proxy() {
    # configurable-http-proxy is plain JavaScript: the host's copy (dev/setup.sh
    # installs it with npm) runs on Debian 13's Node.js, without npm in here.
    local from=$HOST_DEV_ROOT/node
    if [ ! -x "$from/node_modules/.bin/configurable-http-proxy" ]; then
        echo "$from has no configurable-http-proxy: run dev/setup.sh first" >&2
        exit 1
    fi
    mkdir -p "$ROOT$DEV_ROOT"
    chmod 755 "$ROOT$DEV_ROOT"
    if ! diff -rq "$from" "$ROOT$DEV_ROOT/node" >/dev/null 2>&1; then
        rm -rf "$ROOT$DEV_ROOT/node"
        cp -a "$from" "$ROOT$DEV_ROOT/node"
        chmod -R a+rX "$ROOT$DEV_ROOT/node"
    fi
}

build_venv() {
    # Rebuild when the project's dependencies, this script or Python change.
    local want
    want="$HUB_VERSION-$(cat "$repo/pyproject.toml" "$here/slurm24-up.sh" "$ROOT/usr/bin/python3" |
        sha256sum | cut -c1-16)"
    # pip checks PyPI's certificate against the system's CAs (with the host's
    # own, see configure_chroot).
    local pip=("$VENV/bin/pip" install -q --disable-pip-version-check --root-user-action=ignore
        --cert /etc/ssl/certs/ca-certificates.crt)
    if [ ! -f "$ROOT$VENV/.moss-stamp" ] || [ "$(cat "$ROOT$VENV/.moss-stamp")" != "$want" ]; then
        log "building $VENV in the chroot with JupyterHub $HUB_VERSION"
        rm -rf "$ROOT$VENV"
        in_chroot /usr/bin/python3 -m venv "$VENV"
        in_chroot "${pip[@]}" -U pip
        # batchspawner: only to test that its API endpoint is disabled.
        in_chroot "${pip[@]}" "jupyterhub==$HUB_VERSION" jupyterlab "batchspawner==1.3.0" \
            "${SRC}[test]"
        echo "$want" >"$ROOT$VENV/.moss-stamp"
        took "venv"
    fi
    in_chroot "${pip[@]}" --no-deps --force-reinstall "$SRC"
    chmod -R a+rX "$ROOT$VENV"
}

make_base
mount_all
configure_chroot
install_packages
copy_proxy
build_venv
took "jupyterhub_moss"
if [ "${1:-}" = "--build" ]; then
    log "built in $((SECONDS - t_start)) s: $ROOT (cluster not started)"
    exit 0
fi
# The cluster: dev/cluster-up.sh inside, with the ports of /etc/moss-dev/cluster.env.
in_chroot bash "$SRC/dev/cluster-up.sh"
took "cluster up"
log "ready in $((SECONDS - t_start)) s: Slurm $(in_chroot sinfo -V | awk '{ print $NF }') in $ROOT"
