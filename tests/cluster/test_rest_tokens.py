"""The REST API with a user's own token, not the admin service's, on the real cluster.

The token is made for the user (POST /hub/api/users/NAME/tokens) and carries the
user's own rights: their own servers, nobody else's.
"""

import pytest
from support.hubtools import active_jobs, ended_job_info, job_info

pytestmark = pytest.mark.cluster


def test_own_token_starts_and_stops_the_users_default_server(hub):
    user = "moss01"
    token = hub.user_token(user)
    options = {"partition": "cpu", "nprocs": 2, "runtime": "30"}
    r = hub.request_with(
        token, "POST", f"/hub/api/users/{user}/server", json={"user_options": options}
    )
    assert r.status_code in (201, 202), r.text
    job_id = hub.wait_ready(user)["state"]["job_id"]
    info = job_info(job_id)
    assert info["UserId"].startswith(f"{user}(")
    assert (info["Partition"], info["NumCPUs"], info["TimeLimit"]) == ("cpu", "2", "00:30:00")
    # The same token reaches the user's own server through the proxy.
    status = hub.request_with(token, "GET", f"/user/{user}/api/status")
    assert status.status_code == 200 and "started" in status.json()

    r = hub.request_with(token, "DELETE", f"/hub/api/users/{user}/server")
    assert r.status_code in (202, 204), r.text
    hub.wait_stopped(user)
    assert ended_job_info(job_id)["JobState"] == "CANCELLED"
    assert active_jobs(user) == []


def test_own_token_starts_and_stops_a_named_server(hub):
    user = "moss02"
    token = hub.user_token(user)
    r = hub.request_with(
        token,
        "POST",
        f"/hub/api/users/{user}/servers/analysis",
        json={"user_options": {"partition": "long", "nprocs": 3}},
    )
    assert r.status_code in (201, 202), r.text
    job_id = hub.wait_ready(user, "analysis")["state"]["job_id"]
    info = job_info(job_id)
    assert info["JobName"] == f"jupyter-{user}-analysis"
    assert (info["Partition"], info["NumCPUs"]) == ("long", "3")
    assert hub.server_model(user) is None  # the default server was not started
    status = hub.request_with(token, "GET", f"/user/{user}/analysis/api/status")
    assert status.status_code == 200

    r = hub.request_with(token, "DELETE", f"/hub/api/users/{user}/servers/analysis")
    assert r.status_code in (202, 204), r.text
    hub.wait_stopped(user, "analysis")
    assert ended_job_info(job_id)["JobState"] == "CANCELLED"
    assert active_jobs(user) == []


def test_own_token_cannot_start_stop_or_reach_another_users_server(hub):
    owner, other = "moss03", "moss04"
    r = hub.api("POST", f"/users/{owner}/server", json={"user_options": {"partition": "cpu"}})
    assert r.status_code in (201, 202), r.text
    job_id = hub.wait_ready(owner)["state"]["job_id"]
    token = hub.user_token(other)
    # JupyterHub does not even say whether the user exists: 404.
    for method, path, body in [
        ("GET", f"/hub/api/users/{owner}", None),
        ("DELETE", f"/hub/api/users/{owner}/server", None),
        ("POST", f"/hub/api/users/{owner}/server", {"user_options": {"partition": "cpu"}}),
        ("POST", f"/hub/api/users/{owner}/servers/extra", {"user_options": {}}),
    ]:
        r = hub.request_with(token, method, path, json=body)
        assert r.status_code == 404, (method, path, r.status_code, r.text[:300])
    # Nor through the proxy: the owner's server refuses the other user's token.
    assert hub.request_with(token, "GET", f"/user/{owner}/api/status").status_code == 403
    # The token still works for its own user.
    assert hub.request_with(token, "GET", f"/hub/api/users/{other}").status_code == 200
    model = hub.server_model(owner)
    assert model["ready"] and model["state"]["job_id"] == job_id
    assert hub.server_model(owner, "extra") is None
    assert active_jobs(owner) == [job_id]
    assert active_jobs(other) == []
