"""The admin's partitions: the seed's example loads; mistakes are named."""

import copy

import pytest
from support.hubtools import PARTITIONS
from support.partitions import SEED, SINFO

from jupyterhub_moss.site.partitions import (
    PartitionConfigError,
    merge_partitions,
    validate_partitions,
)
from jupyterhub_moss.slurm.sinfo import parse_sinfo


def test_seed_example_loads():
    parts = validate_partitions(SEED)
    assert list(parts) == ["cpu", "gpu", "long"]
    assert parts["gpu"].gres(2) == "gpu:V100-SXM2-32GB:2"
    assert parts["gpu"].gres(0) is None
    assert parts["long"].simple is False


def test_test_partitions_load():
    assert validate_partitions(PARTITIONS)


def with_change(name, **changes):
    config = copy.deepcopy(SEED)
    for key, value in changes.items():
        if value is KeyError:
            del config[name][key]
        else:
            config[name][key] = value
    return config


@pytest.mark.parametrize(
    "config, expected",
    [
        (with_change("gpu", colour="blue"), ["['gpu']['colour']", "unknown field"]),
        (with_change("cpu", max_nprocs="28"), ["['cpu']['max_nprocs']", "integer"]),
        (with_change("cpu", max_nprocs=0), ["['cpu']['max_nprocs']", "greater than or equal to 1"]),
        (with_change("cpu", max_runtime=30), ["['cpu']['max_runtime']", "60"]),
        (with_change("cpu", simple="yes"), ["['cpu']['simple']", "boolean"]),
        (with_change("gpu", gpu="gpu:V100"), ["['gpu']['gpu']", "{}"]),
        (with_change("gpu", gpu="gpu:{}:{}"), ["['gpu']['gpu']", "one {}"]),
        (with_change("gpu", gpu="gpu:{} --uid=0"), ["['gpu']['gpu']", "letters"]),
        (with_change("cpu", max_ngpus=2), ["['cpu']['max_ngpus']", "'gpu' is None"]),
        (with_change("gpu", max_ngpus=0), ["['gpu']['gpu']", "max_ngpus is 0"]),
        (with_change("cpu", venv="relative/bin"), ["['cpu']['venv']", "absolute"]),
        (with_change("cpu", venv=KeyError), ["['cpu']: needs 'venv'", "jupyter_environments"]),
        (
            {n: {**p, "simple": False} for n, p in SEED.items()},
            ["no partition has 'simple': True"],
        ),
        ({"bad name": SEED["cpu"]}, ["'bad name'", "not a Slurm partition name"]),
        ({"cpu": "x"}, ["['cpu']", "must be a dict"]),
        ({}, ["empty"]),
        ([], ["must be a dict"]),
    ],
)
def test_bad_configs_are_named(config, expected):
    with pytest.raises(PartitionConfigError) as info:
        validate_partitions(config)
    message = str(info.value)
    for text in expected:
        assert text in message, message


def test_every_problem_is_reported_at_once():
    config = with_change("cpu", colour="red")
    config["gpu"]["max_nprocs"] = -1
    with pytest.raises(PartitionConfigError) as info:
        validate_partitions(config)
    assert "['cpu']['colour']" in str(info.value)
    assert "['gpu']['max_nprocs']" in str(info.value)


def test_merge_bounds_admin_limits_by_the_cluster():
    config = copy.deepcopy(SEED)
    config["cpu"]["max_nprocs"] = 64  # more than a node has
    config["long"].pop("max_nprocs")  # left to sinfo
    config["debug"] = {"venv": "/x/bin/", "max_runtime": 3 * 3600}
    views = merge_partitions(validate_partitions(config), parse_sinfo(SINFO))
    assert views["cpu"].max_nprocs == 28
    assert views["long"].max_nprocs == 28
    assert views["gpu"].max_ngpus == 2
    assert views["gpu"].max_memory_mb == 256000
    assert views["debug"].max_runtime == 30 * 60  # MaxTime wins over the admin's 3 h
    assert views["debug"].available is False
    assert "not up" in views["debug"].unavailable_reason


def test_partition_missing_from_sinfo_is_unavailable_not_an_error():
    config = copy.deepcopy(SEED)
    config["ghost"] = dict(SEED["cpu"])
    views = merge_partitions(validate_partitions(config), parse_sinfo(SINFO))
    assert views["ghost"].available is False
    assert "does not report" in views["ghost"].unavailable_reason
    assert views["cpu"].available is True


def test_controller_down_keeps_complete_partitions_usable():
    config = copy.deepcopy(SEED)
    config["bare"] = {"venv": "/x/bin/"}  # needs sinfo for its limits
    views = merge_partitions(validate_partitions(config), None, "connection refused")
    assert views["cpu"].available is True
    assert views["cpu"].max_nprocs == 28
    assert views["bare"].available is False
    assert "connection refused" in views["bare"].unavailable_reason


def test_admin_settings_are_checked_when_set():
    from traitlets import TraitError

    from jupyterhub_moss import MOSlurmSpawner

    with pytest.raises(TraitError, match="RE2"):
        MOSlurmSpawner(allowed_sbatch_options={"--qos": r"(?=a)a"})
    with pytest.raises(TraitError, match="cannot be left to users"):
        MOSlurmSpawner(allowed_sbatch_options={"--uid": r"[0-9]+"})
    with pytest.raises(TraitError, match="batchspawner template"):
        MOSlurmSpawner(batch_script="#!/bin/bash\n{cmd}\n")
    with pytest.raises(TraitError, match="'gpu'\\]\\['max_ngpus'\\]"):
        MOSlurmSpawner(partitions={"gpu": {"venv": "/x/bin/", "max_ngpus": 2}})
    spawner = MOSlurmSpawner(exec_prefix="sudo -E -u {username}")
    assert spawner.exec_prefix == ["sudo", "-E", "-u", "{username}"]
    assert MOSlurmSpawner(req_prologue="module load x").prologue == "module load x"
