"""Every feature of a hub that runs as an ordinary account on a host of its own
(dev/site-up.sh), where the servers run on other hosts: the estimate, the job
output, accounts and QOS, reservations, cancelling a waiting server, and
internal_ssl. By default the hub's host does not see the users' homes (its /home
is empty); ``shared_home=True`` gives it them."""

import os
import time
from pathlib import Path

import pytest
from support.site import answers, site_slurm, start, started_and_proxied

pytestmark = pytest.mark.cluster

LISTENING = "jupyterhub_moss: server listening on"


def read_log(hub, client, user: str, wanted=None, timeout: float = 20) -> dict:
    """The log API's answer (once its lines hold ``wanted``, if given)."""
    deadline = time.time() + timeout
    while True:
        r = client.get(f"/hub/api/moss/log/{user}", headers=hub.xsrf(client))
        if r.status_code == 429:
            time.sleep(float(r.headers.get("Retry-After", "2")))
            continue
        assert r.status_code == 200, r.text
        body = r.json()
        if wanted is None or any(wanted in line for line in body["lines"]):
            return body
        if time.time() > deadline:
            return body
        time.sleep(2.1)


def site_job(job_id: str) -> dict:
    """``scontrol show job`` of the site's cluster, as a dict."""
    line = site_slurm("scontrol", "-o", "show", "job", job_id)
    return dict(word.split("=", 1) for word in line.split() if "=" in word)


def test_where_the_hub_cannot_see_homes_the_output_page_says_where_the_output_is(site_hub):
    user = "moss07"
    job_id = start(site_hub, user)["state"]["job_id"]
    client = site_hub.login(user)
    try:
        started = time.monotonic()
        body = read_log(site_hub, client, user)
        elapsed = time.monotonic() - started
        time.sleep(2.1)  # one read per viewer every 2 s
        page = client.get(f"/hub/moss/log/{user}")
    finally:
        client.close()
    assert (body["job_id"], body["found"], body["lines"]) == (job_id, False, [])
    # The path is the output's on the cluster, where it holds the server's log.
    where = body["where"]
    assert where.startswith(f"/home/{user}/"), where
    assert LISTENING in Path(where).read_text()
    assert f"On the cluster, it is {where}" in page.text
    assert elapsed < 5, elapsed  # nothing waited on a timeout


@pytest.mark.site_config(shared_home=True)
def test_where_the_hub_sees_homes_the_output_page_shows_the_output(site_hub):
    user = "moss08"
    start(site_hub, user)
    client = site_hub.login(user)
    try:
        body = read_log(site_hub, client, user, wanted=LISTENING)
    finally:
        client.close()
    assert body["found"] is True
    assert any(LISTENING in line for line in body["lines"]), body


@pytest.mark.site_config(
    'c.MOSlurmSpawner.partitions["site"]["venv"] = "/usr/local/no-such-env/bin/"\n'
)
def test_a_job_that_dies_at_once_says_where_its_output_is_on_the_cluster_quickly(site_hub):
    user = "moss09"
    started = time.monotonic()
    message = site_hub.failed_spawn(user, {"partition": "site"})
    elapsed = time.monotonic() - started
    assert "ended (FAILED) before the server started" in message, message
    assert "could not be read from the hub's host; it is in /home/moss09/" in message, message
    assert elapsed < 20, elapsed  # start_timeout is 90 s


def test_the_estimate_runs_as_the_user_through_the_sudo_rules(site_hub):
    client = site_hub.login("moss10")
    try:
        r = client.post(
            "/hub/api/moss/estimate",
            json={"user_options": {"partition": "site", "nprocs": 1, "runtime": "00:10:00"}},
            headers=site_hub.xsrf(client),
        )
    finally:
        client.close()
    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["text"]) == ("now", "starts now")


def test_a_waiting_server_cancelled_by_its_user_leaves_no_job(site_hub):
    user = "moss11"
    blocker = site_slurm(
        "runuser", "-u", "moss16", "--", "sbatch", "--parsable", "-p", "site", "-N", "2",
        "--exclusive", "-t", "10", "--chdir=/tmp", "--output=/dev/null", "--wrap", "sleep 600",
    ).strip()  # fmt: skip
    try:
        r = site_hub.api(
            "POST", f"/users/{user}/server", json={"user_options": {"partition": "site"}}
        )
        assert r.status_code == 202, r.text
        deadline = time.time() + 30
        jobs = ""
        while time.time() < deadline and not jobs:
            jobs = site_slurm("squeue", "-h", "-u", user, "-o", "%i %T").strip()
            time.sleep(0.3)
        assert jobs.endswith("PENDING"), jobs
        r = site_hub.api("DELETE", f"/users/{user}/server")
        assert r.status_code in (202, 204), r.text
        site_hub.wait_stopped(user)
        deadline = time.time() + 30
        while time.time() < deadline and site_slurm("squeue", "-h", "-u", user, "-o", "%i"):
            time.sleep(0.3)
        assert site_slurm("squeue", "-h", "-u", user, "-o", "%i").strip() == ""
    finally:
        site_slurm("scancel", blocker, check=False)


@pytest.fixture
def site_accounting():
    if "accounting_storage/slurmdbd" not in site_slurm("scontrol", "show", "config"):
        pytest.skip("the site's cluster runs without slurmdbd")


def test_accounts_and_qos_reach_the_job_and_a_qos_limit_is_refused_naming_the_field(
    site_accounting, site_hub
):
    user = "moss01"  # proj1 on the site: QOS normal, short and capped
    before = site_hub.metric("jupyterhub_moss_slurm_commands_total", command="sbatch")
    too_long = {"partition": "site", "account": "proj1", "qos": "short", "runtime": "01:00:00"}
    r = site_hub.api("POST", f"/users/{user}/server", json={"user_options": too_long})
    assert r.status_code == 400, r.text
    assert r.json()["message"] == (
        "runtime: 01:00:00 is out of range: QOS 'short' allows 1 min to 30 min (00:30:00)"
    )
    assert site_hub.metric("jupyterhub_moss_slurm_commands_total", command="sbatch") == before
    model = start(site_hub, user, account="proj1", qos="short", runtime="00:25:00")
    info = site_job(model["state"]["job_id"])
    assert (info["Account"], info["QOS"], info["TimeLimit"]) == ("proj1", "short", "00:25:00")


@pytest.fixture
def site_reservation():
    """A reservation of site2 for moss12 alone, for 10 minutes."""
    name = f"moss-site-{os.getpid()}"
    site_slurm(
        "scontrol", "create", "reservation", f"ReservationName={name}", "Users=moss12",
        "Nodes=site2", "StartTime=now", "Duration=10", "Flags=IGNORE_JOBS",
    )  # fmt: skip
    try:
        yield name
    finally:
        site_slurm("scancel", "-u", "moss12", check=False)
        deadline = time.time() + 30
        while time.time() < deadline:
            done = site_slurm("scontrol", "delete", f"ReservationName={name}", check=False)
            if name not in site_slurm("scontrol", "show", "reservation", check=False):
                break
            time.sleep(1)
        assert name not in site_slurm("scontrol", "show", "reservation", check=False), done


def test_a_reservation_is_offered_to_its_user_and_the_job_runs_in_it(site_reservation, site_hub):
    client = site_hub.login("moss12")
    try:
        form = client.get("/hub/spawn").text
    finally:
        client.close()
    assert site_reservation in form
    model = start(site_hub, "moss12", reservation=site_reservation)
    info = site_job(model["state"]["job_id"])
    assert (info["Reservation"], info["NodeList"]) == (site_reservation, "site2")
    assert answers(site_hub, "moss12")


@pytest.mark.site_config('c.JupyterHub.trusted_alt_names = ["IP:10.77.0.10"]\n', internal_ssl=True)
def test_internal_ssl_between_the_hub_host_and_a_node(site_hub):
    user = "moss13"
    model, target = started_and_proxied(site_hub, user)
    node = model["state"]["job_node"]
    assert target.startswith(f"https://{node}:41"), target
    # The job told the hub it was ready, from its node, over TLS: the hub's API
    # speaks nothing else.
    address = {"site1": "10.77.0.11", "site2": "10.77.0.12"}[node]
    assert f"POST /hub/api/moss/ready/{user} ({user}@{address})" in site_hub.log()
