#!/usr/bin/env bash
# Build the release as a centre would get it, and test it:
#   1. a clean clone of the repository's HEAD (nothing uncommitted gets in);
#   2. `python -m build`: the sdist and the wheel, then `twine check --strict`;
#   3. a fresh venv with the wheel, its dependencies held at the lower bounds that
#      pyproject.toml declares (so that those bounds are tested, with the oldest
#      JupyterHub 5.x the package supports);
#   4. tests/cluster/test_release.py against that venv: the wheel's contents, the
#      installed versions, and a hub started from the venv (not from the checkout)
#      that spawns a real server on the local cluster.
# Run as root on Debian 12, after dev/setup.sh (the cluster and the dev venvs).
#
#   dev/release-check.sh [pytest arguments]
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
MOSS_DEV_ROOT=${MOSS_DEV_ROOT:-/opt/moss-dev}
work="$MOSS_DEV_ROOT/release"
tools="$MOSS_DEV_ROOT/release-tools"

log() { echo "[release-check] $*"; }

if [ ! -x "$tools/bin/twine" ]; then
    log "building $tools (build, twine)"
    /usr/bin/python3 -m venv "$tools"
    "$tools/bin/pip" install -q --disable-pip-version-check -U pip build twine
fi

rm -rf "$work"
mkdir -p "$work"
if git -C "$repo" rev-parse --git-dir >/dev/null 2>&1; then
    git clone -q --no-local "$repo" "$work/src"
    log "building from a clean clone of $(git -C "$work/src" rev-parse --short HEAD)"
else
    # An unpacked sdist: build from a copy of it.
    cp -a "$repo" "$work/src"
fi

"$tools/bin/python" -m build -q --outdir "$work/dist" "$work/src" >"$work/build.log" 2>&1 || {
    cat "$work/build.log"
    exit 1
}
ls -l "$work/dist"
"$tools/bin/twine" check --strict "$work/dist"/*

# The lower bound of each runtime dependency, as pins.
"$tools/bin/python" - "$work/src/pyproject.toml" >"$work/lowest.txt" <<'PY'
import re
import sys
import tomllib

with open(sys.argv[1], "rb") as f:
    project = tomllib.load(f)["project"]
for requirement in project["dependencies"]:
    name = re.match(r"[A-Za-z0-9_.-]+", requirement).group(0)
    low = re.search(r">=\s*([^,;\s]+)", requirement)
    if low is None:
        sys.exit(f"{requirement!r} has no lower bound")
    print(f"{name}=={low.group(1)}")
PY
log "the lower bounds: $(tr '\n' ' ' <"$work/lowest.txt")"

wheel=$(ls "$work/dist"/*.whl)
/usr/bin/python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q --disable-pip-version-check -c "$work/lowest.txt" "$wheel"
"$work/venv/bin/pip" list --disable-pip-version-check --format=freeze >"$work/installed.txt"

export MOSS_RELEASE_VENV="$work/venv"
export MOSS_RELEASE_DIST="$work/dist"
export MOSS_RELEASE_LOWEST="$work/lowest.txt"
export MOSS_RELEASE_SOURCE="$work/src"
cd "$repo"
"$MOSS_DEV_ROOT/jh6/bin/python" -m pytest -p no:cacheprovider tests/cluster/test_release.py "$@"
