"""Accounts no server is ever started for: root, Slurm's own account, and system
accounts under ``minimum_uid``; on the real cluster, nothing reaches sbatch."""

import pytest
from support.hubtools import active_jobs

from jupyterhub_moss.choices.facts import refuse_account


def test_root_slurms_account_and_low_uids_are_refused_with_a_reason():
    assert "superuser" in refuse_account("root", 0, 1000, "slurm")
    assert "superuser" in refuse_account("toor", 0, 0, "")
    assert "Slurm itself runs as" in refuse_account("slurm", 64030, 1000, "slurm")
    low = refuse_account("daemon", 1, 1000, "slurm")
    assert "user id 1 is under 1000" in low


def test_ordinary_accounts_are_not_refused():
    assert refuse_account("moss01", 1001, 1000, "slurm") is None
    assert refuse_account("alice", 1000, 1000, "") is None
    assert refuse_account("bob", 500, 0, "slurm") is None


def start_refused(hub, user):
    r = hub.api("POST", f"/users/{user}/server", json={"user_options": {"partition": "cpu"}})
    assert r.status_code == 403, (r.status_code, r.text)
    assert hub.server_model(user) is None
    return r.json()["message"]


@pytest.mark.cluster
def test_no_job_is_submitted_for_root_slurm_or_an_account_under_the_minimum(hub_factory):
    hub = hub_factory("c.MOSlurmSpawner.minimum_uid = 60000\n")
    before = hub.metric("jupyterhub_moss_slurm_commands_total", command="sbatch")
    for name in ("root", "slurm"):
        r = hub.api("POST", f"/users/{name}")
        assert r.status_code in (201, 409), r.text
    assert "superuser's account" in start_refused(hub, "root")
    assert "Slurm itself runs as" in start_refused(hub, "slurm")
    message = start_refused(hub, "moss03")
    assert "is under 60000, the lowest this hub starts servers for" in message
    assert active_jobs("moss03") == []
    assert hub.metric("jupyterhub_moss_slurm_commands_total", command="sbatch") == before
