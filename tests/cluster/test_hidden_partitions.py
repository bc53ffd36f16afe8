"""Partitions that Slurm hides from accounts outside them (``Hidden=YES``, and
``AllowGroups`` for a non-member), seen by a hub whose queries run as an ordinary
account, as at a site where the hub is unprivileged. On the real cluster.

slurmctld shows root everything, so the hub's ``sinfo``, ``scontrol`` and
``squeue`` run here as moss16, which is in no group of these partitions.
"""

import subprocess

import pytest
from support.hubtools import HUB_VENV, PARTITIONS, queries_as, slurm

# The hub's queries run as moss16 through wrappers that call sudo, which only root
# may do without rules: these hubs run as root.
pytestmark = [pytest.mark.cluster, pytest.mark.root_hub]

HUB_ACCOUNT = "moss16"
USER = "moss13"  # a member of the AllowGroups partition's group
GROUP = "moss-hidden-test"
HIDDEN, GROUPED = "mosshidden", "mossgroup"


@pytest.fixture
def hidden_partitions():
    subprocess.run(["groupadd", "-f", GROUP], check=True)
    subprocess.run(["usermod", "-a", "-G", GROUP, USER], check=True)
    slurm("scontrol", "create", f"PartitionName={HIDDEN}", "Nodes=node5", "Hidden=YES")
    slurm("scontrol", "create", f"PartitionName={GROUPED}", "Nodes=node5", f"AllowGroups={GROUP}")
    try:
        yield
    finally:
        slurm("scancel", "-p", f"{HIDDEN},{GROUPED}", check=False)
        slurm("scontrol", "delete", f"PartitionName={HIDDEN}", check=False)
        slurm("scontrol", "delete", f"PartitionName={GROUPED}", check=False)
        subprocess.run(["gpasswd", "-d", USER, GROUP], capture_output=True)


@pytest.fixture
def unprivileged_queries():
    with queries_as(HUB_ACCOUNT) as folder:
        yield folder


def partition(description: str) -> dict:
    return {
        **PARTITIONS["cpu"],
        "description": description,
        "max_nprocs": 4,
        "venv": str(HUB_VENV / "bin") + "/",
    }


def test_an_unprivileged_hub_sees_hidden_and_group_partitions_and_their_jobs(
    hub_factory, hidden_partitions, unprivileged_queries
):
    # What the hub's account is shown without asking for all: neither partition.
    shown = slurm("runuser", "-u", HUB_ACCOUNT, "--", "sinfo", "-h", "-o", "%P").split()
    assert HIDDEN not in shown and GROUPED not in shown
    partitions = {
        **PARTITIONS,
        HIDDEN: partition("Hidden"),
        GROUPED: partition("Group only"),
    }
    hub = hub_factory(
        f"""
        c.MOSlurmSpawner.partitions = {partitions!r}
        c.MOSlurmSpawner.slurm_bin_dir = {str(unprivileged_queries)!r}
        """
    )
    client = hub.login(USER)
    try:
        r = client.get("/hub/api/moss/resources", headers=hub.xsrf(client))
    finally:
        client.close()
    assert r.status_code == 200, r.text
    found = {p["name"]: p["resources"] for p in r.json()["partitions"]}
    for name in (HIDDEN, GROUPED):
        assert name in found, found.keys()
        assert found[name]["nodes_total"] == 1, found[name]

    # A server in each: the hub follows jobs it would not be shown by default.
    for name, server in ((HIDDEN, "h"), (GROUPED, "g")):
        r = hub.api(
            "POST", f"/users/{USER}/servers/{server}", json={"user_options": {"partition": name}}
        )
        assert r.status_code in (201, 202), r.text
        model = hub.wait_ready(USER, server, timeout=120)
        assert model["state"]["job_id"]
        r = hub.api("DELETE", f"/users/{USER}/servers/{server}")
        assert r.status_code in (202, 204), r.text
        hub.wait_stopped(USER, server)
