"""sbatch that submits the job but answers too late, on the real cluster.

sbatch is reached through the admin's exec_prefix; here that prefix is a script
that really submits the job as the user (sudo -n -u USER sbatch ...), notes the
job id where the test can read it, and then sleeps well past the hub's
slurm_command_timeout before it hands the id over.
"""

import re
import time

import pytest
from hubtools import active_jobs, job_info, shared_folder, write_script

pytestmark = pytest.mark.cluster

TIMEOUT = 3  # slurm_command_timeout, seconds
LATE = 20  # how long the stand-in holds sbatch's answer back, seconds


def slow_sbatch_prefix(folder):
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
        f"    sleep {LATE}\n"
        '    echo "$answer"\n'
        '    exit "$status" ;;\n'
        "esac\n"
        'exec sudo -n -u "$user" "$@"\n',
    )


def test_sbatch_answering_too_late_tells_the_user_and_cancels_the_submitted_job(hub_factory):
    user = "moss09"
    with shared_folder() as folder:
        prefix = slow_sbatch_prefix(folder)
        hub = hub_factory(
            f"""
            c.MOSlurmSpawner.exec_prefix = [{str(prefix)!r}, "{{username}}"]
            c.MOSlurmSpawner.slurm_command_timeout = {TIMEOUT}
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

    assert "Slurm did not answer the job submission in time; please try again." in message
    assert elapsed < LATE, elapsed  # the hub did not wait for the late answer
    job_id = submitted.split(";")[0]
    assert re.fullmatch(r"[0-9]+", job_id), submitted  # the job was really submitted ...
    # ... found again by its comment, and cancelled: nothing is left for the user.
    deadline = time.time() + 20
    while job_info(job_id)["JobState"] != "CANCELLED" and time.time() < deadline:
        time.sleep(0.3)
    assert job_info(job_id)["JobState"] == "CANCELLED"
    assert active_jobs(user) == []
    assert f"Cancelling job {job_id} of {user}, submitted unrecorded" in hub.log()
    assert hub.server_model(user) is None
