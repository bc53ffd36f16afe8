"""Accounts and QOS degrade quietly: on a cluster without slurmdbd (the Slurm 24.11
run), or with ``slurm_accounting = "off"``, the page offers no account or QOS,
a start without them works as before, and one that names an account is refused
with a plain message before sbatch runs."""

import json
import re

import pytest
from support.hubtools import active_jobs, job_info, slurm

pytestmark = pytest.mark.cluster


@pytest.fixture
def hub_without_accounting(hub_factory):
    if "accounting_storage/slurmdbd" in slurm("scontrol", "show", "config"):
        # The host cluster keeps accounting: the admin turns it off.
        return hub_factory('c.MOSlurmSpawner.slurm_accounting = "off"')
    return hub_factory()


def test_no_account_or_qos_is_offered(hub_without_accounting):
    hub = hub_without_accounting
    page = hub.login("moss01").get(f"{hub.url}/hub/spawn")
    data = json.loads(re.search(r'id="moss-data">(.*?)</script>', page.text, re.S).group(1))
    assert data["facts"]["accounts"] is None
    assert [p["name"] for p in data["partitions"]] == ["cpu", "gpu", "long"]


def test_an_account_given_is_refused_and_none_given_starts(hub_without_accounting):
    hub = hub_without_accounting
    r = hub.api(
        "POST",
        "/users/moss01/server",
        json={"user_options": {"partition": "cpu", "account": "proj1"}},
    )
    assert r.status_code == 400, r.text
    assert r.json()["message"] == (
        "account: this cluster has no Slurm accounting, so no account can be chosen"
    )
    assert active_jobs("moss01") == []
    r = hub.api("POST", "/users/moss01/server", json={"user_options": {"partition": "cpu"}})
    assert r.status_code in (201, 202), r.text
    model = hub.wait_ready("moss01")
    assert job_info(model["state"]["job_id"])["Partition"] == "cpu"
