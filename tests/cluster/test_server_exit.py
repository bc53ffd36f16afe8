"""How a server that ends on its own is reported: a job that ends COMPLETED polls 0,
one that fails polls 1. On the real cluster.

JupyterHub logs the spawner's poll result when it notices a server has stopped
("User NAME server stopped, with exit code: N"); that line is what is checked,
with the job's state in Slurm.
"""

import os
import re
import signal
from pathlib import Path

import pytest
from support.hubtools import HUB_VENV, active_jobs, ended_job_info, shared_folder, write_script

pytestmark = pytest.mark.cluster


@pytest.fixture
def pid_hub(hub_factory):
    """A hub whose servers write their pid to ``~/moss-server-pid-JOBID`` first."""
    with shared_folder() as folder:
        wrapper = write_script(
            folder / "server-with-pid",
            "#!/bin/bash\n"
            'echo $$ > "$HOME/moss-server-pid-$SLURM_JOB_ID"\n'
            f'exec {HUB_VENV}/bin/jupyterhub-singleuser "$@"\n',
        )
        yield hub_factory(f"c.Spawner.cmd = [{str(wrapper)!r}]\n")


def start(hub, user):
    r = hub.api("POST", f"/users/{user}/server", json={"user_options": {"partition": "cpu"}})
    assert r.status_code in (201, 202), r.text
    return hub.wait_ready(user)["state"]["job_id"]


def pid_file(user, job_id) -> Path:
    return Path(os.path.expanduser(f"~{user}")) / f"moss-server-pid-{job_id}"


def stopped_lines(hub, user):
    return re.findall(rf"User {user} server stopped, with exit code: (\S+)", hub.log())


def test_server_shut_down_by_its_user_ends_completed_and_polls_0(pid_hub):
    hub, user = pid_hub, "moss10"
    job_id = start(hub, user)
    pid_file(user, job_id).unlink(missing_ok=True)
    token = hub.user_token(user)
    # The server's own API, as the user: it exits with status 0.
    r = hub.request_with(token, "POST", f"/user/{user}/api/shutdown")
    assert r.status_code == 200, r.text[:500]
    info = ended_job_info(job_id)
    assert (info["JobState"], info["ExitCode"]) == ("COMPLETED", "0:0")
    hub.wait_stopped(user, timeout=30)
    assert stopped_lines(hub, user) == ["0"], hub.log()[-3000:]
    assert f"Job {job_id} of {user} ended (COMPLETED)" in hub.log()
    assert active_jobs(user) == []


def test_server_that_dies_ends_failed_and_polls_1(pid_hub):
    hub, user = pid_hub, "moss11"
    job_id = start(hub, user)
    path = pid_file(user, job_id)
    try:
        pid = int(path.read_text())
        os.kill(pid, signal.SIGKILL)  # the server crashes: the job ends with 128 + 9
    finally:
        path.unlink(missing_ok=True)
    info = ended_job_info(job_id)
    assert (info["JobState"], info["ExitCode"]) == ("FAILED", "137:0")
    hub.wait_stopped(user, timeout=30)
    assert stopped_lines(hub, user) == ["1"], hub.log()[-3000:]
    assert f"Job {job_id} of {user} ended (FAILED)" in hub.log()
    assert active_jobs(user) == []
