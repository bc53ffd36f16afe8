"""A hub that runs as an ordinary account, with exactly the sudo rules
``jupyterhub-moss sudoers`` prints, reading a job's output: the user's output
folder is closed to it (0700), so it cannot look at the file itself.

moss16 stands for the hub's account and moss15 for the user; the hub's code runs
as moss16 in a Python process of its own.
"""

import json
import pwd
import secrets
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from support.clitools import generated_sudoers, installed_sudo_rules
from support.hubtools import make_user_folder

pytestmark = pytest.mark.cluster

HUB_ACCOUNT, USER = "moss16", "moss15"

READ_AS_HUB = textwrap.dedent(
    """
    import asyncio, json, sys, time
    from jupyterhub_moss.slurm.client import SlurmClient
    from jupyterhub_moss.slurm.job import ServerJob

    user, path = sys.argv[1], sys.argv[2]
    job = ServerJob(
        username=user,
        log_name=user,
        watcher=None,
        client=SlurmClient(exec_prefix=("sudo", "-n", "-u", "{username}"), timeout=30),
        home=None,
        report=lambda *a, **k: None,
        output_paths=lambda job_id: [path],
    )
    started = time.monotonic()
    tail = asyncio.run(job.read_output("7", stdout=""))
    print(json.dumps({
        "seconds": time.monotonic() - started,
        "lines": None if tail is None else tail.lines,
    }))
    """
)


def read_as_hub(path: str) -> dict:
    result = subprocess.run(
        ["runuser", "-u", HUB_ACCOUNT, "--", sys.executable, "-c", READ_AS_HUB, USER, path],
        capture_output=True,
        text=True,
        timeout=120,
        cwd="/",
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture
def closed_output_folder():
    """A folder in the user's home, mode 0700, as the job's output folder is."""
    home = Path(pwd.getpwnam(USER).pw_dir)
    folder = make_user_folder(USER, home / f".moss-test-{secrets.token_hex(4)}", mode=0o700)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_an_unprivileged_hub_refuses_an_output_that_is_a_pipe_at_once(closed_output_folder):
    pipe = closed_output_folder / "7.log"
    subprocess.run(["runuser", "-u", USER, "--", "mkfifo", str(pipe)], check=True)
    regular = closed_output_folder / "8.log"
    subprocess.run(
        ["runuser", "-u", USER, "--", "sh", "-c", f"printf 'one\\ntwo\\n' > {regular}"],
        check=True,
    )
    with installed_sudo_rules(generated_sudoers(groups=(USER,))):
        # The hub may not look into the folder itself.
        denied = subprocess.run(
            ["runuser", "-u", HUB_ACCOUNT, "--", "stat", str(pipe)], capture_output=True
        )
        assert denied.returncode != 0
        started = time.monotonic()
        piped = read_as_hub(str(pipe))
        took = time.monotonic() - started
        read = read_as_hub(str(regular))
    assert piped["lines"] is None
    assert piped["seconds"] < 3, piped  # not a read held until its timeout
    assert took < 10
    assert read["lines"][-2:] == ["one", "two"], read
