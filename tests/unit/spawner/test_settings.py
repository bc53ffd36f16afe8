"""spawner/settings.py and the parts the spawner builds from its settings: the
admin's partitions checked when they are set, the partitions each user may use (a
list, or a callable that may be async), and the admin's #SBATCH options."""

from types import SimpleNamespace

import pytest
from support.partitions import SEED
from traitlets import TraitError

from jupyterhub_moss.choices.checker import UserChoices
from jupyterhub_moss.choices.facts import SlurmFacts
from jupyterhub_moss.spawner.lifecycle import MOSlurmSpawner
from jupyterhub_moss.spawner.settings import MossSettings


def test_partitions_are_validated_when_they_are_set():
    with pytest.raises(TraitError, match="max_nprocs"):
        MOSlurmSpawner(partitions={"cpu": {**SEED["cpu"], "max_nprocs": -1}})


def test_the_validated_partitions_and_their_fingerprint_follow_the_setting():
    spawner = MOSlurmSpawner(partitions=SEED)
    assert set(spawner.configured_partitions()) == set(SEED)
    before = spawner.partitions_fingerprint()
    spawner.partitions = {"cpu": SEED["cpu"]}
    assert set(spawner.configured_partitions()) == {"cpu"}
    assert spawner.partitions_fingerprint() != before


async def test_without_user_partitions_every_partition_is_allowed():
    assert await MOSlurmSpawner(partitions=SEED).allowed_partition_names() is None


async def test_user_partitions_may_be_a_list():
    spawner = MOSlurmSpawner(partitions=SEED, user_partitions=["cpu"])
    assert await spawner.allowed_partition_names() == {"cpu"}


async def test_user_partitions_may_be_a_callable_given_the_spawner():
    def by_group(spawner):
        return ["cpu", "gpu"] if "gpu-users" in spawner.user.groups else ["cpu"]

    spawner = MOSlurmSpawner(partitions=SEED, user_partitions=by_group)
    spawner.user = SimpleNamespace(name="moss01", groups=["gpu-users"])
    assert await spawner.allowed_partition_names() == {"cpu", "gpu"}


async def test_user_partitions_may_be_async():
    async def from_a_service(spawner):
        return ("cpu",)

    spawner = MOSlurmSpawner(partitions=SEED, user_partitions=from_a_service)
    assert await spawner.allowed_partition_names() == {"cpu"}


def test_the_spawner_builds_its_facts_and_checker_from_its_settings():
    spawner = MOSlurmSpawner(
        partitions={"cpu": SEED["cpu"]},
        slurm_accounting="off",
        accounts_cache_ttl=60,
        minimum_uid=5000,
        sbatch_directives=["--qos=short"],
        allow_user_environments=True,
        allowed_sbatch_options={"--constraint": r"[a-z]+"},
    )
    spawner.user = SimpleNamespace(name="moss01")
    facts = spawner.facts()
    assert isinstance(facts, SlurmFacts)
    assert (facts.username, facts.accounting, facts.accounts_ttl, facts.minimum_uid) == (
        "moss01",
        "off",
        60.0,
        5000,
    )
    assert facts.admin_sets_account  # --qos in sbatch_directives: users keep the admin's
    assert facts.client == spawner.slurm_client()
    checker = spawner.choices()
    assert isinstance(checker, UserChoices)
    assert set(checker.partitions) == {"cpu"}
    assert checker.user_environments is True
    assert checker.sbatch_options == {"--constraint": r"[a-z]+"}


def test_every_setting_of_the_package_is_declared_in_the_settings_class():
    ours = {
        name: trait.this_class
        for name, trait in MOSlurmSpawner.class_traits(config=True).items()
        if trait.this_class.__module__.startswith("jupyterhub_moss")
    }
    elsewhere = {name: cls.__qualname__ for name, cls in ours.items() if cls is not MossSettings}
    assert not elsewhere
    assert {"partitions", "exec_prefix", "minimum_uid", "start_again_presets"} <= set(ours)
