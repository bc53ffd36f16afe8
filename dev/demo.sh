#!/usr/bin/env bash
# The demo: bring up the local Slurm cluster and serve JupyterHub with
# MOSlurmSpawner on http://127.0.0.1:8000 (as root, on Debian 12).
#
# Log in as moss-demo (or moss01 .. moss16) with the password "moss-demo-password".
# Stop with Ctrl-C; servers keep running as Slurm jobs and are found again on the
# next start. dev/cluster-down.sh cancels them and stops the cluster.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MOSS_DEV_ROOT=${MOSS_DEV_ROOT:-/opt/moss-dev}
export MOSS_DEV_ROOT
MOSS_HUB_VERSIONS="jh6=6.1.1" MOSS_NO_BROWSER=1 "$here/setup.sh"

workdir=/var/lib/moss-dev/demo
mkdir -p "$workdir"
cd "$workdir"
export PATH="$MOSS_DEV_ROOT/node/node_modules/.bin:$MOSS_DEV_ROOT/jh6/bin:$PATH"
export MOSS_DEV_VENV="$MOSS_DEV_ROOT/jh6"
echo "== JupyterHub on http://127.0.0.1:${MOSS_DEMO_PORT:-8000}/ : log in as moss-demo, password moss-demo-password"
exec jupyterhub -f "$here/jupyterhub_config.py"
