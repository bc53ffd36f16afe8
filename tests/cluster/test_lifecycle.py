"""Hub restarts, shared polling, and jobs that end on their own, on the real cluster."""

import json
import re
import sqlite3
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from support.hubtools import active_jobs, block_partition, job_info, slurm

pytestmark = pytest.mark.cluster


def test_restart_with_running_server_keeps_it_and_submits_nothing(hub):
    user = "moss05"
    r = hub.api("POST", f"/users/{user}/server", json={"user_options": {"partition": "cpu"}})
    assert r.status_code in (201, 202)
    job_id = hub.wait_ready(user)["state"]["job_id"]

    hub.restart()
    model = hub.wait_ready(user, timeout=30)
    assert model["state"]["job_id"] == job_id
    client = hub.login(user)
    assert hub.server_status(client, user).status_code == 200
    assert active_jobs(user) == [job_id]
    assert "appears to have stopped" not in hub.log(since_start=True)


def test_job_ended_outside_the_hub_is_noticed_within_a_poll_interval(hub):
    user = "moss06"
    r = hub.api("POST", f"/users/{user}/server", json={"user_options": {"partition": "cpu"}})
    assert r.status_code in (201, 202)
    job_id = hub.wait_ready(user)["state"]["job_id"]
    # The user cancels the job themselves.
    subprocess.run(["sudo", "-u", user, "scancel", job_id], check=True)
    started = time.monotonic()
    hub.wait_stopped(user, timeout=30)
    noticed = time.monotonic() - started
    # slurm_poll_interval is 2 s in the tests; allow for the job to finish and the hub's work.
    assert noticed < 2 + 5, noticed
    assert job_info(job_id)["JobState"] == "CANCELLED"


def test_job_that_dies_at_start_fails_the_spawn_quickly_with_its_output(hub_factory):
    hub = hub_factory(
        """
        c.MOSlurmSpawner.partitions["long"]["venv"] = "/usr/local/no-such-env/bin/"
        """
    )
    user = "moss07"
    started = time.monotonic()
    r = hub.api("POST", f"/users/{user}/server", json={"user_options": {"partition": "long"}})
    if r.status_code == 202:
        events = hub.progress_events(user)
        failed = [e for e in events if e.get("failed")]
        assert failed, events
        message = failed[-1]["message"]
    else:
        assert r.status_code >= 400
        message = r.json()["message"]
    elapsed = time.monotonic() - started
    assert elapsed < 20, elapsed  # start_timeout is 90 s
    assert "ended (FAILED) before the server started" in message, message
    assert "exit code 127" in message
    assert "/usr/local/no-such-env/bin/jupyterhub-singleuser is not there" in message
    assert hub.server_model(user) is None
    assert active_jobs(user) == []


def test_progress_reports_pending_reason(hub):
    user = "moss08"
    # Take both nodes of partition cpu so that the spawn has to wait.
    blocker = block_partition()
    try:
        r = hub.api("POST", f"/users/{user}/server", json={"user_options": {"partition": "cpu"}})
        assert r.status_code == 202
        events = hub.progress_events(user, until="expected to start at", timeout=40)
        messages = [e.get("message", "") for e in events]
        assert any(m.startswith("Job ") and "submitted to partition cpu" in m for m in messages)
        waiting = ("Pending: waiting for free resources", "Pending: waiting behind higher-priority")
        assert any(m.startswith(waiting) for m in messages), messages
        # Once the backfill scheduler has looked at the job: Slurm's expected start time.
        assert re.search(r"expected to start at \d{4}-\d\d-\d\d \d\d:\d\d$", messages[-1]), messages
        slurm("scancel", blocker)
        hub.wait_ready(user, timeout=60)
    finally:
        slurm("scancel", blocker, check=False)


def test_one_slurm_query_per_interval_whatever_the_number_of_servers(hub_factory):
    """Each poll of the shared watcher is one process for all the hub's jobs: one
    scontrol (each job by its id), or on Slurm >= 23.02 for running servers, one
    squeue --only-job-state."""
    hub = hub_factory(
        """
        c.MOSlurmSpawner.slurm_poll_interval = 3.0
        c.MOSlurmSpawner.slurm_fast_poll_interval = 0.5
        c.Spawner.start_timeout = 180
        c.Spawner.http_timeout = 120
        """
    )
    users = [f"moss{i:02d}" for i in range(1, 9)]

    def queries():
        total = "jupyterhub_moss_slurm_commands_total"
        return hub.metric(total, command="scontrol") + hub.metric(total, command="squeue")

    blocker = block_partition()
    try:
        with ThreadPoolExecutor(8) as pool:
            codes = list(
                pool.map(
                    lambda u: (
                        hub.api(
                            "POST",
                            f"/users/{u}/server",
                            json={"user_options": {"partition": "cpu"}},
                        ).status_code
                    ),
                    users,
                )
            )
        assert codes == [202] * 8
        # Eight jobs pending: polls back off (0.5 s, 1, 2, 4...), and each is one
        # query for all of them (eight per poll if each job had its own).
        time.sleep(1)
        assert all(len(active_jobs(u)) == 1 for u in users)
        before = queries()
        time.sleep(6)
        pending_calls = queries() - before
        assert 1 <= pending_calls <= 4, pending_calls
    finally:
        slurm("scancel", blocker, check=False)

    for user in users:
        hub.wait_ready(user, timeout=150)
    time.sleep(4)  # quick polls end once no job is starting
    before = queries()
    time.sleep(12)
    running_calls = queries() - before
    assert 2 <= running_calls <= 12 / 3 + 1, running_calls
    print(
        f"Slurm queries with 8 servers: {pending_calls:.0f} in 6 s pending, "
        f"{running_calls:.0f} in 12 s running"
    )
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda u: hub.api("DELETE", f"/users/{u}/server"), users))
    for user in users:
        hub.wait_stopped(user, timeout=60)
        assert active_jobs(user) == []


def test_a_stored_job_id_naming_another_users_job_is_not_taken_as_the_server(hub):
    """After a controller lost its state, job ids start again: the id a hub kept for
    one user's server can then name another user's job. Here moss14 runs a job
    that looks like a server (running, a port in its comment), and moss13's stored
    job id is made to name it."""
    owner, other = "moss13", "moss14"
    theirs = slurm(
        "sudo", "-u", other, "sbatch", "--parsable", "-p", "cpu", "-t", "10",
        "--comment=moss:port=40123", "--chdir=/tmp", "--output=/dev/null",
        "--wrap", "sleep 600",
    ).strip()  # fmt: skip
    r = hub.api("POST", f"/users/{owner}/server", json={"user_options": {"partition": "cpu"}})
    assert r.status_code in (201, 202)
    mine = hub.wait_ready(owner)["state"]["job_id"]
    assert job_info(theirs)["JobState"] == "RUNNING"

    hub.stop()
    slurm("scancel", mine)  # the owner's job is lost ...
    db = sqlite3.connect(hub.workdir / "jupyterhub.sqlite")
    with db:  # ... and its id now names the other user's job
        db.execute(
            "UPDATE spawners SET state = ? WHERE user_id = (SELECT id FROM users WHERE name = ?)",
            (json.dumps({"job_id": theirs, "job_node": "node1", "job_port": 40123}), owner),
        )
    db.close()
    hub.start()

    hub.wait_stopped(owner, timeout=30)
    log = hub.log(since_start=True)
    assert f"Job {theirs} belongs to {other}, not {owner}" in log
    # Not this user's to stop either: the other user's job runs on, uncancelled.
    assert job_info(theirs)["JobState"] == "RUNNING"
    assert f"scancel {theirs} failed" not in log
