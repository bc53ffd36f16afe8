"""``jupyterhub-moss script``: the batch script the hub would submit, after the
hub's own checks (against the local cluster's partitions and associations).
Nothing is submitted: the user's queue is the same before and after."""

import re
import subprocess

import pytest
from support.clitools import GOOD_CONFIG, run_cli

pytestmark = pytest.mark.cluster

#: The demo's user, not one of the integration tests' (moss01..moss16).
USER = "moss-demo"


def _queue() -> str:
    return subprocess.run(
        ["squeue", "-h", "-u", USER, "-o", "%i"], capture_output=True, text=True, timeout=60
    ).stdout


@pytest.fixture
def no_job_submitted():
    before = _queue()
    yield
    assert _queue() == before


def script(*options: str):
    return run_cli("script", "-f", str(GOOD_CONFIG), "--user", USER, *options)


def test_the_script_has_the_sbatch_lines_of_the_options(no_job_submitted):
    result = script("partition=cpu", "nprocs=2", "runtime=01:00:00")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "#!/bin/bash"
    for line in (
        f"#SBATCH --job-name=jupyter-{USER}",
        "#SBATCH --partition=cpu",
        "#SBATCH --cpus-per-task=2",
        "#SBATCH --time=01:00:00",
    ):
        assert line in lines
    assert not any(line.startswith("#SBATCH --gres") for line in lines)


def _has_accounting() -> bool:
    config = subprocess.run(
        ["scontrol", "show", "config"], capture_output=True, text=True, timeout=60
    ).stdout
    return "accounting_storage/slurmdbd" in config


def test_the_account_and_qos_come_from_the_users_associations(no_job_submitted):
    if not _has_accounting():
        pytest.skip("this cluster runs without slurmdbd")
    result = script("partition=cpu", "account=proj1", "qos=short", "runtime=00:30:00")
    assert result.returncode == 0, result.stderr
    assert "#SBATCH --account=proj1" in result.stdout.splitlines()
    assert "#SBATCH --qos=short" in result.stdout.splitlines()


def test_a_gpu_type_becomes_the_gres_line(no_job_submitted):
    result = script("partition=gpumix", "ngpus=1", "gpu_type=A100-SXM4-40GB")
    assert result.returncode == 0, result.stderr
    assert "#SBATCH --gres=gpu:A100-SXM4-40GB:1" in result.stdout.splitlines()


def test_the_api_token_and_secret_variables_are_masked(no_job_submitted):
    result = script("partition=cpu")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "export JUPYTERHUB_API_TOKEN='********'" in lines
    assert "export JPY_API_TOKEN='********'" in lines
    assert "export SITE_SECRET_KEY='********'" in lines
    assert "do-not-show-this-value" not in result.stdout
    # No token-like value is left anywhere (the API token is 32 hex digits).
    assert not re.search(r"\b[0-9a-f]{16,}\b", result.stdout)
    assert f"export JUPYTERHUB_USER={USER}" in lines


def test_a_named_server_has_its_own_prefix_and_job_name(no_job_submitted):
    result = run_cli(
        "script", "-f", str(GOOD_CONFIG), "--user", USER, "--server", "lab2", "partition=cpu"
    )
    assert result.returncode == 0, result.stderr
    assert f"#SBATCH --job-name=jupyter-{USER}-lab2" in result.stdout.splitlines()
    assert f"export JUPYTERHUB_SERVICE_PREFIX=/user/{USER}/lab2/" in result.stdout


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ["partition=cpu", "nprocs=99"],
            "nprocs: 99 is out of range: partition 'cpu' allows 1 to 28",
        ),
        (["partition=gpu", "runtime=02:00:00"], "runtime: 02:00:00 is out of range"),
        (["partition=nosuch"], "partition:"),
        (["partition=cpu", "color=red"], "color: is not a known option"),
        (["partition=cpu", "account=physics"], "account: 'physics' is not one of your Slurm"),
        (["partition=cpu", "qos=capped", "runtime=01:00:00"], "qos:"),
    ],
)
def test_a_refused_option_exits_1_with_the_hubs_message_and_no_script(
    options, message, no_job_submitted
):
    if "account=physics" in options and not _has_accounting():
        # Without slurmdbd, any account is refused, for that reason.
        message = "account: this cluster has no Slurm accounting"
    result = script(*options)
    assert result.returncode == 1
    assert result.stdout == ""
    assert message in result.stderr
    assert "Traceback" not in result.stderr
