"""sbatch that submits the job but answers too late, on the real cluster.

sbatch is reached through the admin's exec_prefix; here that prefix is a script
that really submits the job as the user (sudo -n -u USER sbatch ...), notes the
job id where the test can read it, and then holds the id back well past the
hub's slurm_command_timeout.
"""

import re
import time

import pytest
from support.hubtools import (
    active_jobs,
    block_partition,
    ended_job_info,
    job_info,
    shared_folder,
    slurm,
    write_script,
)

# The exec_prefix stand-in is not sudo: there are no sudo rules to give an ordinary
# account for it, so these hubs run as root.
pytestmark = [pytest.mark.cluster, pytest.mark.root_hub]

LATE = 30  # how long the stand-in holds sbatch's answer back, seconds
MESSAGE = "Slurm did not answer the job submission in time; please try again."


def slow_sbatch_prefix(folder, wait_for_port: bool):
    """The exec_prefix stand-in. With ``wait_for_port``, it holds the answer back
    until the job's server has reported its port (for up to 60 s) as well."""
    wait = ""
    if wait_for_port:
        wait = (
            "    for _ in $(seq 600); do\n"
            '        case "$(squeue -h -j "${answer%%;*}" -o %k)" in moss:port=*) break ;; esac\n'
            "        sleep 0.1\n"
            "    done\n"
        )
    return write_script(
        folder / "slow-sbatch",
        "#!/bin/bash\n"
        "# exec_prefix stand-in: submit for real, answer too late.\n"
        "user=$1; shift\n"
        'case "$1" in\n'
        "*sbatch)\n"
        '    answer=$(sudo -n -u "$user" "$@")\n'
        "    status=$?\n"
        f'    echo "$answer" > "{folder}/submitted-$user"\n'
        f"{wait}"
        f"    sleep {LATE}\n"
        '    echo "$answer"\n'
        '    exit "$status" ;;\n'
        "esac\n"
        'exec sudo -n -u "$user" "$@"\n',
    )


def submit_too_late(hub_factory, user, timeout, wait_for_port=False):
    """Start a server through the slow stand-in; the message the user gets, the id of
    the job that was submitted, and the seconds the hub took to answer."""
    with shared_folder() as folder:
        prefix = slow_sbatch_prefix(folder, wait_for_port)
        hub = hub_factory(
            f"""
            c.MOSlurmSpawner.exec_prefix = [{str(prefix)!r}, "{{username}}"]
            c.MOSlurmSpawner.slurm_command_timeout = {timeout}
            """
        )
        started = time.monotonic()
        r = hub.api("POST", f"/users/{user}/server", json={"user_options": {"partition": "cpu"}})
        if r.status_code == 202:
            failed = [e for e in hub.progress_events(user) if e.get("failed")]
            assert failed, "the spawn did not fail"
            message = failed[-1]["message"]
        else:  # it failed before the REST call returned
            assert r.status_code == 400, r.text
            message = r.json()["message"]
        elapsed = time.monotonic() - started
        submitted = (folder / f"submitted-{user}").read_text().strip()
        # The hub looks for the job and cancels it in the background, through the
        # same stand-in: it must still be there until the job has ended.
        deadline = time.time() + 30
        while time.time() < deadline and (
            "submitted unrecorded" not in hub.log() or submitted.split(";")[0] in active_jobs(user)
        ):
            time.sleep(0.2)
    job_id = submitted.split(";")[0]
    assert re.fullmatch(r"[0-9]+", job_id), submitted  # the job was really submitted
    return hub, message, job_id, elapsed


def test_sbatch_answering_too_late_cancels_the_job_it_left_queued(hub_factory):
    user = "moss09"
    blocker = block_partition()  # the job waits in the queue meanwhile
    try:
        hub, message, job_id, elapsed = submit_too_late(hub_factory, user, timeout=3)
    finally:
        slurm("scancel", blocker, check=False)
    assert MESSAGE in message
    assert elapsed < LATE, elapsed  # the hub did not wait for the late answer
    # The job was found again by its comment, and cancelled: nothing is left.
    assert ended_job_info(job_id)["JobState"] == "CANCELLED"
    assert active_jobs(user) == []
    assert f"Cancelling job {job_id} of {user}, submitted unrecorded" in hub.log()
    assert hub.server_model(user) is None


def test_sbatch_answering_too_late_cancels_the_job_whose_server_already_runs(hub_factory):
    user = "moss10"
    # The stand-in answers only after the job's server has reported its port.
    hub, message, job_id, elapsed = submit_too_late(
        hub_factory, user, timeout=15, wait_for_port=True
    )
    assert MESSAGE in message
    assert elapsed < LATE, elapsed
    assert job_info(job_id)["Comment"].startswith("moss:port=")  # the case under test
    # Nothing is left running for the user, whom the hub told to try again.
    deadline = time.time() + 20
    while active_jobs(user) and time.time() < deadline:
        time.sleep(0.5)
    assert active_jobs(user) == [], f"job {job_id} was left running"
    assert ended_job_info(job_id)["JobState"] == "CANCELLED"
