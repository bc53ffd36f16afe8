"""The home page's line about each server's job, on the local cluster: what
``{hub}/api/moss/servers`` says agrees with Slurm, named servers have theirs, and
looking at the home page runs no Slurm command."""

import time
from datetime import datetime

import pytest
from support.hubtools import job_info, slurm

pytestmark = pytest.mark.cluster

URL = "/hub/api/moss/servers"
KEYS = {"job_id", "state", "partition", "cpus", "gpus", "node", "end", "log_url"}


def start(hub, user, server="", **options):
    options.setdefault("partition", "cpu")
    path = f"/users/{user}/server" if not server else f"/users/{user}/servers/{server}"
    r = hub.api("POST", path, json={"user_options": options})
    assert r.status_code in (201, 202), r.text
    return hub.wait_ready(user, server)


def servers(hub, client) -> dict:
    r = client.get(URL, headers=hub.xsrf(client))
    assert r.status_code == 200, r.text
    assert r.headers["Cache-Control"] == "no-store"
    return r.json()


def squeue_end(job_id: str) -> datetime:
    """The job's end time as squeue reports it (local time), made aware."""
    text = slurm("squeue", "-h", "-j", job_id, "-o", "%e").strip()
    return datetime.fromisoformat(text).astimezone()


def slurm_commands(hub) -> float:
    return hub.metric("jupyterhub_moss_slurm_commands_total")


def test_home_shows_the_end_time_squeue_reports(hub_factory):
    hub = hub_factory()
    user = "moss10"
    job_id = start(hub, user, nprocs=2, runtime="01:00:00")["state"]["job_id"]
    client = hub.login(user)
    answer = servers(hub, client)
    assert datetime.fromisoformat(answer["now"]).tzinfo is not None
    entry = answer["servers"][""]
    assert set(entry) == KEYS
    assert (entry["job_id"], entry["state"], entry["partition"]) == (job_id, "RUNNING", "cpu")
    assert (entry["cpus"], entry["gpus"]) == (2, 0)
    assert entry["node"] == job_info(job_id)["BatchHost"]
    assert entry["log_url"] == f"/hub/moss/log/{user}"
    end = datetime.fromisoformat(entry["end"])
    assert end.tzinfo is not None and end == squeue_end(job_id)

    # The page itself: JupyterHub's, with the script that writes the line.
    page = client.get("/hub/home")
    assert page.status_code == 200
    assert 'id="start"' in page.text
    assert "/hub/moss/static/moss-home.js" in page.text
    assert 'data-servers-url="/hub/api/moss/servers"' in page.text
    assert client.get("/hub/moss/static/moss-home.js").status_code == 200

    # A new time limit is seen within ten of the watcher's polls.
    slurm("scontrol", "update", f"JobId={job_id}", "TimeLimit=00:45:00")
    new_end = squeue_end(job_id)
    assert new_end != end
    deadline = time.time() + 60
    while time.time() < deadline:
        shown = servers(hub, client)["servers"][""]["end"]
        if datetime.fromisoformat(shown) == new_end:
            break
        time.sleep(1)
    assert datetime.fromisoformat(shown) == new_end
    # ... and kept in the server's state, for admins reading it through REST.
    state = hub.server_model(user)["state"]
    assert (state["job_partition"], state["job_cpus"]) == ("cpu", 2)
    assert datetime.fromisoformat(state["job_end"]).tzinfo is not None


def test_named_servers_show_their_job_too(hub_factory):
    hub = hub_factory()
    user = "moss11"
    default_job = start(hub, user, nprocs=1)["state"]["job_id"]
    named_job = start(hub, user, "gpuwork", partition="gpu", nprocs=2, ngpus=1, runtime="00:30:00")[
        "state"
    ]["job_id"]
    client = hub.login(user)
    answer = servers(hub, client)["servers"]
    assert set(answer) == {"", "gpuwork"}
    assert answer[""]["job_id"] == default_job
    named = answer["gpuwork"]
    assert (named["job_id"], named["state"], named["partition"]) == (named_job, "RUNNING", "gpu")
    assert (named["cpus"], named["gpus"]) == (2, 1)
    assert named["node"] == job_info(named_job)["BatchHost"]
    assert datetime.fromisoformat(named["end"]) == squeue_end(named_job)
    assert named["log_url"] == f"/hub/moss/log/{user}/gpuwork"
    assert 'data-server-name="gpuwork"' in client.get("/hub/home").text

    # Another user sees their own servers only.
    other = hub.login("moss12")
    mine = servers(hub, other)["servers"]
    assert "gpuwork" not in mine
    assert all(entry["job_id"] is None for entry in mine.values())


def test_home_page_views_make_no_slurm_call(hub_factory):
    # Polls of running jobs every 10 min: none comes during the views below.
    hub = hub_factory("c.MOSlurmSpawner.slurm_poll_interval = 600.0\n")
    user = "moss12"
    start(hub, user, nprocs=1)
    start(hub, user, "second", nprocs=1)
    client = hub.login(user)
    servers(hub, client)
    time.sleep(2)  # the starts' last polls are over
    before = slurm_commands(hub)
    assert before > 0  # the metric is there: the starts ran Slurm commands
    for _ in range(5):
        page = client.get("/hub/home")
        assert page.status_code == 200 and "moss-home.js" in page.text
        answer = servers(hub, client)
        assert answer["servers"][""]["state"] == "RUNNING"
        assert answer["servers"]["second"]["state"] == "RUNNING"
    assert slurm_commands(hub) == before
