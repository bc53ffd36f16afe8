"""The call a starting server's job makes to the hub when its server answers
(``POST {hub}/api/moss/ready/USER[/SERVER]``), on the real cluster.

Only the server's own token, only while it starts, only a port in the range, and
only once Slurm confirms the job; a job whose call cannot reach the hub still
starts, through its comment. And what a start costs slurmctld, counted.
"""

import re
import time

import pytest
from support.hubtools import (
    HUB_VENV,
    active_jobs,
    job_info,
    job_output,
    shared_folder,
    slurm,
    write_script,
)

pytestmark = pytest.mark.cluster


@pytest.fixture
def gated_hub(hub_factory):
    """A hub whose servers start only once the test creates ``GATE/JOBID``."""
    with shared_folder() as folder:
        gate = folder / "gate"
        gate.mkdir(mode=0o777)
        gate.chmod(0o777)
        wrapper = write_script(
            folder / "gated-server",
            "#!/bin/bash\n"
            f'until [ -e {gate}/"$SLURM_JOB_ID" ]; do sleep 0.2; done\n'
            f'exec {HUB_VENV}/bin/jupyterhub-singleuser "$@"\n',
        )
        hub = hub_factory(f"c.Spawner.cmd = [{str(wrapper)!r}]\n")
        hub.gate = gate
        yield hub


def start(hub, user, server=""):
    path = f"/users/{user}/servers/{server}" if server else f"/users/{user}/server"
    r = hub.api("POST", path, json={"user_options": {"partition": "cpu"}})
    assert r.status_code in (201, 202), r.text


def running_job(user, name):
    """The id of ``user``'s job named ``name``, once it runs."""
    deadline = time.time() + 30
    while time.time() < deadline:
        out = slurm("squeue", "-h", "-u", user, "-n", name, "-t", "RUNNING", "-o", "%i")
        if out.strip():
            return out.split()[0]
        time.sleep(0.3)
    raise AssertionError(f"no running job {name} of {user}")


def server_token(job_id: str) -> str:
    """The server's own token, as its job holds it (from the batch script)."""
    script = slurm("scontrol", "write", "batch_script", job_id, "-")
    match = re.search(r"^export JUPYTERHUB_API_TOKEN='?([0-9a-zA-Z_]+)'?$", script, re.M)
    assert match, "no API token in the batch script"
    return match.group(1)


def ready_call(hub, token, user, server="", body=None):
    path = f"/hub/api/moss/ready/{user}" + (f"/{server}" if server else "")
    return hub.request_with(token, "POST", path, json={"port": 40000} if body is None else body)


def test_the_ready_call_is_refused_for_other_tokens_ports_and_servers_not_starting(
    gated_hub,
):
    hub = gated_hub
    owner, other = "moss05", "moss06"
    start(hub, owner)
    start(hub, owner, "second")
    start(hub, other)
    owners_job = running_job(owner, f"jupyter-{owner}")
    second_job = running_job(owner, f"jupyter-{owner}-second")
    others_job = running_job(other, f"jupyter-{other}")
    own = server_token(owners_job)
    path_port = {"port": 40000}

    # Another user's server token, the same user's other server's token, the user's
    # own API token, the admin service's token: not this server's.
    for token in (server_token(others_job), server_token(second_job), hub.user_token(owner)):
        r = ready_call(hub, token, owner, body=path_port)
        assert r.status_code == 403, (r.status_code, r.text[:300])
    r = hub.api("POST", f"/moss/ready/{owner}", json=path_port)
    assert r.status_code == 403, r.text[:300]
    # Its own token, for another user's or another server's path.
    assert ready_call(hub, own, other).status_code == 403
    assert ready_call(hub, own, owner, "second").status_code == 403

    # Its own token, a port outside server_port_range, or no port at all.
    for body in ({"port": 80}, {"port": 70000}, {"port": "9000"}, {}, ["9000"]):
        r = ready_call(hub, own, owner, body=body)
        assert r.status_code == 400, (body, r.status_code, r.text[:300])

    # Its own token, a port in the range, but Slurm does not confirm it: the job's
    # comment has no port yet (its server does not answer).
    r = ready_call(hub, own, owner, body=path_port)
    assert r.status_code == 409, (r.status_code, r.text[:300])
    assert hub.server_model(owner)["ready"] is False

    # The gates open: each server calls, and is ready at once.
    for job_id in (owners_job, second_job, others_job):
        (hub.gate / job_id).touch()
    hub.wait_ready(owner)
    hub.wait_ready(owner, "second")
    model = hub.wait_ready(other)
    for job_id in (owners_job, second_job, others_job):
        assert re.search(
            r"jupyterhub_moss: the hub was told, [\d.]+ s after the server answered",
            job_output(job_id),
        )

    # A server that is no longer starting: another port is refused; its own port is
    # what the hub has already (a call that comes after a poll found the port).
    port = model["state"]["job_port"]
    other_port = port + 1 if port < 60999 else port - 1
    r = ready_call(hub, server_token(others_job), other, body={"port": other_port})
    assert r.status_code == 409, (r.status_code, r.text[:300])
    assert "not starting" in r.text
    r = ready_call(hub, server_token(others_job), other, body={"port": port})
    assert r.status_code == 200 and r.json()["already"] is True, r.text[:300]
    assert hub.server_model(other)["state"]["job_port"] == port
    accepted = hub.metric("jupyterhub_moss_ready_calls_total", outcome="accepted")
    late = hub.metric("jupyterhub_moss_ready_calls_total", outcome="late")
    assert (accepted, late) in ((3, 1), (2, 2), (1, 3), (0, 4)), (accepted, late)
    assert hub.metric("jupyterhub_moss_ready_calls_total", outcome="forbidden") == 6
    for user in (owner, other):
        hub.api("DELETE", f"/users/{user}/server")
    hub.api("DELETE", f"/users/{owner}/servers/second")
    hub.wait_stopped(owner)
    hub.wait_stopped(other)
    hub.wait_stopped(owner, "second")
    assert active_jobs(owner) == [] and active_jobs(other) == []


@pytest.fixture
def hub_without_ready_call(hub_factory):
    """A hub where the ready call's route is missing: the job's call fails (404)."""
    return hub_factory(
        "c.JupyterHub.extra_handlers = [\n"
        "    h for h in c.JupyterHub.extra_handlers if '/moss/ready' not in h[0]\n"
        "]\n"
        "c.MOSlurmSpawner.slurm_start_poll_interval = 2\n"
    )


def test_a_job_whose_call_cannot_reach_the_hub_starts_through_its_comment(
    hub_without_ready_call,
):
    hub = hub_without_ready_call
    user = "moss07"
    start(hub, user)
    model = hub.wait_ready(user)
    job_id = model["state"]["job_id"]
    output = job_output(job_id)
    assert "could not tell the hub (it will find the port in the job's comment)" in output
    assert "404" in output
    assert f"moss:port={model['state']['job_port']}" in job_info(job_id)["Comment"]
    assert hub.metric("jupyterhub_moss_ready_calls_total", outcome="accepted") == 0
    hub.api("DELETE", f"/users/{user}/server")
    hub.wait_stopped(user)


def sdiag_by_type() -> dict[str, int]:
    out = slurm("sdiag")
    section = out.split("Remote Procedure Call statistics by message type", 1)[1]
    section = section.split("Remote Procedure Call statistics by user", 1)[0]
    return {
        name: int(count)
        for name, count in re.findall(r"^\s*(\w+)\s+\(\s*\d+\)\s+count:(\d+)", section, re.M)
    }


@pytest.fixture
def slow_booting_hub(hub_factory):
    """A hub whose servers take 12 s to boot, and whose other polls are rare."""
    with shared_folder() as folder:
        wrapper = write_script(
            folder / "slow-server",
            f'#!/bin/bash\nsleep 12\nexec {HUB_VENV}/bin/jupyterhub-singleuser "$@"\n',
        )
        yield hub_factory(
            f"c.Spawner.cmd = [{str(wrapper)!r}]\n"
            "c.MOSlurmSpawner.slurm_poll_interval = 300\n"
            "c.MOSlurmSpawner.sinfo_cache_ttl = 300\n"
        )


def test_a_start_costs_slurmctld_a_handful_of_job_lookups_however_long_the_boot(
    slow_booting_hub,
):
    hub = slow_booting_hub
    user = "moss08"
    # The spawn page's partitions are read once (sinfo, cached) before the count.
    assert hub.login(user).get("/hub/spawn").status_code == 200
    slurm("sdiag", "-r")
    started = time.monotonic()
    start(hub, user)
    model = hub.wait_ready(user)
    took = time.monotonic() - started
    counts = sdiag_by_type()
    counts.pop("REQUEST_STATS_INFO", None)  # sdiag's own
    assert took > 12, took
    assert counts.get("REQUEST_SUBMIT_BATCH_JOB") == 1, counts
    lookups = counts.get("REQUEST_JOB_INFO_SINGLE", 0)
    # Polls back off while the job waits and its server boots (0.5 s, 1, 2, 4, 8, 15
    # after each change of state), and the server's call brings one look: 9 to 11
    # here, where the old pace of one look every 0.2 s made 60 and more.
    assert 2 <= lookups <= 12, counts
    # With sbatch's and the job's own (its comment): a handful, whatever the boot.
    assert sum(counts.values()) <= 16, counts
    assert active_jobs(user) == [str(model["state"]["job_id"])]
    hub.api("DELETE", f"/users/{user}/server")
    hub.wait_stopped(user)
