#!/usr/bin/env bash
# Prepare this machine for the demo and the tests. Run as root on Debian 12.
#
#  - the local Slurm cluster (dev/cluster-up.sh)
#  - Python environments with JupyterHub 6 and 5, JupyterLab and this package,
#    readable by the cluster's users since their jobs start servers from them
#  - configurable-http-proxy, and Chromium for the browser tests
#
# Safe to run again: what is already there is kept, and this package is
# reinstalled from the working tree.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
MOSS_DEV_ROOT=${MOSS_DEV_ROOT:-/opt/moss-dev}
# JupyterHub releases the environments are built with: name=version
MOSS_HUB_VERSIONS=${MOSS_HUB_VERSIONS:-"jh6=6.1.1 jh5=5.5.4"}

log() { printf '[setup] %s\n' "$*" >&2; }

if [ "$(id -u)" != 0 ]; then
    echo "setup.sh must run as root" >&2
    exit 1
fi

apt_install() {
    local missing=() pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing Debian packages: ${missing[*]}"
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    rm -f /usr/sbin/policy-rc.d
}

# charliecloud-runtime: ch-run, for the container tests.
packages=(python3 python3-venv python3-dev gcc sudo procps ca-certificates charliecloud-runtime)
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)
[ "${MOSS_NO_BROWSER:-0}" = 1 ] || packages+=(chromium)
apt_install "${packages[@]}"

"$here/cluster-up.sh"

umask 022
mkdir -p "$MOSS_DEV_ROOT"
chmod 755 "$MOSS_DEV_ROOT"

if [ ! -x "$MOSS_DEV_ROOT/node/node_modules/.bin/configurable-http-proxy" ]; then
    log "installing configurable-http-proxy"
    npm install --silent --no-audit --no-fund --prefix "$MOSS_DEV_ROOT/node" configurable-http-proxy@5 >/dev/null
fi

stamp_of() {
    # Rebuild an environment when the project's dependencies change.
    cat "$repo/pyproject.toml" "$here/setup.sh" | sha256sum | cut -c1-16
}

for spec in $MOSS_HUB_VERSIONS; do
    name=${spec%%=*}
    version=${spec#*=}
    venv="$MOSS_DEV_ROOT/$name"
    stamp="$venv/.moss-stamp"
    want="$version-$(stamp_of)"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        log "building $venv with JupyterHub $version"
        rm -rf "$venv"
        /usr/bin/python3 -m venv "$venv"
        "$venv/bin/pip" install -q --disable-pip-version-check -U pip
        # batchspawner: only to test that its API endpoint is disabled.
        "$venv/bin/pip" install -q --disable-pip-version-check \
            "jupyterhub==$version" jupyterlab "batchspawner==1.3.0" "$repo[test]"
        echo "$want" >"$stamp"
    fi
    log "installing jupyterhub_moss from $repo into $venv"
    "$venv/bin/pip" install -q --disable-pip-version-check --no-deps --force-reinstall "$repo"
    chmod -R a+rX "$venv"
done
log "ready: $(for spec in $MOSS_HUB_VERSIONS; do printf '%s ' "$MOSS_DEV_ROOT/${spec%%=*}"; done)"
