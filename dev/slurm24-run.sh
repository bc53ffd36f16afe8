#!/usr/bin/env bash
# Run a command inside the Slurm 24.11 chroot (dev/slurm24-up.sh brings it up), in
# this repository (bind-mounted there at /opt/moss-src), with the environment the
# tests expect: e.g.
#
#   dev/slurm24-run.sh /opt/moss-dev/jh6/bin/python -m pytest -m cluster -k restart
#   dev/slurm24-run.sh sinfo
#
# Nothing of the caller's environment goes in but MOSS_ARTIFACTS (a path inside
# the chroot) and the MOSS_*HYPOTHESIS_EXAMPLES counts.
set -euo pipefail

ROOT=${MOSS_CHROOT:-/var/lib/moss-dev/trixie}
SRC=/opt/moss-src

if [ ! -f "$ROOT$SRC/dev/slurm24-run.sh" ]; then
    echo "the chroot $ROOT is not up: run dev/slurm24-up.sh" >&2
    exit 1
fi
[ $# -gt 0 ] || set -- bash

env=(
    PATH=/opt/moss-dev/node/node_modules/.bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    HOME=/root
    LANG=C.UTF-8
    TERM="${TERM:-dumb}"
    PYTHONDONTWRITEBYTECODE=1
    MOSS_DEV_ROOT=/opt/moss-dev
    MOSS_HUB_VENV=/opt/moss-dev/jh6
    MOSS_REQUIRE_CLUSTER=1
    MOSS_ARTIFACTS="${MOSS_ARTIFACTS:-$SRC/test-artifacts/slurm24}"
)
for name in MOSS_HYPOTHESIS_EXAMPLES MOSS_HUB_HYPOTHESIS_EXAMPLES; do
    [ -z "${!name:-}" ] || env+=("$name=${!name}")
done
exec chroot "$ROOT" /usr/bin/env -i -C "$SRC" "${env[@]}" "$@"
