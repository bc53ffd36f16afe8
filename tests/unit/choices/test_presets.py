"""Start again: the launch history kept in the spawners' state, its labels, its
links, and the check that disables a launch no longer valid."""

from urllib.parse import parse_qsl

from jupyterhub_moss.choices.presets import (
    Preset,
    check_presets,
    describe,
    merge_histories,
    preset_query,
    record_launch,
)
from jupyterhub_moss.errors import OptionError

CPU4 = {"partition": "cpu", "nprocs": 4, "ngpus": 0, "runtime": "02:00:00"}
GPU1 = {"partition": "gpu", "nprocs": 2, "ngpus": 1, "runtime": "01:00:00"}
DEBUG = {"partition": "debug", "nprocs": 1, "ngpus": 0, "runtime": "00:30:00"}
LONG = {"partition": "long", "nprocs": 8, "ngpus": 0, "runtime": "1-00:00:00"}


def partitions_of(history):
    return [entry["options"]["partition"] for entry in history]


def test_record_launch_puts_the_newest_first():
    history = record_launch([], CPU4, 100.0)
    history = record_launch(history, GPU1, 200.0)
    assert partitions_of(history) == ["gpu", "cpu"]
    assert history[0] == {"options": GPU1, "time": 200.0}


def test_record_launch_keeps_three_distinct_launches():
    history = []
    for when, options in enumerate([CPU4, GPU1, DEBUG, LONG]):
        history = record_launch(history, options, float(when))
    assert partitions_of(history) == ["long", "debug", "gpu"]


def test_the_same_options_launched_again_move_to_the_front():
    history = []
    for when, options in enumerate([CPU4, GPU1, DEBUG, dict(CPU4)]):
        history = record_launch(history, options, float(when))
    assert partitions_of(history) == ["cpu", "debug", "gpu"]
    assert history[0]["time"] == 3.0


def test_options_differing_only_by_empty_values_or_number_types_are_the_same():
    history = record_launch([], CPU4, 1.0)
    same = {**CPU4, "nprocs": "4", "reservation": "", "root_dir": None}
    history = record_launch(history, same, 2.0)
    assert len(history) == 1
    assert history[0]["time"] == 2.0
    assert "reservation" not in history[0]["options"]


def test_record_launch_does_not_change_the_history_given():
    history = record_launch([], CPU4, 1.0)
    before = [dict(e) for e in history]
    record_launch(history, GPU1, 2.0)
    assert history == before


def test_record_launch_honours_keep():
    history = []
    for when, options in enumerate([CPU4, GPU1, DEBUG]):
        history = record_launch(history, options, float(when), keep=2)
    assert partitions_of(history) == ["debug", "gpu"]


def test_malformed_stored_entries_are_dropped():
    stored = [
        "junk",
        {"options": "cpu", "time": 5.0},
        {"options": {"partition": "cpu"}, "time": "yesterday"},
        {"options": {"partition": "cpu", "bad key": 1}, "time": 6.0},
        {"options": {"partition": ["cpu"]}, "time": 7.0},
        {"options": {"partition": "cpu"}, "time": True},
        {"options": DEBUG, "time": 1.0},
    ]
    assert record_launch(stored, GPU1, 9.0) == [
        {"options": GPU1, "time": 9.0},
        {"options": DEBUG, "time": 1.0},
    ]
    assert record_launch(None, "not options", 9.0) == []


def test_merge_histories_takes_the_newest_distinct_launches_of_all_servers():
    default_server = [{"options": CPU4, "time": 10.0}, {"options": GPU1, "time": 5.0}]
    named_server = [{"options": GPU1, "time": 8.0}, {"options": DEBUG, "time": 1.0}]
    other = [{"options": LONG, "time": 3.0}]
    merged = merge_histories([default_server, named_server, other])
    assert merged == [
        {"options": CPU4, "time": 10.0},
        {"options": GPU1, "time": 8.0},
        {"options": LONG, "time": 3.0},
    ]
    assert merge_histories([]) == []
    assert len(merge_histories([default_server, named_server, other], keep=5)) == 4


def test_describe_words_a_launch():
    options = {**CPU4, "ngpus": 1, "account": "proj1"}
    assert describe(options) == "cpu · 4 cores · 1 GPU · 2 h · account proj1"


def test_describe_singular_and_plural_and_other_options():
    options = {
        "partition": "gpu",
        "nprocs": 1,
        "ngpus": 2,
        "runtime": "1-00:00:00",
        "memory": "16G",
        "qos": "short",
        "reservation": "r1",
        "environment_id": "py311",
    }
    assert describe(options) == (
        "gpu · 1 core · 2 GPUs · 1 day · 16G memory · QOS short · reservation r1 · "
        "environment py311"
    )


def test_describe_leaves_out_zero_gpus_and_keeps_an_odd_runtime_as_written():
    assert describe({"partition": "cpu", "ngpus": 0, "runtime": "soon"}) == "cpu · soon"


def test_describe_bounds_and_cleans_values():
    label = describe({"partition": "p\nq" + "x" * 100})
    assert "\n" not in label
    assert len(label) == 40


def test_preset_query_gives_the_spawn_pages_options():
    query = preset_query({**CPU4, "account": "proj 1&x=y", "reservation": ""})
    assert query.startswith("opt-partition=cpu&opt-nprocs=4&opt-ngpus=0&opt-runtime=02%3A00%3A00")
    assert parse_qsl(query) == [
        ("opt-partition", "cpu"),
        ("opt-nprocs", "4"),
        ("opt-ngpus", "0"),
        ("opt-runtime", "02:00:00"),
        ("opt-account", "proj 1&x=y"),
    ]


def fake_validate(options):
    """Refuses the gpu partition, as validate_options would once it is gone."""
    if options.get("partition") == "gpu":
        raise OptionError("partition", "'gpu' is not one you can use; choose one of: cpu")
    if options.get("partition") == "long":
        raise RuntimeError("slurm is down")


def test_check_presets_gives_labels_links_and_errors():
    history = [
        {"options": CPU4, "time": 3.0},
        {"options": GPU1, "time": 2.0},
        {"options": LONG, "time": 1.0},
    ]
    cpu, gpu, long = check_presets(history, fake_validate)
    assert cpu == Preset(
        label="cpu · 4 cores · 2 h",
        options=CPU4,
        query=preset_query(CPU4),
        error=None,
        time=3.0,
    )
    # The message of an OptionError, without the field; else the exception's text.
    assert gpu.error == "'gpu' is not one you can use; choose one of: cpu"
    assert long.error == "slurm is down"


def test_check_presets_hands_validate_a_copy():
    def meddle(options):
        options["partition"] = "changed"

    (preset,) = check_presets([{"options": CPU4, "time": 1.0}], meddle)
    assert preset.options["partition"] == "cpu"
    assert CPU4["partition"] == "cpu"


def test_check_presets_of_nothing_is_nothing():
    assert check_presets([], fake_validate) == []
    assert check_presets([{"bad": 1}], fake_validate) == []
