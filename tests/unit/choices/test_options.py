"""The user's options, checked against the partitions."""

import pytest
from support.partitions import SEED, SINFO, VIEWS

from jupyterhub_moss.choices.options import (
    OptionError,
    flatten_form,
    unwrap_user_options,
    validate_options,
)
from jupyterhub_moss.site.partitions import merge_partitions, validate_partitions
from jupyterhub_moss.slurm.sinfo import parse_sinfo


def check(raw, **kwargs):
    return validate_options(raw, VIEWS, **kwargs)


def test_defaults_take_the_first_simple_partition():
    opts = check({})
    assert (opts.partition, opts.nprocs, opts.ngpus, opts.runtime) == ("cpu", 1, 0, 3600)
    assert opts.to_user_options() == {
        "partition": "cpu",
        "nprocs": 1,
        "ngpus": 0,
        "runtime": "01:00:00",
    }


def test_form_strings_and_rest_values_give_the_same_options():
    from_form = check(
        flatten_form(
            {
                "partition": ["gpu"],
                "nprocs": ["16"],
                "ngpus": ["2"],
                "runtime": ["0:45:00"],
                "memory": ["8G"],
                "_xsrf": ["x"],
            }
        )
    )
    from_rest = check(
        {"partition": "gpu", "nprocs": 16, "ngpus": 2, "runtime": 45, "memory": "8192M"}
    )
    assert from_form == from_rest
    assert from_form.memory == "8192M"
    assert from_form.time_limit == "00:45:00"
    assert from_form.to_user_options()["memory"] == "8G"


@pytest.mark.parametrize(
    "runtime, seconds",
    [
        ("90", 5400),
        ("1:30:00", 5400),
        ("0-2", 7200),
        ("0-1:30", 5400),
        ("0-01:00:30", 3630),
        ("30:00", 1800),
        (60, 3600),
    ],
)
def test_runtime_uses_slurm_rules(runtime, seconds):
    assert check({"partition": "cpu", "runtime": runtime}).runtime == seconds


@pytest.mark.parametrize(
    "raw, field, words",
    [
        ({"partition": "nope"}, "partition", ["choose one of: cpu, gpu, long"]),
        ({"partition": "gpu\n#SBATCH"}, "partition", ["line breaks"]),
        ({"partition": 3}, "partition", ["string"]),
        ({"nprocs": "29"}, "nprocs", ["29", "1 to 28", "'cpu'"]),
        ({"nprocs": "0"}, "nprocs", ["1 to 28"]),
        ({"nprocs": "-1"}, "nprocs", ["whole number"]),
        ({"nprocs": "4.5"}, "nprocs", ["whole number"]),
        ({"nprocs": "１０"}, "nprocs", ["whole number"]),
        ({"nprocs": True}, "nprocs", ["whole number"]),
        ({"nprocs": [4]}, "nprocs", ["string"]),
        ({"nprocs": "4 --uid=0"}, "nprocs", ["whole number"]),
        ({"ngpus": "1"}, "ngpus", ["no GPUs"]),
        ({"partition": "gpu", "ngpus": "3"}, "ngpus", ["0 to 2"]),
        ({"runtime": "13:00:00"}, "runtime", ["12 h", "12:00:00"]),
        ({"partition": "gpu", "runtime": "2:00:00"}, "runtime", ["1 h"]),
        ({"runtime": "0"}, "runtime", ["out of range"]),
        ({"runtime": "UNLIMITED"}, "runtime", ["unlimited"]),
        ({"runtime": "1h"}, "runtime", ["not a Slurm time"]),
        ({"memory": "300G"}, "memory", ["at most 62G"]),
        ({"memory": "lots"}, "memory", ["4G"]),
        ({"memory": "4\u212a"}, "memory", ["4G"]),  # KELVIN SIGN, which IGNORECASE takes for k
        ({"reservation": "a b"}, "reservation", ["reservation name"]),
        ({"default_url": "https://evil.example/"}, "default_url", ["path"]),
        ({"default_url": "/lab/../../etc"}, "default_url", ["path"]),
        ({"root_dir": "relative/path"}, "root_dir", ["absolute"]),
        ({"root_dir": "/tmp/\x00x"}, "root_dir", ["control"]),
        (
            {"environment_id": "py39"},
            "environment_id",
            ["not an environment of partition", "default"],
        ),
        ({"environment_path": "/opt/x/bin"}, "environment_path", ["not enabled"]),
        ({"mem": "2G", "memory": "4G"}, "mem", ["older name of memory"]),
        ({"output": "/etc/passwd"}, "output", ["true or false"]),
        ({"exec_prefix": "id;"}, "exec_prefix", ["not a known option"]),
    ],
)
def test_refusals_name_the_field_and_the_range(raw, field, words):
    with pytest.raises(OptionError) as info:
        check(raw)
    assert info.value.field == field
    message = str(info.value)
    assert message.startswith(f"{field}: ")
    for word in words:
        assert word in message, message


def test_unavailable_or_forbidden_partitions():
    views = merge_partitions(
        validate_partitions({**SEED, "debug": {"venv": "/x/bin/"}}), parse_sinfo(SINFO)
    )
    with pytest.raises(OptionError, match="unavailable"):
        validate_options({"partition": "debug"}, views)
    with pytest.raises(OptionError, match="choose one of: cpu"):
        validate_options({"partition": "gpu"}, views, allowed_partitions={"cpu"})


def test_form_with_two_values_for_one_field_is_refused():
    with pytest.raises(OptionError, match="more than one value"):
        flatten_form({"nprocs": ["1", "28"]})
    assert flatten_form({"nprocs": ["4", "4"], "memory": [""]}) == {"nprocs": "4"}


def test_options_that_are_not_a_dict():
    with pytest.raises(OptionError):
        check(["partition", "cpu"])


def test_jupyterhub_6_rest_body_is_understood_when_passed_whole():
    assert check({"user_options": {"partition": "gpu", "ngpus": 1}}).ngpus == 1
    with pytest.raises(OptionError, match="not a known option"):
        check({"user_options": {"partition": "gpu"}, "nprocs": 2})


@pytest.mark.parametrize(
    "field, value",
    [
        ("partition", "cpu\udc80"),
        ("nprocs", "4\udc80"),
        ("ngpus", "\ud800"),
        ("runtime", "1:00:00\udc80"),
        ("memory", "4G\udc80"),
        ("reservation", "maint\udc80"),
        ("default_url", "/lab\udc80"),
        ("root_dir", "/\udc80"),
        ("root_dir", "~/a\ud83d"),  # half of a surrogate pair, as JSON's "\ud83d" gives
        ("environment_id", "\udc80"),
        ("options", "--constraint=\udc80"),
    ],
)
def test_text_that_cannot_be_encoded_is_refused(field, value):
    # A lone surrogate, as a REST body's "\udc80" decodes to: the batch script could not
    # be encoded for sbatch, so it is refused here, naming the field.
    with pytest.raises(OptionError) as info:
        check({field: value}, sbatch_options={"--constraint": r"[a-z]+"})
    assert info.value.field == field
    assert "UTF-8" in str(info.value), str(info.value)
    str(info.value).encode("utf-8")  # the refusal itself can be sent


def test_option_names_that_cannot_be_encoded_are_refused_readably():
    with pytest.raises(OptionError) as info:
        check({"root\udc80": "/tmp"})
    message = str(info.value)
    message.encode("utf-8")
    assert "\\udc80" in message and "not a known option" in message


def test_a_rest_body_is_unwrapped_only_when_it_holds_user_options_alone():
    assert unwrap_user_options({"user_options": {"nprocs": 2}}) == {"nprocs": 2}
    assert unwrap_user_options({"nprocs": 2}) == {"nprocs": 2}
    assert unwrap_user_options({}) == {}
    # Anything else is left for the checks to refuse, naming the field.
    both = {"user_options": {"nprocs": 2}, "nprocs": 3}
    assert unwrap_user_options(both) == both
    assert unwrap_user_options({"user_options": 5}) == {"user_options": 5}
    assert unwrap_user_options([1]) == [1]
