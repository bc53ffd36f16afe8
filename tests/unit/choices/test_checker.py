"""choices/checker.py: the partitions one user may choose from (the admin's, then
``user_partitions``, then what Slurm's access lists allow), merged with ``sinfo``,
and the options from the form or a link checked against them."""

import time

import pytest
from support.partitions import SEED, SINFO
from tornado.web import HTTPError

from jupyterhub_moss.choices.checker import UserChoices
from jupyterhub_moss.choices.facts import UserFacts
from jupyterhub_moss.site.partitions import validate_partitions
from jupyterhub_moss.slurm.clusterinfo import PartitionInfo
from jupyterhub_moss.slurm.sinfo import SinfoSnapshot, parse_sinfo
from jupyterhub_moss.web.spawn_links import LinkNeedsConfirmation

PARTITIONS = validate_partitions(SEED)


class Facts:
    """What Slurm says of the user: ``gpu`` is open to the group ``gpu-users`` only."""

    def __init__(self, groups=()):
        self.groups = frozenset(groups)
        self.asked = []

    async def user_facts(self, configured):
        self.asked.append(list(configured))
        return UserFacts(
            user="moss01",
            accounting=False,
            accounts=None,
            partitions={"gpu": PartitionInfo("gpu", allow_groups=frozenset({"gpu-users"}))},
            reservations=None,
            groups=self.groups,
        )


class Sinfo:
    async def get(self):
        return SinfoSnapshot(parse_sinfo(SINFO), time.monotonic())


def checker(allowed=None, groups=(), **kwargs) -> UserChoices:
    async def allowed_names():
        return allowed

    return UserChoices(PARTITIONS, Facts(groups), Sinfo(), allowed_names, **kwargs)


async def test_every_partition_slurm_lets_the_user_use_is_offered():
    views, facts = await checker(groups=["gpu-users"]).views_and_facts()
    assert set(views) == set(SEED)
    assert facts.user == "moss01"


async def test_a_partition_the_access_lists_close_to_the_user_is_left_out():
    assert "gpu" not in await checker().partition_views()


async def test_only_the_partitions_user_partitions_allows_are_offered_and_asked_about():
    choices = checker(allowed={"cpu"}, groups=["gpu-users"])
    assert set(await choices.partition_views()) == {"cpu"}
    assert choices.facts.asked == [["cpu"]]


async def test_a_refused_value_is_a_400_naming_the_field():
    with pytest.raises(HTTPError) as info:
        await checker().validated_options({"partition": "cpu", "nprocs": "999"})
    assert info.value.status_code == 400
    assert "nprocs" in info.value.log_message


async def test_a_partition_left_out_is_refused_when_chosen():
    with pytest.raises(HTTPError) as info:
        await checker().validated_options({"partition": "gpu", "nprocs": "1"})
    assert "partition" in info.value.log_message


async def test_the_form_gives_the_checked_user_options():
    options = await checker().options_from_form({"partition": ["cpu"], "nprocs": ["2"]})
    assert options["partition"] == "cpu" and options["nprocs"] == 2


async def test_user_environments_are_refused_unless_the_setting_allows_them():
    raw = {"partition": "cpu", "nprocs": "1", "environment_path": "/opt/env/bin/"}
    with pytest.raises(HTTPError, match="environment_path"):
        await checker().validated_options(raw)
    options = await checker(user_environments=True).validated_options(raw)
    assert options.environment_path == "/opt/env/bin/"


async def test_a_link_from_elsewhere_than_the_hub_pages_starts_nothing():
    with pytest.raises(LinkNeedsConfirmation):
        await checker().options_from_query({"partition": [b"cpu"]}, handler=None)
