"""Hostile options through the same chain of functions the spawner uses:
form/query flattening or a REST body, validation, the job, the batch script.

The same properties are checked through a real hub in test_hostile_hub.py.
"""

import dataclasses
import os

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from support.hostile import (
    ALLOWED,
    LIMITS,
    MEMORY_MB,
    check_script,
    option_sets,
    refusal_field,
    valid_option_sets,
)
from support.partitions import SEED, SINFO

from jupyterhub_moss.choices.options import (
    OptionError,
    flatten_form,
    validate_options,
)
from jupyterhub_moss.site.environments import job_environment_for
from jupyterhub_moss.site.partitions import merge_partitions, validate_partitions
from jupyterhub_moss.slurm.batch_script import default_template, render_batch_script
from jupyterhub_moss.slurm.sinfo import parse_sinfo
from jupyterhub_moss.spawner.request import build_job_request

VIEWS = merge_partitions(validate_partitions(SEED), parse_sinfo(SINFO))
EXAMPLES = int(os.environ.get("MOSS_HYPOTHESIS_EXAMPLES", "400"))
ENV = {"JUPYTERHUB_API_TOKEN": "t", "JUPYTERHUB_USER": "moss01"}


def script_for(raw, template=None):
    options = validate_options(raw, VIEWS, sbatch_options=ALLOWED, user_environments=True)
    job = build_job_request(
        options,
        VIEWS[options.partition].gpu,
        username="moss01",
        servername="",
        home="/home/moss01",
        job_name="jupyter-{username}{servername_suffix}",
        job_output="jupyterhub_moss_%j.log",
        job_workdir="{home}",
    )
    env = dict(ENV)
    if options.default_url:
        env["JUPYTERHUB_DEFAULT_URL"] = options.default_url
    if options.root_dir:
        env["JUPYTERHUB_ROOT_DIR"] = options.root_dir
    environment = job_environment_for(
        options.environment(VIEWS[options.partition]),
        singularity_cmd=["singularity", "exec"],
        gpus=options.ngpus,
    )
    return render_batch_script(
        job,
        env=env,
        venv=environment.path,
        environment=environment,
        cmd=environment.command(None, []),
        service_path="/user/moss01/",
        template=template,
    )


# The seed's partitions have different venvs: compare with each partition's own script.
BASELINES = {name: script_for({"partition": name}) for name in VIEWS}


def check_case(raw, sent):
    try:
        script = script_for(raw)
    except OptionError as e:
        field = refusal_field(str(e))
        assert field is not None, str(e)
        # An unknown name with control characters is shown escaped (repr).
        names = {k[:40] for k in sent} | {repr(k)[:40] for k in sent}
        assert field in names, (str(e), sent)
        return "refused"
    partition = sent.get("partition") or "cpu"
    check_script(script, sent, BASELINES[partition])
    return "accepted"


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(option_sets(json_values=True))
def test_rest_bodies(sent):
    event(check_case(sent, sent))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(option_sets(json_values=False), st.booleans())
def test_form_and_query_fields(sent, doubled):
    # Form data and query strings arrive as lists of strings; a field may come twice.
    formdata = {key: [value] for key, value in sent.items()}
    if doubled and sent and sent[sorted(sent)[0]]:
        key = sorted(sent)[0]
        formdata[key] = [sent[key], sent[key] + "x"]
        with pytest.raises(OptionError, match="more than one value"):
            flatten_form(formdata)
        return
    try:
        flat = flatten_form(formdata)
    except OptionError as e:
        assert refusal_field(str(e)) in sent
        return
    event(check_case(flat, flat))


def test_the_strategies_know_the_partitions():
    for name, (max_nprocs, max_ngpus, max_runtime, gpu) in LIMITS.items():
        view = VIEWS[name]
        assert (view.max_nprocs, view.max_ngpus, view.max_runtime, view.gpu) == (
            max_nprocs,
            max_ngpus,
            max_runtime,
            gpu,
        )
        assert view.max_memory_mb >= MEMORY_MB


def check_accepted(raw, sent, expected):
    """``raw`` (``sent`` as the validation gets it) must be accepted, giving ``expected``."""
    options = validate_options(raw, VIEWS, sbatch_options=ALLOWED, user_environments=True)
    assert dataclasses.asdict(options) == expected, sent
    check_script(script_for(raw), sent, BASELINES[options.partition])
    if options.ngpus:
        event("accepted with GPUs")
    if options.root_dir and options.root_dir.strip("/~") and not options.root_dir.isascii():
        event("accepted a folder with non-ASCII text")
    if options.root_dir and any(c in options.root_dir for c in "$`'\"; *"):
        event("accepted a folder with shell syntax")


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_option_sets(json_values=True))
def test_valid_rest_bodies_are_accepted(case):
    sent, expected = case
    check_accepted(sent, sent, expected)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_option_sets(json_values=False))
def test_valid_form_and_query_fields_are_accepted(case):
    sent, expected = case
    flat = flatten_form({key: [value] for key, value in sent.items()})
    check_accepted(flat, sent, expected)


@settings(max_examples=EXAMPLES // 4, deadline=None)
@given(valid_option_sets(json_values=True, gpus=True))
def test_valid_gpu_requests_are_accepted(case):
    sent, expected = case
    assert expected["ngpus"] > 0
    check_accepted(sent, sent, expected)


@pytest.mark.parametrize(
    "options, error",
    [
        ("--constraint=ib", None),
        ("--qos=high --constraint=a100", None),
        ("--qos=urgent", "not a value allowed for --qos"),
        ("--uid=0", "--uid is not allowed"),
        ("--partition=gpu", "--partition is not allowed"),
        ("--qos=high --qos=normal", "given twice"),
        ("--constraint=ib;id", "not of the form --name=value"),
        ("--constraint ib", "not of the form --name=value"),
        ("--export=ALL", "--export is not allowed"),
    ],
)
def test_free_form_sbatch_options(options, error):
    if error is None:
        script = script_for({"options": options})
        for word in options.split():
            assert f"#SBATCH {word}\n" in script
    else:
        with pytest.raises(OptionError, match=error):
            script_for({"options": options})


def test_free_form_sbatch_options_are_off_by_default():
    with pytest.raises(OptionError, match="not enabled on this hub"):
        validate_options({"options": "--constraint=ib"}, VIEWS)


# The shipped template, but with the environment's values written as they are.
UNQUOTED_ENV = default_template().replace("={{ value | shquote }}", "={{ value }}")


@pytest.mark.parametrize(
    "root_dir",
    [
        "/tmp/$(touch x)",
        "/tmp/`touch x`",
        "/tmp/a;touch x",
        "/tmp/a b",
        "~/$HOME",
        "~",
        "/tmp/it's",
        "/tmp/a\\",
    ],
)
def test_check_script_catches_values_left_unquoted(root_dir):
    assert UNQUOTED_ENV != default_template()
    sent = {"root_dir": root_dir}
    check_script(script_for(sent), sent, BASELINES["cpu"])
    with pytest.raises(AssertionError):
        check_script(script_for(sent, template=UNQUOTED_ENV), sent, BASELINES["cpu"])


@pytest.mark.parametrize(
    "sent, directive, wrong",
    [
        ({"memory": "4G"}, "--mem={{ job.memory | sbatch_safe }}", "--mem=4000M"),
        (
            {"partition": "gpu", "ngpus": "1"},
            "--gres={{ job.gres | sbatch_safe }}",
            "--gres=gpu:V100-SXM2-32GB:2",
        ),
        (
            {"reservation": "maint"},
            "--reservation={{ job.reservation | sbatch_safe }}",
            "--reservation=maint2",
        ),
    ],
)
def test_check_script_catches_wrong_directive_values(sent, directive, wrong):
    assert directive in default_template()
    baseline = BASELINES[sent.get("partition", "cpu")]
    check_script(script_for(sent), sent, baseline)
    with pytest.raises(AssertionError):
        check_script(
            script_for(sent, template=default_template().replace(directive, wrong)), sent, baseline
        )
