"""Real Jupyter servers as real Slurm jobs, through a real JupyterHub."""

import re
import time

import pytest
from support.hubtools import active_jobs, job_info

pytestmark = pytest.mark.cluster


def _job_of(hub, user, server=""):
    model = hub.server_model(user, server)
    assert model is not None, f"{user} has no server {server!r}"
    return model["state"]["job_id"]


@pytest.mark.parametrize(
    "form, expected",
    [
        (
            {"partition": "cpu", "nprocs": "4", "runtime": "02:00:00"},
            {"Partition": "cpu", "NumCPUs": "4", "TimeLimit": "02:00:00", "gres": None},
        ),
        (
            {"partition": "gpu", "nprocs": "2", "ngpus": "1", "runtime": "00:30:00"},
            {
                "Partition": "gpu",
                "NumCPUs": "2",
                "TimeLimit": "00:30:00",
                "gres": "gpu:V100-SXM2-32GB:1",
            },
        ),
        (
            {"partition": "long", "nprocs": "1", "runtime": "10:00:00"},
            {"Partition": "long", "NumCPUs": "1", "TimeLimit": "10:00:00", "gres": None},
        ),
    ],
    ids=["cpu", "gpu", "long"],
)
def test_form_spawn_runs_job_with_requested_resources(hub, form, expected):
    user = "moss01"
    client = hub.login(user)
    started = time.monotonic()
    r = hub.spawn_form(client, form)
    assert r.status_code == 302, r.text[-2000:]
    hub.wait_ready(user)
    ready_after = time.monotonic() - started

    # The server answers through the proxy.
    status = hub.server_status(client, user)
    assert status.status_code == 200
    assert "started" in status.json()

    job_id = _job_of(hub, user)
    info = job_info(job_id)
    assert info["JobState"] == "RUNNING"
    assert info["UserId"].startswith(user + "(")
    assert info["JobName"] == f"jupyter-{user}"
    for key in ("Partition", "NumCPUs", "TimeLimit"):
        assert info[key] == expected[key], (key, info)
    if expected["gres"]:
        # Slurm 22.05 prints "gres:gpu:...", 24.11 "gres/gpu:...".
        assert info.get("TresPerNode") in (f"gres:{expected['gres']}", f"gres/{expected['gres']}")
    else:
        assert "TresPerNode" not in info or info["TresPerNode"] in ("(null)", "")
    print(f"ready {ready_after:.2f} s after the form POST")

    # Stop through the REST API: the job is cancelled and gone.
    r = hub.api("DELETE", f"/users/{user}/server")
    assert r.status_code in (202, 204)
    hub.wait_stopped(user)
    assert job_id not in active_jobs(user)
    # stop() returns once the job is on its way out (COMPLETING); it ends cancelled.
    deadline = time.monotonic() + 30
    while job_info(job_id)["JobState"] == "COMPLETING" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert job_info(job_id)["JobState"] == "CANCELLED"


def test_rest_spawn_with_user_options(hub):
    user = "moss02"
    r = hub.api(
        "POST",
        f"/users/{user}/server",
        json={"user_options": {"partition": "cpu", "nprocs": 2, "runtime": "45"}},
    )
    assert r.status_code in (201, 202), r.text
    model = hub.wait_ready(user)
    info = job_info(model["state"]["job_id"])
    assert (info["Partition"], info["NumCPUs"], info["TimeLimit"]) == ("cpu", "2", "00:45:00")
    r = hub.api("DELETE", f"/users/{user}/server")
    assert r.status_code in (202, 204)
    hub.wait_stopped(user)
    assert active_jobs(user) == []


def test_named_server(hub):
    user = "moss03"
    r = hub.api(
        "POST", f"/users/{user}/servers/analysis", json={"user_options": {"partition": "cpu"}}
    )
    assert r.status_code in (201, 202), r.text
    model = hub.wait_ready(user, "analysis")
    info = job_info(model["state"]["job_id"])
    assert info["JobName"] == f"jupyter-{user}-analysis"
    client = hub.login(user)
    assert hub.server_status(client, user, "analysis").status_code == 200
    hub.api("DELETE", f"/users/{user}/servers/analysis")
    hub.wait_stopped(user, "analysis")
    assert active_jobs(user) == []


def test_bad_form_value_is_shown_on_the_form_and_nothing_is_submitted(hub):
    user = "moss04"
    client = hub.login(user)
    before = hub.metric("jupyterhub_moss_slurm_commands_total", command="sbatch")
    r = hub.spawn_form(client, {"partition": "long", "runtime": "1-00:00:00"})
    assert r.status_code == 400
    assert (
        "runtime: 1-00:00:00 is out of range: partition &#39;long&#39; allows 1 min to 12 h"
        in r.text
    )
    r = hub.api("POST", f"/users/{user}/server", json={"user_options": {"nprocs": 1000}})
    assert r.status_code == 400
    assert r.json()["message"] == "nprocs: 1000 is out of range: partition 'cpu' allows 1 to 28"
    assert hub.metric("jupyterhub_moss_slurm_commands_total", command="sbatch") == before
    assert active_jobs(user) == []


def test_slurm_refusal_reaches_the_user(hub_factory):
    # Nothing the spawner checks: Slurm itself refuses the job (no node has the feature).
    hub = hub_factory('c.MOSlurmSpawner.allowed_sbatch_options = {"--constraint": "[a-z]+"}\n')
    user = "moss04"
    r = hub.api(
        "POST",
        f"/users/{user}/server",
        json={"user_options": {"partition": "cpu", "options": "--constraint=nosuchfeature"}},
    )
    assert r.status_code == 400, r.text
    assert r.json()["message"] == (
        "Slurm refused the job: Batch job submission failed: Invalid feature specification"
    )
    assert hub.server_model(user) is None
    assert active_jobs(user) == []


def test_a_user_cannot_see_or_touch_another_users_job(hub):
    owner, other = "moss05", "moss06"
    r = hub.api("POST", f"/users/{owner}/server", json={"user_options": {"partition": "cpu"}})
    assert r.status_code in (201, 202)
    job_id = hub.wait_ready(owner)["state"]["job_id"]
    client = hub.login(other)
    resources = client.get("/hub/api/moss/resources", headers=hub.xsrf(client))
    assert resources.status_code == 200
    # Partition totals only: no job, no user.
    assert owner not in resources.text and '"job' not in resources.text
    fields = {key for p in resources.json()["partitions"] for key in p}
    assert not any("job" in key or "user" in key for key in fields), fields
    assert client.post(f"/hub/spawn/{owner}", headers=hub.xsrf(client)).status_code in (403, 404)
    r = client.delete(f"/hub/api/users/{owner}/server", headers=hub.xsrf(client))
    assert r.status_code in (403, 404)
    assert hub.server_status(client, owner).status_code == 403
    assert hub.server_model(owner)["ready"]
    assert active_jobs(owner) == [job_id]


def test_a_root_dir_missing_on_the_node_fails_with_a_plain_sentence(hub):
    user = "moss09"
    r = hub.api(
        "POST",
        f"/users/{user}/server",
        json={"user_options": {"partition": "cpu", "root_dir": "/no/such/folder"}},
    )
    if r.status_code == 202:
        failed = [e for e in hub.progress_events(user) if e.get("failed")]
        assert failed, "the spawn did not fail"
        message = failed[-1]["message"]
    else:  # it failed before the REST call returned
        assert r.status_code == 500, r.text
        message = r.json()["message"]
    sentence = re.search(r"The folder /no/such/folder does not exist on node node[12]\.", message)
    assert sentence, message
    assert sentence.start() < message.index("before the server started"), message
    assert "Traceback" not in message
    assert hub.server_model(user) is None or not hub.server_model(user)["ready"]
