"""Slurm accounts and QOS on a cluster with slurmdbd (dev/cluster-up.sh's accounting
mode): what the hub offers is what the associations allow, and anything else is
refused with a 400 naming the field before sbatch runs.

The accounts of the test users are listed at the top of dev/cluster-up.sh.
"""

import json
import re

import pytest
from support.hubtools import PARTITIONS, active_jobs, job_info, node4_reservation, queries_as, slurm

pytestmark = pytest.mark.cluster

DEBUG = {**PARTITIONS["cpu"], "description": "Debug", "max_runtime": 30 * 60, "simple": True}
CONFIG = f"""
c.MOSlurmSpawner.partitions["debug"] = {DEBUG!r}
"""


@pytest.fixture(autouse=True)
def accounting():
    if "accounting_storage/slurmdbd" not in slurm("scontrol", "show", "config"):
        pytest.skip("this cluster runs without slurmdbd")


def sacctmgr_accounts(user: str) -> set[str]:
    out = slurm("sacctmgr", "-nP", "show", "assoc", "where", f"user={user}", "format=Account")
    return {line for line in out.splitlines() if line}


def form_data(hub, user: str) -> dict:
    client = hub.login(user)
    page = client.get(f"{hub.url}/hub/spawn")
    assert page.status_code == 200
    match = re.search(r'<script type="application/json" id="moss-data">(.*?)</script>', page.text)
    return json.loads(match.group(1))


def test_page_offers_exactly_the_accounts_sacctmgr_lists(hub_factory):
    hub = hub_factory(CONFIG)
    for user in ("moss01", "moss03", "moss05"):
        accounts = form_data(hub, user)["facts"]["accounts"]
        assert set(accounts["accounts"]) == sacctmgr_accounts(user), user
        assert accounts["default_account"] == "moss"
    # physics is moss03's on partition debug only.
    accounts = form_data(hub, "moss03")["facts"]["accounts"]["accounts"]
    assert list(accounts["physics"]["partitions"]) == ["debug"]
    # proj1's QOS and their MaxWall, as sacctmgr has them.
    cpu = form_data(hub, "moss01")["facts"]["accounts"]["accounts"]["proj1"]["partitions"]["cpu"]
    assert sorted(cpu["qos"]) == ["capped", "normal", "short"]
    assert cpu["default_qos"] == "normal"
    assert cpu["max_runtime_by_qos"] == {"capped": 20 * 60, "normal": 12 * 3600, "short": 30 * 60}


def test_an_account_and_qos_chosen_over_rest_reach_the_job(hub_factory):
    hub = hub_factory(CONFIG)
    options = {"partition": "cpu", "account": "proj1", "qos": "short", "runtime": "00:25:00"}
    r = hub.api("POST", "/users/moss01/server", json={"user_options": options})
    assert r.status_code in (201, 202), r.text
    model = hub.wait_ready("moss01")
    info = job_info(model["state"]["job_id"])
    assert (info["Account"], info["QOS"]) == ("proj1", "short")


def test_no_account_given_uses_the_default_account_and_qos(hub_factory):
    hub = hub_factory(CONFIG)
    r = hub.api("POST", "/users/moss02/server", json={"user_options": {"partition": "cpu"}})
    assert r.status_code in (201, 202), r.text
    model = hub.wait_ready("moss02")
    info = job_info(model["state"]["job_id"])
    assert (info["Account"], info["QOS"]) == ("moss", "normal")


@pytest.mark.parametrize(
    ("user", "options", "message"),
    [
        (
            "moss05",
            {"partition": "cpu", "account": "proj1"},
            "account: 'proj1' is not one of your Slurm accounts; choose one of: moss",
        ),
        (
            "moss03",
            {"partition": "cpu", "account": "physics"},
            "account: 'physics' cannot be used on partition 'cpu'; it can be used on: debug",
        ),
        (
            "moss01",
            {"partition": "cpu", "account": "proj2", "qos": "short"},
            "qos: 'short' is not allowed for account 'proj2' on partition 'cpu'; "
            "choose one of: normal",
        ),
        (
            "moss01",
            {"partition": "cpu", "account": "proj1", "qos": "short", "runtime": "01:00:00"},
            "runtime: 01:00:00 is out of range: QOS 'short' allows 1 min to 30 min (00:30:00)",
        ),
    ],
)
def test_forbidden_combinations_are_refused_over_rest_naming_the_field(
    hub_factory, user, options, message
):
    hub = hub_factory(CONFIG)
    before = hub.metric("jupyterhub_moss_slurm_commands_total", command="sbatch")
    r = hub.api("POST", f"/users/{user}/server", json={"user_options": options})
    assert r.status_code == 400, r.text
    assert r.json()["message"] == message
    assert hub.server_model(user) is None
    assert active_jobs(user) == []
    assert hub.metric("jupyterhub_moss_slurm_commands_total", command="sbatch") == before


def test_forbidden_account_is_refused_through_the_form_and_a_link(hub_factory):
    hub = hub_factory(CONFIG)
    client = hub.login("moss05")
    r = hub.spawn_form(client, {"partition": "cpu", "account": "proj1"})
    assert r.status_code == 400
    assert "account: &#39;proj1&#39; is not one of your Slurm accounts" in r.text
    r = client.get(f"{hub.url}/hub/spawn/moss05?opt-partition=cpu&opt-account=proj1")
    assert r.status_code == 400
    assert "is not one of your Slurm accounts" in r.text
    assert active_jobs("moss05") == []


def test_no_runtime_given_is_lowered_to_the_qos_maxwall(hub_factory):
    hub = hub_factory(CONFIG)
    options = {"partition": "cpu", "account": "proj1", "qos": "capped"}
    r = hub.api("POST", "/users/moss01/server", json={"user_options": options})
    assert r.status_code in (201, 202), r.text
    model = hub.wait_ready("moss01")
    assert job_info(model["state"]["job_id"])["TimeLimit"] == "00:20:00"


def test_partition_closed_by_allowaccounts_is_not_offered(hub_factory):
    slurm("scontrol", "update", "PartitionName=debug", "AllowAccounts=physics")
    try:
        hub = hub_factory(CONFIG)
        names = [p["name"] for p in form_data(hub, "moss05")["partitions"]]
        assert "debug" not in names and "cpu" in names
        names = [p["name"] for p in form_data(hub, "moss03")["partitions"]]
        assert "debug" in names
        r = hub.api("POST", "/users/moss05/server", json={"user_options": {"partition": "debug"}})
        assert r.status_code == 400, r.text
        assert r.json()["message"].startswith("partition: 'debug' is not one you can use")
    finally:
        slurm("scontrol", "update", "PartitionName=debug", "AllowAccounts=ALL")


def test_pending_page_explains_a_run_time_over_the_qos_maxwall(hub_factory):
    hub = hub_factory(CONFIG)
    # The hub reads QOS capped (MaxWall 20 min) and keeps it for a while ...
    assert form_data(hub, "moss01")["facts"]["accounts"] is not None
    # ... while the admin lowers it: the start passes the hub's check, and Slurm,
    # without DenyOnLimit, takes the job but never starts it.
    slurm("sacctmgr", "-i", "modify", "qos", "where", "name=capped", "set", "MaxWall=00:10:00")
    try:
        options = {"partition": "cpu", "account": "proj1", "qos": "capped", "runtime": "15"}
        r = hub.api("POST", "/users/moss01/server", json={"user_options": options})
        assert r.status_code in (201, 202), r.text
        events = hub.progress_events("moss01", until="will never start", timeout=60)
        messages = [e["message"] for e in events]
        assert any(
            "the run time is longer than your QOS allows: this job will never start" in m
            and "(QOSMaxWallDurationPerJobLimit)" in m
            for m in messages
        ), messages
    finally:
        slurm("sacctmgr", "-i", "modify", "qos", "where", "name=capped", "set", "MaxWall=00:20:00")


def test_an_account_the_admin_sets_is_kept_and_not_offered(hub_factory):
    # A site from jupyterhub-moss 10.x or batchspawner that bills every job to one account.
    hub = hub_factory(CONFIG + 'c.MOSlurmSpawner.sbatch_directives = ["--account=proj1"]\n')
    assert form_data(hub, "moss01")["facts"]["accounts"] is None
    r = hub.api(
        "POST", "/users/moss01/server", json={"user_options": {"partition": "cpu", "qos": "short"}}
    )
    assert r.status_code == 400, r.text
    assert r.json()["message"] == "qos: is set by the administrators of this hub"
    r = hub.api("POST", "/users/moss01/server", json={"user_options": {"partition": "cpu"}})
    assert r.status_code in (201, 202), r.text
    model = hub.wait_ready("moss01")
    assert job_info(model["state"]["job_id"])["Account"] == "proj1"


@pytest.mark.root_hub  # the queries' wrappers call sudo, which only root may do without rules
def test_a_hub_whose_queries_run_as_an_ordinary_account_offers_accounts_qos_reservations(
    hub_factory,
):
    """sacctmgr, squeue, sinfo and scontrol as moss16, which is nobody's operator."""
    user = "moss01"
    with queries_as("moss16") as folder, node4_reservation(user) as reservation:
        hub = hub_factory(CONFIG + f"c.MOSlurmSpawner.slurm_bin_dir = {str(folder)!r}\n")
        data = form_data(hub, user)
        accounts = data["facts"]["accounts"]["accounts"]
        assert set(accounts) == sacctmgr_accounts(user)
        assert sorted(accounts["proj1"]["partitions"]["cpu"]["qos"]) == [
            "capped",
            "normal",
            "short",
        ]
        assert [r["name"] for r in data["facts"]["reservations"]["long"]] == [reservation]
        options = {"partition": "cpu", "account": "proj1", "qos": "short", "runtime": "00:25:00"}
        r = hub.api("POST", f"/users/{user}/server", json={"user_options": options})
        assert r.status_code in (201, 202), r.text
        info = job_info(hub.wait_ready(user)["state"]["job_id"])
        assert (info["Account"], info["QOS"]) == ("proj1", "short")
