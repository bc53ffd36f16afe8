"""GPU types on the real cluster: partition gpumix holds node3 (2 V100) and node5
(2 A100 and 3 MIG slices of type a100_1g.5gb), as dev/cluster-up.sh sets it up."""

import json
import re

import pytest
from support.hubtools import GPUMIX_PARTITION, active_jobs, job_info

pytestmark = pytest.mark.cluster

CONFIG = f"""
c.MOSlurmSpawner.partitions["gpumix"] = {GPUMIX_PARTITION!r}
"""


def page_partitions(hub, user: str) -> dict:
    page = hub.login(user).get(f"{hub.url}/hub/spawn")
    data = json.loads(re.search(r'id="moss-data">(.*?)</script>', page.text, re.S).group(1))
    return {p["name"]: p for p in data["partitions"]}


def test_a_partition_with_several_types_offers_each_with_its_counts(hub_factory):
    hub = hub_factory(CONFIG)
    parts = page_partitions(hub, "moss01")
    types = {
        t["type"]: (t["idle"], t["total"], t["max_per_job"]) for t in parts["gpumix"]["gpu_types"]
    }
    assert types == {
        "A100-SXM4-40GB": (2, 2, 2),
        "V100-SXM2-32GB": (2, 2, 2),
        "a100_1g.5gb": (3, 3, 3),
    }
    # The seed's single-type template offers no choice.
    assert parts["gpu"]["gpu_types"] == []


def test_gpu_type_choice_gives_that_exact_gres(hub_factory):
    hub = hub_factory(CONFIG)
    options = {"partition": "gpumix", "ngpus": 1, "gpu_type": "a100_1g.5gb", "nprocs": 1}
    r = hub.api("POST", "/users/moss04/server", json={"user_options": options})
    assert r.status_code in (201, 202), r.text
    model = hub.wait_ready("moss04")
    info = job_info(model["state"]["job_id"])
    # Slurm 22.05 writes gres:gpu:..., 24.11 gres/gpu:...
    assert info["TresPerNode"].replace("gres/", "gres:") == "gres:gpu:a100_1g.5gb:1"
    assert info["NodeList"] == "node5"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"partition": "gpumix", "ngpus": 1, "gpu_type": "h100"},
            "gpu_type: 'h100' is not a GPU type of partition 'gpumix'; choose one of: any, "
            "A100-SXM4-40GB, a100_1g.5gb, V100-SXM2-32GB",
        ),
        (
            {"partition": "gpumix", "ngpus": 3, "gpu_type": "A100-SXM4-40GB"},
            "ngpus: 3 is out of range: GPU type 'A100-SXM4-40GB' allows 0 to 2",
        ),
    ],
)
def test_a_gpu_type_the_partition_lacks_is_refused_before_sbatch(hub_factory, options, message):
    hub = hub_factory(CONFIG)
    r = hub.api("POST", "/users/moss04/server", json={"user_options": options})
    assert r.status_code == 400, r.text
    assert r.json()["message"] == message
    assert active_jobs("moss04") == []
