"""POST /hub/api/moss/estimate on the local cluster: sbatch --test-only run as the
user, its answer in words, and who may ask.

Partition debug is node4 alone (dev/cluster-up.sh), so one blocker job fills it.
"""

import re
import time
from datetime import datetime, timedelta

import httpx
import pytest
from support.hubtools import (
    PARTITIONS,
    SERVICE_TOKEN,
    active_jobs,
    block_partition,
    job_info,
    slurm,
)

pytestmark = pytest.mark.cluster

DEBUG = {**PARTITIONS["cpu"], "description": "Debug", "max_runtime": 30 * 60, "simple": True}
CONFIG = f"""
c.MOSlurmSpawner.partitions["debug"] = {DEBUG!r}
"""
URL = "/hub/api/moss/estimate"
ON_DEBUG = {"partition": "debug", "nprocs": 1, "runtime": "00:10:00"}


def estimate(hub, client, options) -> httpx.Response:
    return client.post(URL, json={"user_options": options}, headers=hub.xsrf(client))


def sbatch_calls(hub) -> float:
    return hub.metric("jupyterhub_moss_slurm_commands_total", command="sbatch")


def wait_running(job_id: str, timeout: float = 30) -> dict:
    deadline = time.time() + timeout
    info = job_info(job_id)
    while info["JobState"] != "RUNNING" and time.time() < deadline:
        time.sleep(0.3)
        info = job_info(job_id)
    assert info["JobState"] == "RUNNING", info
    return info


def test_estimate_says_now_on_an_idle_partition(hub_factory):
    hub = hub_factory(CONFIG)
    client = hub.login("moss01")
    before = datetime.now().astimezone()
    r = estimate(hub, client, ON_DEBUG)
    assert r.status_code == 200, r.text
    assert r.headers["Cache-Control"] == "no-store"
    body = r.json()
    assert (body["state"], body["text"]) == ("now", "starts now"), body
    start = datetime.fromisoformat(body["start"])
    assert start.tzinfo is not None
    assert start <= before + timedelta(seconds=90)
    # sbatch --test-only submits nothing.
    assert active_jobs("moss01") == []


def test_estimate_is_in_the_future_behind_a_blocker_job(hub_factory):
    hub = hub_factory(CONFIG)
    blocker = block_partition("debug", 1, minutes=10)
    try:
        info = wait_running(blocker)
        end = datetime.fromisoformat(info["EndTime"]).astimezone()
        client = hub.login("moss02")
        r = estimate(hub, client, ON_DEBUG)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["state"] == "later", body
        assert body["text"].startswith("expected around "), body
        assert "(in " in body["text"]
        start = datetime.fromisoformat(body["start"])
        assert abs((start - end).total_seconds()) <= 120, (start, end)
        assert active_jobs("moss02") == []
        # Started with these options, the job pends, and the pending page shows
        # when it should start: this estimate until the scheduler has one of its
        # own ("around ... (Slurm's estimate)"), then the scheduler's ("at ...").
        # Which of the two comes first depends on when the scheduler runs.
        r = hub.api("POST", "/users/moss02/server", json={"user_options": ON_DEBUG})
        assert r.status_code in (201, 202), r.text
        events = hub.progress_events("moss02", until="expected to start", timeout=20)
        message = events[-1]["message"]
        shown = re.search(r"expected to start (at|around) (\d{4}-\d\d-\d\d \d\d:\d\d)", message)
        assert shown, events
        if shown[1] == "around":
            assert "(Slurm's estimate)" in message, events
        when = datetime.strptime(shown[2], "%Y-%m-%d %H:%M").astimezone()
        assert abs((when - start).total_seconds()) <= 120, (message, start)
    finally:
        slurm("scancel", blocker, check=False)


def test_estimate_refuses_a_bad_option_with_400_naming_the_field(hub):
    client = hub.login("moss03")
    before = sbatch_calls(hub)
    r = estimate(hub, client, {"partition": "cpu", "nprocs": 999})
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["field"] == "nprocs"
    assert body["message"].startswith("nprocs: ")
    r = estimate(hub, client, {"partition": "nosuch"})
    assert r.status_code == 400
    assert r.json()["field"] == "partition"
    r = estimate(hub, client, {"bogus": "1"})
    assert r.status_code == 400
    assert r.json()["field"] == "bogus"
    # Nothing was asked of Slurm.
    assert sbatch_calls(hub) == before


def test_estimate_is_refused_to_anonymous_and_services(hub):
    body = {"user_options": {"partition": "cpu"}}
    url = f"{hub.url}{URL}"
    assert httpx.post(url, json=body, timeout=30).status_code == 403
    service = {"Authorization": f"token {SERVICE_TOKEN}"}
    assert httpx.post(url, json=body, headers=service, timeout=30).status_code == 403
    client = hub.login("moss04")
    # A logged-in browser must send the XSRF header.
    assert client.post(URL, json=body).status_code == 403
    r = client.post(URL, json=body, headers=hub.xsrf(client))
    assert r.status_code == 200, r.text
    assert r.json()["state"] in ("now", "later")
    # It answers POST only.
    assert client.get(URL, headers=hub.xsrf(client)).status_code in (403, 405)
    # A token of the user's that may not start servers (as a server's own) is refused.
    r = client.post(
        "/hub/api/users/moss04/tokens",
        json={"note": "no servers", "expires_in": 600, "scopes": ["access:servers!user=moss04"]},
        headers=hub.xsrf(client),
    )
    assert r.status_code == 201, r.text
    r = hub.request_with(r.json()["token"], "POST", URL, json=body)
    assert r.status_code == 403, r.text


def test_estimate_runs_as_the_user(hub_factory):
    """Slurm decides with the user's own rights: the admin's account physics may be
    used by moss03 on partition debug, and by no one else."""
    if "accounting_storage/slurmdbd" not in slurm("scontrol", "show", "config"):
        pytest.skip("this cluster runs without slurmdbd")
    hub = hub_factory(
        CONFIG
        + """
c.MOSlurmSpawner.slurm_accounting = "off"
c.MOSlurmSpawner.sbatch_directives = ["--account=physics"]
"""
    )
    r = estimate(hub, hub.login("moss03"), ON_DEBUG)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "now", r.json()
    r = estimate(hub, hub.login("moss05"), ON_DEBUG)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "state": "never",
        "text": "cannot start: this account cannot be used on this partition",
        "start": None,
    }
    assert active_jobs("moss03") == [] and active_jobs("moss05") == []


def test_no_job_is_left_by_estimates(hub_factory):
    hub = hub_factory(CONFIG)
    client = hub.login("moss06")
    before = sbatch_calls(hub)
    for nprocs in (1, 2, 3):
        r = estimate(hub, client, {**ON_DEBUG, "nprocs": nprocs})
        assert r.status_code == 200, r.text
    assert sbatch_calls(hub) == before + 3
    # The same options again: the kept answer, no call.
    r = estimate(hub, client, {**ON_DEBUG, "nprocs": "2"})
    assert r.status_code == 200
    assert sbatch_calls(hub) == before + 3
    assert active_jobs("moss06") == []
    assert slurm("squeue", "-h", "-u", "moss06", "-o", "%i").split() == []
