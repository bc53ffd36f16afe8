"""GPU types: sinfo's counts by type, the ``{type}`` slot of a partition's ``gpu``
template, the types offered and the checks of the user's choice. Pure code, no cluster.

sinfo_gpu_types.txt is written by hand in the format of ``sinfo_argv()``: the local
cluster's gpu node (node3) in partitions gpu and gpumix, node5 with a full A100 and
MIG slices (as in the design note), a partition of MIG-sliced H100s, and one with
untyped GPUs.
"""

import pytest
from support import DATA

from jupyterhub_moss.errors import OptionError
from jupyterhub_moss.site.gpus import (
    GpuTypeChoice,
    check_gpu_template,
    check_gpu_type,
    check_gpu_type_labels,
    gpu_type_choices,
    gres_for,
    has_type_slot,
)
from jupyterhub_moss.slurm.sinfo import parse_gres, parse_gres_types, parse_sinfo

# The lines of the design note: the local gpu partition, and node5 alone in gpumix.
GPU_LINE = (
    "gpu|up|0/128/0/128|0/1/0/1|128|256000|gpu:V100-SXM2-32GB:2|"
    "gpu:V100-SXM2-32GB:0(IDX:N/A)|1:00:00|"
)
GPUMIX_LINE = (
    "gpumix|up|2/30/0/32|1/0/0/1|32|64000|gpu:A100-SXM4-40GB:2,gpu:a100_1g.5gb:3|"
    "gpu:A100-SXM4-40GB:1(IDX:0),gpu:a100_1g.5gb:0(IDX:N/A)|2:00:00|"
)
TYPED = "gpu:{type}:{}"
A100 = "A100-SXM4-40GB"
SLICE = "a100_1g.5gb"
V100 = "V100-SXM2-32GB"
H100_1G = "nvidia_h100_80gb_hbm3_1g.10gb"
H100_3G = "nvidia_h100_80gb_hbm3_3g.40gb"


def fixture_partitions():
    return parse_sinfo((DATA / "sinfo_gpu_types.txt").read_text())


def choices_of(res, template=TYPED, labels=None, max_ngpus=None):
    return gpu_type_choices(
        template,
        res.gpus_by_type_total,
        res.gpus_by_type_used,
        labels,
        max_per_node=res.max_gpus_per_node_by_type,
        max_ngpus=max_ngpus,
    )


# ---- parsing sinfo -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("gpu:A100-SXM4-40GB:2,gpu:a100_1g.5gb:3", {A100: 2, SLICE: 3}),
        ("gpu:A100-SXM4-40GB:1(IDX:0),gpu:a100_1g.5gb:0(IDX:N/A)", {A100: 1, SLICE: 0}),
        ("gpu:V100-SXM2-32GB:2(S:0-1)", {V100: 2}),
        ("gpu:h100:8(S:0-3),gpu:a100:0", {"h100": 8, "a100": 0}),
        ("gpu:a100:2(S:0,1),gpu:h100:1(S:0,1)", {"a100": 2, "h100": 1}),
        (f"gpu:{H100_1G}:7(S:0-1)", {H100_1G: 7}),
        ("gpu:2", {None: 2}),
        ("gpu:0", {None: 0}),
        ("gpu:(null):0", {None: 0}),
        ("gpu:(null):1(IDX:1)", {None: 1}),
        ("mps:100,gpu:tesla:2,shard:8", {"tesla": 2}),
        ("gpu:a100:1,gpu:a100:2(S:1)", {"a100": 3}),
        ("(null)", {}),
        ("N/A", {}),
        ("", {}),
    ],
)
def test_parse_gres_types_counts_each_type(text, expected):
    assert parse_gres_types(text) == expected


def test_parse_gres_types_of_another_resource():
    text = "gpu:a100:2,mps:200,shard:tesla:4"
    assert parse_gres_types(text, "mps") == {None: 200}
    assert parse_gres_types(text, "shard") == {"tesla": 4}


def test_parse_gres_types_result_is_a_fresh_dict():
    first = parse_gres_types("gpu:a100:2")
    first["a100"] = 99
    assert parse_gres_types("gpu:a100:2") == {"a100": 2}


def test_parse_gres_counts_gpus_of_type_null():
    assert parse_gres("gpu:(null):2(IDX:0-1)") == (2, ())


def test_design_note_lines_give_counts_by_type():
    parts = parse_sinfo("\n".join([GPU_LINE, GPUMIX_LINE]) + "\n")
    gpu, gpumix = parts["gpu"], parts["gpumix"]
    assert gpu.gpus_by_type_total == {V100: 2}
    assert gpu.gpus_by_type_used == {}
    assert gpu.gpus_by_type_idle == {V100: 2}
    assert gpumix.gpus_by_type_total == {A100: 2, SLICE: 3}
    assert gpumix.gpus_by_type_used == {A100: 1}
    assert gpumix.gpus_by_type_idle == {A100: 1, SLICE: 3}
    assert gpumix.max_gpus_per_node_by_type == {A100: 2, SLICE: 3}
    # What was there before is unchanged.
    assert (gpumix.gpus_total, gpumix.gpus_used, gpumix.max_gpus_per_node) == (5, 1, 5)
    assert gpumix.gpu_types == [A100, SLICE]


def test_counts_by_type_are_summed_over_node_lines_times_nodes():
    mig = fixture_partitions()["mig"]
    # 2 nodes with 7 slices and 2 in use each, 1 node with 4 + 1.
    assert mig.gpus_by_type_total == {H100_1G: 2 * 7 + 4, H100_3G: 1}
    assert mig.gpus_by_type_used == {H100_1G: 2 * 2}
    assert mig.gpus_by_type_idle == {H100_1G: 14, H100_3G: 1}
    assert mig.max_gpus_per_node_by_type == {H100_1G: 7, H100_3G: 1}


def test_partition_over_two_node_kinds_has_all_their_types():
    gpumix = fixture_partitions()["gpumix"]
    assert gpumix.gpus_by_type_total == {V100: 2, A100: 2, SLICE: 3}
    assert gpumix.gpus_by_type_used == {V100: 1, A100: 1}
    assert gpumix.max_gpus_per_node_by_type == {V100: 2, A100: 2, SLICE: 3}


def test_untyped_gpus_count_under_none():
    legacy = fixture_partitions()["legacy"]
    assert legacy.gpus_by_type_total == {None: 4}
    assert legacy.gpus_by_type_used == {}
    assert legacy.max_gpus_per_node_by_type == {None: 2}
    assert legacy.gpu_types == []


def test_partition_without_gpus_has_no_counts_by_type():
    cpu = fixture_partitions()["cpu"]
    assert cpu.gpus_by_type_total == {}
    assert cpu.gpus_by_type_used == {}
    assert cpu.max_gpus_per_node_by_type == {}


@pytest.mark.parametrize("fixture", ["sinfo_gpu_types.txt", "sinfo_mixed.txt", "sinfo_busy.txt"])
def test_counts_by_type_add_up_to_the_totals(fixture):
    parts = parse_sinfo((DATA / fixture).read_text())
    for part in parts.values():
        assert sum(part.gpus_by_type_total.values()) == part.gpus_total, part.name
        assert sum(part.gpus_by_type_used.values()) == part.gpus_used, part.name
        assert max(part.max_gpus_per_node_by_type.values(), default=0) <= part.max_gpus_per_node


def test_sinfo_mixed_counts_by_type():
    gpu = parse_sinfo((DATA / "sinfo_mixed.txt").read_text())["gpu"]
    assert gpu.gpus_by_type_total == {"a100": 2 * 4 + 4, "h100": 2 * 8}
    assert gpu.gpus_by_type_used == {"a100": 2 * 3}
    assert gpu.max_gpus_per_node_by_type == {"a100": 4, "h100": 8}


# ---- the gpu template --------------------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        "gpu:{}",
        "gpu:V100-SXM2-32GB:{}",
        "gpu:{type}:{}",
        "gpu:{type}:{},nvme:1",
        "nvme:1,gpu:{type}:{}",
    ],
)
def test_check_gpu_template_accepts(template):
    check_gpu_template(template)


@pytest.mark.parametrize(
    "template",
    [
        "gpu:{type}:{type}:{}",  # twice
        "gpu:{type}:{},gpu:{type}:1",
        "gpu:{}:{type}",  # after the count
        "{type}:{}",  # in place of the GRES name
        "gpu:{type}{}",  # glued to the count
        "gpu:x{type}:{}",  # glued to other text
        "gpu:{type}:1,mps:{}",  # not before the count
        "gpu:{Type}:{}",  # misspelt
        "gpu:{gpu_type}:{}",
        "gpu:{0}:{}",
    ],
)
def test_check_gpu_template_refuses_misplaced_type(template):
    with pytest.raises(ValueError) as info:
        check_gpu_template(template)
    assert str(info.value) == "may hold {type} once, where the GPU type goes, e.g. 'gpu:{type}:{}'"


def test_has_type_slot():
    assert has_type_slot(TYPED)
    assert not has_type_slot("gpu:V100:{}")
    assert not has_type_slot(None)


@pytest.mark.parametrize(
    "template, ngpus, gpu_type, gres",
    [
        (TYPED, 2, None, "gpu:2"),
        (TYPED, 2, "any", "gpu:2"),
        (TYPED, 1, SLICE, "gpu:a100_1g.5gb:1"),
        (TYPED, 3, A100, "gpu:A100-SXM4-40GB:3"),
        ("gpu:{type}:{},nvme:1", 1, A100, "gpu:A100-SXM4-40GB:1,nvme:1"),
        ("gpu:{type}:{},nvme:1", 1, "any", "gpu:1,nvme:1"),
        ("gpu:V100-SXM2-32GB:{}", 2, None, "gpu:V100-SXM2-32GB:2"),
        ("gpu:V100-SXM2-32GB:{}", 2, "any", "gpu:V100-SXM2-32GB:2"),
        ("gpu:{}", 4, None, "gpu:4"),
        (TYPED, 0, A100, None),
        (TYPED, 0, None, None),
        (None, 2, None, None),
    ],
)
def test_gres_for(template, ngpus, gpu_type, gres):
    assert gres_for(template, ngpus, gpu_type) == gres


@pytest.mark.parametrize(
    "template, gpu_type",
    [
        ("gpu:V100-SXM2-32GB:{}", A100),  # no place for a type
        (TYPED, "a100;reboot"),
        (TYPED, "a100 gpu"),
        (TYPED, ""),
        (TYPED, "x" * 65),
    ],
)
def test_gres_for_refuses_a_type_it_cannot_write(template, gpu_type):
    with pytest.raises(ValueError):
        gres_for(template, 1, gpu_type)


# ---- partition field gpu_types -----------------------------------------------------------


def test_gpu_type_labels_accepted_with_type_slot():
    check_gpu_type_labels(TYPED, {A100: "A100 40 GB", SLICE: "1/7 of an A100"})
    check_gpu_type_labels("gpu:V100:{}", None)


@pytest.mark.parametrize(
    "template, labels, words",
    [
        ("gpu:V100:{}", {A100: "A100"}, "holds no {type}"),
        (None, {A100: "A100"}, "holds no {type}"),
        (TYPED, {}, "at least one"),
        (TYPED, {"a100 40gb": "A100"}, "'a100 40gb' is not a GPU type name"),
        (TYPED, {A100: ""}, "non-empty"),
        (TYPED, {A100: "A100\nH100"}, "control characters"),
        (TYPED, {A100: "x" * 81}, "at most 80"),
    ],
)
def test_gpu_type_labels_refused(template, labels, words):
    with pytest.raises(ValueError) as info:
        check_gpu_type_labels(template, labels)
    assert words in str(info.value)


# ---- the types offered -------------------------------------------------------------------


def test_choices_of_node5_types():
    gpumix = parse_sinfo(GPUMIX_LINE + "\n")["gpumix"]
    assert choices_of(gpumix) == [
        GpuTypeChoice(type=A100, label=A100, idle=1, total=2, max_per_job=2),
        GpuTypeChoice(type=SLICE, label=SLICE, idle=3, total=3, max_per_job=3),
    ]


def test_choices_are_sorted_whatever_the_sinfo_order():
    mixed = parse_sinfo(
        GPUMIX_LINE.replace(f"gpu:{A100}:2,gpu:{SLICE}:3", f"gpu:{SLICE}:3,gpu:{A100}:2")
    )
    assert [c.type for c in choices_of(mixed["gpumix"])] == [A100, SLICE]
    gpumix = fixture_partitions()["gpumix"]
    assert [c.type for c in choices_of(gpumix)] == [A100, SLICE, V100]


def test_max_per_job_is_per_node_not_per_partition():
    mig = fixture_partitions()["mig"]
    by_type = {c.type: c for c in choices_of(mig)}
    assert (by_type[H100_1G].total, by_type[H100_1G].max_per_job) == (18, 7)
    assert (by_type[H100_3G].idle, by_type[H100_3G].max_per_job) == (1, 1)


def test_max_per_job_is_capped_by_the_partition_limit():
    mig = fixture_partitions()["mig"]
    assert [c.max_per_job for c in choices_of(mig, max_ngpus=2)] == [2, 1]


def test_no_choice_without_type_slot():
    gpumix = fixture_partitions()["gpumix"]
    assert choices_of(gpumix, template="gpu:{}") == []
    assert choices_of(gpumix, template="gpu:V100-SXM2-32GB:{}") == []
    assert choices_of(gpumix, template=None) == []


def test_no_choice_with_a_single_type():
    parts = fixture_partitions()
    assert choices_of(parts["gpu"]) == []
    assert choices_of(parts["legacy"]) == []  # untyped GPUs are "any"
    assert choices_of(parts["cpu"]) == []


def test_no_choice_when_the_partition_allows_no_gpus():
    assert choices_of(fixture_partitions()["gpumix"], max_ngpus=0) == []


def test_labels_restrict_and_name_the_types_in_their_order():
    gpumix = fixture_partitions()["gpumix"]
    labels = {SLICE: "A100 slice (5 GB)", A100: "A100 (40 GB)", "h100": "H100"}
    choices = choices_of(gpumix, labels=labels)
    assert [(c.type, c.label) for c in choices] == [
        (SLICE, "A100 slice (5 GB)"),
        (A100, "A100 (40 GB)"),
    ]  # V100 not listed, h100 not reported


def test_labels_for_one_reported_type_offer_no_choice():
    gpumix = fixture_partitions()["gpumix"]
    assert choices_of(gpumix, labels={A100: "A100", "h100": "H100"}) == []


def test_labels_offered_with_unknown_counts_when_sinfo_has_not_answered():
    choices = gpu_type_choices(TYPED, None, None, {A100: "A100", SLICE: "slice"}, max_ngpus=2)
    assert choices == [
        GpuTypeChoice(type=A100, label="A100", idle=None, total=None, max_per_job=2),
        GpuTypeChoice(type=SLICE, label="slice", idle=None, total=None, max_per_job=2),
    ]


def test_no_choice_when_sinfo_has_not_answered_and_no_labels():
    assert gpu_type_choices(TYPED, None, None, None, max_ngpus=2) == []


def test_types_that_cannot_be_written_are_not_offered():
    totals = {A100: 2, SLICE: 3, "odd type": 4, "x;y": 1, None: 8}
    assert [c.type for c in gpu_type_choices(TYPED, totals, {})] == [A100, SLICE]


def test_choice_as_dict():
    choice = GpuTypeChoice(type=SLICE, label="slice", idle=3, total=3, max_per_job=3)
    assert choice.as_dict() == {
        "type": SLICE,
        "label": "slice",
        "idle": 3,
        "total": 3,
        "max_per_job": 3,
    }


# ---- checking the user's choice ----------------------------------------------------------


@pytest.fixture
def node5_choices():
    return choices_of(parse_sinfo(GPUMIX_LINE + "\n")["gpumix"])


def refusal(*args, **kwargs) -> OptionError:
    with pytest.raises(OptionError) as info:
        check_gpu_type(*args, **kwargs)
    return info.value


def test_chosen_type_is_returned(node5_choices):
    assert check_gpu_type(SLICE, "gpumix", node5_choices, 3) == SLICE
    assert check_gpu_type(f" {A100} ", "gpumix", node5_choices, 2) == A100


@pytest.mark.parametrize("raw", [None, "", "any", " any "])
def test_any_or_nothing_is_no_type(raw, node5_choices):
    assert check_gpu_type(raw, "gpumix", node5_choices, 2) is None
    assert check_gpu_type(raw, "gpumix", node5_choices, 0) is None
    assert check_gpu_type(raw, "cpu", [], 0, max_ngpus=0) is None


def test_unknown_type_is_refused_with_the_choices(node5_choices):
    error = refusal("h100", "gpumix", node5_choices, 1)
    assert error.field == "gpu_type"
    assert str(error) == (
        "gpu_type: 'h100' is not a GPU type of partition 'gpumix'; "
        "choose one of: any, A100-SXM4-40GB, a100_1g.5gb"
    )


def test_type_is_case_sensitive(node5_choices):
    assert refusal("a100-sxm4-40gb", "gpumix", node5_choices, 1).field == "gpu_type"


@pytest.mark.parametrize("raw", ["a100\nreboot", "x" * 65, "a100;id", "\udc80"])
def test_unreadable_type_is_not_echoed(raw, node5_choices):
    message = str(refusal(raw, "gpumix", node5_choices, 1))
    assert message.startswith("gpu_type: this value is not a GPU type of partition 'gpumix'")
    assert raw not in message


@pytest.mark.parametrize("raw", [3, 1.5, True, ["a100"], {"type": "a100"}])
def test_type_that_is_not_a_string_is_refused(raw, node5_choices):
    error = refusal(raw, "gpumix", node5_choices, 1)
    assert str(error) == "gpu_type: must be a GPU type name or 'any'"


def test_type_on_a_partition_without_gpus():
    error = refusal("A100-SXM4-40GB", "cpu", [], 0, max_ngpus=0)
    assert str(error) == "gpu_type: partition 'cpu' has no GPUs"


def test_type_where_no_choice_is_offered():
    # The seed's "gpu:V100-SXM2-32GB:{}": its GPUs are "any".
    error = refusal(V100, "gpu", [], 1, max_ngpus=2)
    assert (
        str(error) == f"gpu_type: '{V100}' is not a GPU type of partition 'gpu'; choose one of: any"
    )


def test_type_needs_gpus(node5_choices):
    error = refusal(SLICE, "gpumix", node5_choices, 0)
    assert str(error) == "gpu_type: needs ngpus of 1 or more"


def test_count_above_what_the_type_allows(node5_choices):
    error = refusal(A100, "gpumix", node5_choices, 3)
    assert error.field == "ngpus"
    assert str(error) == "ngpus: 3 is out of range: GPU type 'A100-SXM4-40GB' allows 0 to 2"
    assert check_gpu_type(A100, "gpumix", node5_choices, 2) == A100


def test_count_is_not_checked_when_the_type_limit_is_unknown():
    choices = gpu_type_choices(TYPED, None, None, {A100: "A100", SLICE: "slice"})
    assert choices[0].max_per_job is None
    assert check_gpu_type(A100, "gpumix", choices, 8) == A100
