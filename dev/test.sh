#!/usr/bin/env bash
# Run the whole test suite: lint, unit tests, and the integration and browser
# tests against a real JupyterHub on the local Slurm cluster, with JupyterHub 6
# and again (integration and browser tests) with JupyterHub 5. Run as root on Debian 12.
#
#   dev/test.sh                 # everything
#   dev/test.sh -k restart      # extra arguments go to pytest (JupyterHub 6 run only)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
MOSS_DEV_ROOT=${MOSS_DEV_ROOT:-/opt/moss-dev}

"$here/setup.sh"

cd "$repo"
export MOSS_DEV_ROOT
export MOSS_REQUIRE_CLUSTER=1
export PYTHONDONTWRITEBYTECODE=1
export PATH="$MOSS_DEV_ROOT/node/node_modules/.bin:$PATH"

"$here/cancel-leftovers.sh"

echo "== lint (ruff)"
lint_paths=$(ls -d jupyterhub_moss tests bench dev 2>/dev/null || true)
"$MOSS_DEV_ROOT/jh6/bin/ruff" check $lint_paths
"$MOSS_DEV_ROOT/jh6/bin/ruff" format --check $lint_paths

echo "== JupyterHub 6: all tests"
MOSS_HUB_VENV="$MOSS_DEV_ROOT/jh6" "$MOSS_DEV_ROOT/jh6/bin/python" -m pytest -p no:cacheprovider "$@"

if [ $# -eq 0 ]; then
    echo "== JupyterHub 5: integration and browser tests"
    MOSS_ARTIFACTS="$repo/test-artifacts/jupyterhub5" MOSS_HUB_VENV="$MOSS_DEV_ROOT/jh5" \
        "$MOSS_DEV_ROOT/jh5/bin/python" -m pytest -p no:cacheprovider \
        -m "cluster and not slow"
fi
