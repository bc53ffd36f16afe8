#!/usr/bin/env bash
# Benchmark this project against jupyterhub-moss 10.1.0 (on batchspawner 1.3.0) on the
# local Slurm cluster, side by side, with the same JupyterHub and partitions. As root.
#
#   bench/run.sh                 # everything (about 25 minutes); writes docs/benchmarks.md
#   bench/run.sh --window 20     # shorter measuring windows
#   bench/run.sh --controller    # slurmctld's time per minute with a big queue (bench/controller.py)
#   bench/run.sh --controller-slurm24   # the same on Slurm 24.11, in its chroot (dev/slurm24-up.sh)
#   bench/run.sh --pageview      # a spawn page view's render time and Slurm calls (bench/pageview.py)
#   bench/run.sh --burst         # 32 and 64 users pressing Start at once, both side by side (bench/burst.py)
#
# Not part of the test suite.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
MOSS_DEV_ROOT=${MOSS_DEV_ROOT:-/opt/moss-dev}
export MOSS_DEV_ROOT

if [ "${1:-}" = --controller-slurm24 ]; then
    shift
    # Clients must match the controller's version: the hubs, their environments and
    # the bench itself run inside the chroot (its own /opt/moss-dev).
    "$repo/dev/slurm24-up.sh"
    "$repo/dev/slurm24-run.sh" bash -c '
        set -e
        theirs=/opt/moss-dev/bench-moss10
        if [ ! -x "$theirs/bin/batchspawner-singleuser" ]; then
            echo "[bench] building $theirs in the chroot" >&2
            rm -rf "$theirs"
            /usr/bin/python3 -m venv "$theirs"
            "$theirs/bin/pip" install -q --disable-pip-version-check \
                --cert /etc/ssl/certs/ca-certificates.crt \
                "jupyterhub==6.1.1" jupyterlab "jupyterhub-moss==10.1.0" "batchspawner==1.3.0"
            chmod -R a+rX "$theirs"
        fi'
    exec "$repo/dev/slurm24-run.sh" /opt/moss-dev/jh6/bin/python -m bench.controller "$@"
fi

MOSS_HUB_VERSIONS="jh6=6.1.1" "$repo/dev/setup.sh"
"$repo/dev/cancel-leftovers.sh"

if [ "${1:-}" = --pageview ]; then
    shift
    export PATH="$MOSS_DEV_ROOT/node/node_modules/.bin:$PATH"
    cd "$repo"
    exec "$MOSS_DEV_ROOT/jh6/bin/python" -m bench.pageview "$@"
fi

if ! command -v wrk >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null
fi

# jupyterhub-moss 10.1.0 in an environment of its own; its jobs start from it too.
theirs="$MOSS_DEV_ROOT/bench-moss10"
if [ ! -x "$theirs/bin/batchspawner-singleuser" ]; then
    echo "[bench] building $theirs" >&2
    rm -rf "$theirs"
    /usr/bin/python3 -m venv "$theirs"
    "$theirs/bin/pip" install -q --disable-pip-version-check \
        "jupyterhub==6.1.1" jupyterlab "jupyterhub-moss==10.1.0" "batchspawner==1.3.0"
    chmod -R a+rX "$theirs"
fi

export PATH="$MOSS_DEV_ROOT/node/node_modules/.bin:$PATH"
cd "$repo"
if [ "${1:-}" = --controller ]; then
    shift
    exec "$MOSS_DEV_ROOT/jh6/bin/python" -m bench.controller "$@"
fi
if [ "${1:-}" = --burst ]; then
    shift
    exec "$MOSS_DEV_ROOT/jh6/bin/python" -m bench.burst "$@"
fi
exec "$MOSS_DEV_ROOT/jh6/bin/python" -m bench.steady "$@"
