#!/usr/bin/env bash
# Run the whole test suite: lint, unit tests, and the integration and browser
# tests against a real JupyterHub on the local Slurm cluster (Debian 12's Slurm
# 22.05) with JupyterHub 6; then the compatibility sets (tests/support/compat_sets.py: the
# tests of the places where behaviour depends on the version) with JupyterHub 5,
# and against Slurm 24.11 in a Debian 13 chroot (dev/slurm24-up.sh). Run as root
# on Debian 12.
#
#   dev/test.sh                 # everything
#   dev/test.sh -k restart      # extra arguments go to pytest (JupyterHub 6 on 22.05 only)
#   MOSS_SLURM24=0 dev/test.sh  # everything but the Slurm 24.11 run
#   MOSS_TEST_HUB_ACCOUNT=moss-hub dev/test.sh  # the tests' hubs as an ordinary account
#
# Each phase prints "== phase NAME: N s" when it is done, and a summary ends the
# output: cluster-slurm22.05 (dev/cluster-up.sh), setup, fresh-homes (the test
# users' homes removed and made again: dev/fresh-homes.sh), lint, docs
# (dev/docs.sh: the site with warnings as errors, and its links),
# chroot-build-slurm24.11 (dev/slurm24-up.sh --build: the chroot, also the
# container tests' image), pytest-jh6-slurm22.05 (every test),
# pytest-jh5-slurm22.05 (the JupyterHub 5 compatibility set), release-wheel
# (dev/release-check.sh: the sdist and the wheel, and a hub from the wheel at the
# lowest dependency versions), chroot-slurm24.11 (dev/slurm24-up.sh: build what is
# missing, start the cluster) and pytest-jh6-slurm24.11 (the Slurm 24.11
# compatibility set). The first phase that fails stops the run, with its exit code.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
MOSS_DEV_ROOT=${MOSS_DEV_ROOT:-/opt/moss-dev}
MOSS_SLURM24=${MOSS_SLURM24:-1}

phases=()          # "NAME: N s" of each finished phase, for the summary
current_phase=     # the phase that runs, if any
phase_start=0
slurm24_started=0

# phase NAME COMMAND...: run COMMAND as one phase and time it. It runs in the
# script's own context, so that set -e stops it at the first failing command
# (in a "cmd || ..." context bash would ignore set -e inside functions).
phase() {
    current_phase=$1
    phase_start=$SECONDS
    shift
    echo "== phase $current_phase"
    "$@"
    echo "== phase $current_phase: $((SECONDS - phase_start)) s"
    phases+=("$current_phase: $((SECONDS - phase_start)) s")
    current_phase=
}

on_exit() {
    local rc=$? line
    if [ -n "$current_phase" ]; then
        echo "== phase $current_phase: $((SECONDS - phase_start)) s, FAILED (exit $rc)"
        phases+=("$current_phase: $((SECONDS - phase_start)) s, FAILED (exit $rc)")
    fi
    if [ "$slurm24_started" = 1 ]; then
        # Leave no second slurmctld running next to the host's.
        "$here/slurm24-up.sh" --stop || true
    fi
    echo "== summary"
    for line in "${phases[@]}"; do
        echo "   $line"
    done
    if [ "$rc" = 0 ]; then
        echo "   total: $SECONDS s, passed"
    else
        echo "   total: $SECONDS s, FAILED (exit $rc)"
    fi
    exit "$rc"
}
trap on_exit EXIT
# Stopped by a signal: the summary says so, and the exit status is the shell's usual one.
trap 'exit 130' INT
trap 'exit 143' TERM

lint() {
    local paths=() p
    for p in jupyterhub_moss tests bench dev; do
        [ -e "$p" ] && paths+=("$p")
    done
    "$MOSS_DEV_ROOT/jh6/bin/ruff" check "${paths[@]}"
    "$MOSS_DEV_ROOT/jh6/bin/ruff" format --check "${paths[@]}"
}

cd "$repo"
# setup.sh brings the cluster up too; first on its own, to time it.
phase cluster-slurm22.05 "$here/cluster-up.sh"
phase setup "$here/setup.sh"

export MOSS_DEV_ROOT
export MOSS_REQUIRE_CLUSTER=1
export PYTHONDONTWRITEBYTECODE=1
export PATH="$MOSS_DEV_ROOT/node/node_modules/.bin:$PATH"

"$here/cancel-leftovers.sh"
# Every run starts the test users from fresh homes, as on a new machine.
phase fresh-homes "$here/fresh-homes.sh"

phase lint lint
# The documentation site, with warnings as errors, and its links inside the site.
phase docs "$here/docs.sh"

if [ "$MOSS_SLURM24" != 0 ]; then
    # The 24.11 chroot is built first: its Debian 13 tree, with JupyterHub inside, is
    # also the container image of the container tests (test_environments.py).
    slurm24_started=1  # unmounted on exit
    phase chroot-build-slurm24.11 "$here/slurm24-up.sh" --build
    export MOSS_CONTAINER_IMAGE=${MOSS_CHROOT:-/var/lib/moss-dev/trixie}
fi

# A run that collects no test (pytest's exit code 5) fails like any other: every
# run below is meant to run tests.
phase pytest-jh6-slurm22.05 \
    env MOSS_HUB_VENV="$MOSS_DEV_ROOT/jh6" \
    "$MOSS_DEV_ROOT/jh6/bin/python" -m pytest -p no:cacheprovider --durations=15 "$@"

if [ $# -gt 0 ]; then
    exit 0
fi

# JupyterHub 5 and Slurm 24.11 run the compatibility sets: the tests of the places
# where behaviour depends on the version (tests/support/compat_sets.py lists them, with why).
phase pytest-jh5-slurm22.05 \
    env MOSS_ARTIFACTS="$repo/test-artifacts/jupyterhub5" MOSS_HUB_VENV="$MOSS_DEV_ROOT/jh5" \
    "$MOSS_DEV_ROOT/jh5/bin/python" -m pytest -p no:cacheprovider -m compat_jh5

# The wheel from a clean clone, in a fresh venv at the lowest versions
# pyproject.toml allows, starting a hub that spawns a real server.
phase release-wheel "$here/release-check.sh"

if [ "$MOSS_SLURM24" = 0 ]; then
    exit 0
fi

# One cluster after the other: jobs left on the 22.05 cluster would hold this
# machine's cores while the 24.11 tests time their spawns.
"$here/cancel-leftovers.sh"
slurm24_started=1
phase chroot-slurm24.11 "$here/slurm24-up.sh"
"$here/slurm24-run.sh" bash dev/cancel-leftovers.sh
"$here/slurm24-run.sh" bash dev/fresh-homes.sh

phase pytest-jh6-slurm24.11 \
    "$here/slurm24-run.sh" /opt/moss-dev/jh6/bin/python -m pytest -p no:cacheprovider \
    -m compat_slurm24
