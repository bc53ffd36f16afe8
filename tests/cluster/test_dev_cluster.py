"""The local cluster holds what dev/cluster-up.sh documents: the accounting
objects the account and QOS tests rely on, and the GPU types of node5.

On a cluster without slurmdbd (the Slurm 24.11 run) the accounting checks are
skipped: that run tests that the spawn page hides accounts and QOS instead.
"""

import subprocess

import pytest
from support.hubtools import slurm

pytestmark = pytest.mark.cluster


@pytest.fixture
def accounting():
    if "accounting_storage/slurmdbd" not in slurm("scontrol", "show", "config"):
        pytest.skip("this cluster runs without slurmdbd")


def _associations(user: str) -> set[tuple[str, str, str, str]]:
    out = slurm(
        "sacctmgr", "-nP", "show", "assoc", "where", f"user={user}",
        "format=Account,Partition,QOS,DefaultQOS",
    )  # fmt: skip
    return {tuple(line.split("|")) for line in out.splitlines() if line}


def test_the_documented_associations_exist(accounting):
    assert _associations("moss01") == {
        ("moss", "", "normal", ""),
        ("proj1", "", "capped,normal,short", "normal"),
        ("proj2", "", "normal", ""),
    }
    assert _associations("moss03") == {
        ("moss", "", "normal", ""),
        ("physics", "debug", "normal", ""),
    }
    assert _associations("moss16") == {("moss", "", "normal", "")}
    out = slurm("sacctmgr", "-nP", "show", "user", "moss01", "format=DefaultAccount")
    assert out.strip() == "moss"


def test_the_documented_qos_exist_with_their_limits(accounting):
    out = slurm("sacctmgr", "-nP", "show", "qos", "format=Name,MaxWall,Flags")
    qos = {line.split("|")[0]: line.split("|")[1:] for line in out.splitlines() if line}
    assert qos["short"] == ["00:30:00", "DenyOnLimit"]
    assert qos["capped"] == ["00:20:00", ""]
    assert "normal" in qos


def test_associations_are_enforced(accounting):
    out = subprocess.run(
        ["sudo", "-u", "moss03", "sbatch", "--test-only", "-p", "cpu", "-A", "physics",
         "--wrap", "true"],
        capture_output=True, text=True, timeout=60,
    ).stderr  # fmt: skip
    assert "Invalid account or account/partition combination specified" in out


def test_node5_has_two_gpu_types_in_partition_gpumix():
    out = slurm("scontrol", "-o", "show", "node", "node5")
    assert "Gres=gpu:A100-SXM4-40GB:2,gpu:a100_1g.5gb:3" in out
    out = slurm("scontrol", "-o", "show", "partition", "gpumix")
    assert "Nodes=node[3,5]" in out
