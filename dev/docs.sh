#!/usr/bin/env bash
# Build the documentation site and check the links inside it. Run as root on Debian 12.
#
#   dev/docs.sh [OUT]      # OUT defaults to docs/_build/html
#
# The first run creates a Python environment at $MOSS_DEV_ROOT/docs with the
# pinned tools of docs/requirements.txt and this package with its dependencies
# (autodoc imports it to read its settings' help). Later runs reuse it until
# docs/requirements.txt changes, and take a few seconds.
#
# Sphinx runs with -W --keep-going -n: any warning, and any link inside the site
# that does not resolve (dev/check_doc_links.py), makes this script fail.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
MOSS_DEV_ROOT=${MOSS_DEV_ROOT:-/opt/moss-dev}
venv="$MOSS_DEV_ROOT/docs"
out=${1:-"$repo/docs/_build/html"}

log() { printf '[docs] %s\n' "$*" >&2; }

started=$(date +%s)
if [ ! -x /usr/bin/python3 ] || ! /usr/bin/python3 -c "import ensurepip, venv" >/dev/null 2>&1; then
    [ "$(id -u)" = 0 ] || { echo "docs.sh: needs python3 and python3-venv (run as root)" >&2; exit 1; }
    log "installing Debian packages: python3 python3-venv"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        python3 python3-venv >/dev/null
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_ROOT_USER_ACTION=ignore
want=$(sha256sum <"$repo/docs/requirements.txt" | cut -c1-16)
stamp="$venv/.moss-docs-stamp"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    log "building $venv from docs/requirements.txt and jupyterhub_moss"
    rm -rf "$venv"
    mkdir -p "$MOSS_DEV_ROOT"
    /usr/bin/python3 -m venv "$venv"
    "$venv/bin/pip" install -q -U pip
    "$venv/bin/pip" install -q -r "$repo/docs/requirements.txt" "$repo"
    echo "$want" >"$stamp"
fi

# Sphinx imports the package from this checkout (docs/conf.py puts it first on
# the path); the environment only has to hold its dependencies. Install the
# checkout again, with them, when they no longer do (pyproject.toml changed).
if ! PYTHONPATH="$repo" "$venv/bin/python" -c "import jupyterhub_moss" >/dev/null 2>&1; then
    log "installing jupyterhub_moss from $repo into $venv"
    "$venv/bin/pip" install -q "$repo"
fi

case "$(realpath -m "$out")" in
/ | "$repo" | "$repo/docs" | "$HOME")
    echo "docs.sh: will not build into $out (it is emptied first)" >&2
    exit 2
    ;;
esac
log "sphinx-build -> $out"
rm -rf "$out"
mkdir -p "$out"
# Doctrees apart from the site, so that only the site is published; a full build
# takes a few seconds.
doctrees=$(mktemp -d)
trap 'rm -rf "$doctrees"' EXIT
status=0
"$venv/bin/sphinx-build" -W --keep-going -n -q -b html -d "$doctrees" "$repo/docs" "$out" || status=$?
[ "$status" = 0 ] || log "sphinx-build failed (status $status): see the warnings above"

log "checking the links inside the site"
"$venv/bin/python" "$here/check_doc_links.py" "$out" || status=1

if [ "$status" != 0 ]; then
    log "FAILED after $(($(date +%s) - started)) s"
    exit 1
fi
log "done in $(($(date +%s) - started)) s: $out/index.html"
