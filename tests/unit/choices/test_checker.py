"""choices/checker.py: the admin's partitions checked when they are set, and the
partitions each user may use (a list, or a callable that may be async)."""

from types import SimpleNamespace

import pytest
from support.partitions import SEED
from traitlets import TraitError

from jupyterhub_moss.choices.checker import UserChoices


def test_partitions_are_validated_when_they_are_set():
    with pytest.raises(TraitError, match="max_nprocs"):
        UserChoices(partitions={"cpu": {**SEED["cpu"], "max_nprocs": -1}})


def test_the_validated_partitions_and_their_fingerprint_follow_the_setting():
    choices = UserChoices(partitions=SEED)
    assert set(choices.configured_partitions()) == set(SEED)
    before = choices.partitions_fingerprint()
    choices.partitions = {"cpu": SEED["cpu"]}
    assert set(choices.configured_partitions()) == {"cpu"}
    assert choices.partitions_fingerprint() != before


async def test_without_user_partitions_every_partition_is_allowed():
    assert await UserChoices(partitions=SEED).allowed_partition_names() is None


async def test_user_partitions_may_be_a_list():
    choices = UserChoices(partitions=SEED, user_partitions=["cpu"])
    assert await choices.allowed_partition_names() == {"cpu"}


async def test_user_partitions_may_be_a_callable_given_the_spawner():
    def by_group(spawner):
        return ["cpu", "gpu"] if "gpu-users" in spawner.user.groups else ["cpu"]

    choices = UserChoices(partitions=SEED, user_partitions=by_group)
    choices.user = SimpleNamespace(groups=["gpu-users"])
    assert await choices.allowed_partition_names() == {"cpu", "gpu"}


async def test_user_partitions_may_be_async():
    async def from_a_service(spawner):
        return ("cpu",)

    choices = UserChoices(partitions=SEED, user_partitions=from_a_service)
    assert await choices.allowed_partition_names() == {"cpu"}
