"""The one command runner: what happens when a command outlives its timeout."""

import os
import subprocess
import time

import pytest

from jupyterhub_moss.slurm.runner import SlurmCommandError, run_command


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_a_timed_out_command_ends_at_once_however_its_children_behave(tmp_path):
    """A command that ignores SIGTERM, with a child in a session of its own that
    holds its output open (as a command behind sudo is, for a hub that may not
    signal it): the hub is not held until that child lets go of the pipe."""
    pidfile = tmp_path / "pid"
    script = f'setsid sleep 30 & echo $! > {pidfile}; trap "" TERM; while :; do sleep 0.1; done'
    started = time.monotonic()
    with pytest.raises(SlurmCommandError, match="did not answer within 1 s") as raised:
        await run_command(["bash", "-c", script], timeout=1)
    took = time.monotonic() - started
    child = int(pidfile.read_text())
    try:
        assert raised.value.timed_out
        assert took < 8, took
    finally:
        if alive(child):
            os.kill(child, 9)


async def test_a_timed_out_command_that_ends_on_sigterm_is_gone_with_its_group():
    started = time.monotonic()
    with pytest.raises(SlurmCommandError, match="did not answer"):
        await run_command(["bash", "-c", "sleep 31.7 & wait"], timeout=1)
    assert time.monotonic() - started < 4
    left = subprocess.run(["pgrep", "-f", "^sleep 31.7$"], capture_output=True, text=True)
    assert left.stdout == "", left.stdout
