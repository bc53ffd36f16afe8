"""A hub that runs as an ordinary account, with exactly the sudo rules
``jupyterhub-moss sudoers`` prints, installed: every command it runs as a user
goes through them (a change to an argument list or a program's path that the
rules no longer allow fails here), and it reads a job's output from a folder
closed to it (0700).

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
from support.hubtools import ended_job_info, make_user_folder

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


COMMANDS_AS_HUB = textwrap.dedent(
    """
    import asyncio, json, sys
    from jupyterhub_moss.slurm.client import SlurmClient
    from jupyterhub_moss.slurm.job import ServerJob
    from jupyterhub_moss.slurm.testonly import test_only_argv

    user, home = sys.argv[1], sys.argv[2]
    client = SlurmClient(exec_prefix=("sudo", "-n", "-u", "{username}"), timeout=30)
    job = ServerJob(
        username=user, log_name=user, watcher=None, client=client, home=home,
        report=lambda *a, **k: None,
    )
    script = (
        "#!/bin/bash\\n#SBATCH --partition=cpu\\n#SBATCH --time=2\\n"
        "#SBATCH --output=/dev/null\\nsleep 300\\n"
    )

    async def main():
        said = {}
        estimate = await client.run_as(
            user, home, test_only_argv(client.path("sbatch")), input=script, check=False
        )
        said["estimate"] = [estimate.returncode, estimate.stderr[-300:]]
        recorded = []
        said["job"] = await job.submit(script, "0123456789abcdef", recorded.append)
        said["recorded"] = recorded
        await job.cancel(said["job"])
        return said

    print(json.dumps(asyncio.run(main())))
    """
)


def test_an_unprivileged_hub_estimates_submits_and_cancels_through_the_generated_rules():
    home = pwd.getpwnam(USER).pw_dir
    with installed_sudo_rules(generated_sudoers(groups=(USER,))):
        result = subprocess.run(
            ["runuser", "-u", HUB_ACCOUNT, "--", sys.executable, "-c", COMMANDS_AS_HUB]
            + [USER, home],
            capture_output=True,
            text=True,
            timeout=120,
            cwd="/",
        )
    assert result.returncode == 0, result.stderr[-3000:]
    said = json.loads(result.stdout.strip().splitlines()[-1])
    status, message = said["estimate"]
    assert status == 0 and "to start at" in message, said
    job_id = said["job"]
    assert said["recorded"] == [job_id]
    info = ended_job_info(job_id)
    assert info["UserId"].startswith(f"{USER}(")
    assert info["JobState"] == "CANCELLED", info
