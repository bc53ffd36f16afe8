#!/usr/bin/env bash
# Cancel the jobs of the demo and test users (moss-demo, moss01 .. moss16).
# The tests and benchmarks count and time jobs on the local cluster; jobs that
# an interrupted run, a benchmark or the demo left behind would fill its nodes.
set -uo pipefail
# The same users as dev/cluster-up.sh creates.
MOSS_DEV_USERS=${MOSS_DEV_USERS:-"moss-demo $(printf 'moss%02d ' $(seq 1 16))"}
users=$(echo $MOSS_DEV_USERS | tr ' ' ,)
leftover=$(squeue -h -o %i -u "$users" 2>/dev/null)
if [ -n "$leftover" ]; then
    echo "[cluster] cancelling jobs left by an earlier run: $(echo $leftover)"
    scancel $leftover || true
    for _ in $(seq 1 60); do
        [ -z "$(squeue -h -o %i -u "$users" 2>/dev/null)" ] && break
        sleep 0.5
    done
fi
exit 0
