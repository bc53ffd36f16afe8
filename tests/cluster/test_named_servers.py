"""Named servers through the spawn page (/hub/spawn/USER/NAME), with JupyterHub's
limit on their number, on the real cluster."""

import html

import httpx
import pytest
from support.hubtools import active_jobs, job_info

pytestmark = pytest.mark.cluster

LIMIT = "c.JupyterHub.named_server_limit_per_user = 1\n"


def test_named_server_form_submits_exactly_the_choice(hub_factory):
    hub = hub_factory(LIMIT)
    user = "moss05"
    client = hub.login(user)
    page = client.get(f"/hub/spawn/{user}/first")
    assert page.status_code == 200
    assert 'id="moss-data"' in page.text  # the spawner's form, for this server
    r = hub.spawn_form(
        client,
        {"partition": "long", "nprocs": "3", "runtime": "01:30:00", "memory": "2G"},
        server="first",
    )
    assert r.status_code == 302, r.text[-2000:]
    assert f"/hub/spawn-pending/{user}/first" in r.headers["location"]
    model = hub.wait_ready(user, "first")
    info = job_info(model["state"]["job_id"])
    assert info["JobName"] == f"jupyter-{user}-first"
    assert (info["Partition"], info["NumCPUs"], info["TimeLimit"]) == ("long", "3", "01:30:00")
    assert info["MinMemoryNode"] == "2G"
    assert "TresPerNode" not in info
    assert hub.server_model(user) is None  # the default server is not started
    assert hub.server_status(client, user, "first").status_code == 200
    assert active_jobs(user) == [model["state"]["job_id"]]


LIMIT_MESSAGE = (
    "User {user} already has the maximum of 1 named servers."
    "  One must be deleted before a new server can be created"
)


def start_first(hub, user):
    client = hub.login(user)
    r = hub.spawn_form(client, {"partition": "cpu", "nprocs": "1"}, server="first")
    assert r.status_code == 302, r.text[-2000:]
    return client, hub.wait_ready(user, "first")["state"]["job_id"]


def test_named_server_limit_refuses_the_form_of_a_second_one(hub_factory):
    hub = hub_factory(LIMIT)
    user = "moss06"
    client, job_id = start_first(hub, user)
    page = client.get(f"/hub/spawn/{user}/second")
    assert page.status_code == 400
    assert LIMIT_MESSAGE.format(user=user) in html.unescape(page.text)
    assert 'id="moss-data"' not in page.text  # no form to fill in
    assert hub.server_model(user, "second") is None
    assert active_jobs(user) == [job_id]
    # The default server does not count against the limit.
    r = hub.spawn_form(client, {"partition": "cpu", "nprocs": "2"})
    assert r.status_code == 302, r.text[-2000:]
    default_job = hub.wait_ready(user)["state"]["job_id"]
    assert job_info(default_job)["NumCPUs"] == "2"
    assert sorted(active_jobs(user)) == sorted([job_id, default_job])


def test_named_server_limit_refuses_a_posted_form_for_a_second_one(hub_factory):
    hub = hub_factory(LIMIT)
    user = "moss07"
    client, job_id = start_first(hub, user)
    version = httpx.get(f"{hub.url}/hub/api/", timeout=30).json()["version"]
    r = hub.spawn_form(client, {"partition": "cpu", "nprocs": "1"}, server="second")
    if r.status_code == 302 and int(version.split(".")[0]) < 6:
        pytest.xfail(
            f"JupyterHub {version} checks named_server_limit_per_user when it shows the "
            "form, not when the form is posted"
        )
    assert r.status_code == 400, r.text[-2000:]
    assert LIMIT_MESSAGE.format(user=user) in html.unescape(r.text)
    assert hub.server_model(user, "second") is None
    assert active_jobs(user) == [job_id]
