#!/usr/bin/env bash
# Take the local Slurm cluster down: cancel the dev users' jobs, stop slurmd,
# slurmctld and munged. The configuration and users stay; dev/cluster-up.sh
# brings it back in a second.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if sinfo -h >/dev/null 2>&1; then
    for u in moss-demo $(printf 'moss%02d ' $(seq 1 16)); do
        id "$u" >/dev/null 2>&1 && scancel -u "$u" 2>/dev/null || true
    done
fi
"$here/cluster-up.sh" --stop
pkill -x munged 2>/dev/null || true
echo "[cluster-down] stopped"
