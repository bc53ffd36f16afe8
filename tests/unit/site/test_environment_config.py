"""Environments in the admin's config (jupyterhub-moss 10.x's format and the seed's
``venv``), containers, and the settings of the spawners sites come from."""

from __future__ import annotations

import logging
import subprocess

import pytest
from traitlets import TraitError
from traitlets.config import Config

from jupyterhub_moss import MOSlurmSpawner
from jupyterhub_moss.site.environments import Environment, job_environment_for
from jupyterhub_moss.site.partitions import PartitionConfigError, validate_partitions
from jupyterhub_moss.slurm.batch_script import JobRequest, render_batch_script
from jupyterhub_moss.spawner.peers import REFUSED, check_peer_config

#: A partition as jupyterhub-moss 10.1.0's documentation writes it.
MOSS10_PARTITION = {
    "architecture": "x86_86",
    "description": "Partition 1",
    "gpu": None,
    "max_ngpus": 0,
    "max_nprocs": 28,
    "max_runtime": 12 * 3600,
    "simple": True,
    "jupyter_environments": {
        "default": {
            "description": "Python 3.12",
            "path": "/opt/jupyter/bin/",
            "modules": "",
            "prologue": "",
            "add_to_path": True,
        },
        "ml": {
            "description": "ML stack",
            "path": "",
            "modules": "python/3.12 cuda/12",
            "prologue": "source /opt/ml/activate",
        },
    },
}


def test_a_jupyterhub_moss_10_partition_is_accepted_as_it_is():
    part = validate_partitions({"cpu": MOSS10_PARTITION})["cpu"]
    envs = part.environments()
    assert list(envs) == ["default", "ml"]
    assert envs["ml"].modules == "python/3.12 cuda/12"
    assert envs["default"].add_to_path is True


def test_the_seeds_venv_stands_for_one_environment():
    part = validate_partitions({"cpu": {"venv": "/opt/jupyter/bin/"}})["cpu"]
    (env,) = part.environments().values()
    assert env.path == "/opt/jupyter/bin/"
    assert job_environment_for(env, singularity_cmd=[]).command(None, []) == [
        "/opt/jupyter/bin/jupyterhub-singleuser",
        "--ServerApp.port_retries=0",
    ]


def _refusal(environments=None, **partition) -> str:
    settings = dict(partition)
    if environments is not None:
        settings["jupyter_environments"] = environments
    with pytest.raises(PartitionConfigError) as info:
        validate_partitions({"cpu": settings})
    return str(info.value)


@pytest.mark.parametrize(
    "environment, expected",
    [
        ({"path": "/opt/x/bin"}, "['ml']['description']: Field required"),
        ({"description": " ", "path": "/opt/x/bin"}, "['ml']['description']: must not be empty"),
        ({"description": "ML"}, "['ml']: needs 'path' or 'modules'"),
        ({"description": "ML", "path": "opt/x"}, "['ml']['path']: must be an absolute path"),
        ({"description": "ML", "path": "/x", "colour": "red"}, "['ml']['colour']: unknown field"),
        ({"description": "ML", "modules": "a;reboot"}, "'a;reboot' is not a module name"),
        ({"description": "ML", "path": "/x", "runner": ["ch-run"]}, "'image' is not"),
        ({"description": "ML", "add_to_path": "yes", "path": "/x"}, "['ml']['add_to_path']"),
    ],
)
def test_environment_rules_are_those_of_jupyterhub_moss_10(environment, expected):
    message = _refusal({"ml": environment})
    assert expected in message, message


def test_venv_and_environments_together_are_refused_saying_why():
    message = _refusal({"d": {"description": "D", "path": "/x"}}, venv="/opt/jupyter/bin/")
    assert "has both 'venv' and 'jupyter_environments'; give one" in message
    assert "needs 'venv'" in _refusal()
    assert "must hold at least one environment" in _refusal({})
    assert "'a b' is not an environment id" in _refusal({"a b": {"description": "D", "path": "/x"}})


def test_a_sif_path_runs_through_singularity_cmd():
    env = Environment(description="Image", path="/images/lab.sif")
    job = job_environment_for(env, singularity_cmd=["apptainer", "exec"])
    assert job.command(None, ["--debug"]) == [
        "apptainer", "exec", "/images/lab.sif",
        "jupyterhub-singleuser", "--ServerApp.port_retries=0", "--debug",
    ]  # fmt: skip
    assert job.path == "" and not job.add_to_path


def test_an_image_with_its_runner_takes_gpu_flags_only_with_gpus():
    env = Environment(
        description="Lab image",
        image="/images/lab",
        runner=["ch-run", "{image}", "--"],
        gpu_args=["--set-env=CUDA=1"],
    )
    without = job_environment_for(env, singularity_cmd=["unused"], gpus=0)
    assert without.command(["jupyterhub-singleuser"], []) == [
        "ch-run", "/images/lab", "--", "jupyterhub-singleuser", "--ServerApp.port_retries=0",
    ]  # fmt: skip
    apptainer = Environment(
        description="Lab", image="/images/lab.sif", runner=["apptainer", "exec"], gpu_args=["--nv"]
    )
    with_gpus = job_environment_for(apptainer, singularity_cmd=[], gpus=2)
    assert with_gpus.container == ("apptainer", "exec", "--nv", "/images/lab.sif")


# ---- the script's environment block, run by bash -----------------------------------------


def _environment_block(modules="", prologue="", path="/opt/env/bin", add_to_path=True) -> str:
    env = Environment(
        description="E", path=path, modules=modules, prologue=prologue, add_to_path=add_to_path
    )
    job = JobRequest(name="j", partition="cpu", cpus=1, time="1:00:00", output="o", workdir="/")
    environment = job_environment_for(env, singularity_cmd=[])
    script = render_batch_script(
        job,
        env={},
        venv=environment.path,
        environment=environment,
        cmd=environment.command(None, []),
        service_path="/",
    )
    start = script.index("# The Jupyter environment")
    end = script.index("moss_venv=")
    return script[start:end]


FAKE_MODULE = 'module() { shift; echo "loaded $*" >&2; export LOADED="$*"; }\n'


def _run(block: str, before: str = "") -> subprocess.CompletedProcess:
    show = 'echo "LOADED=${LOADED:-} PROLOGUE=${PROLOGUE:-} PATH=$PATH"'
    return subprocess.run(
        ["env", "-i", "PATH=/usr/bin:/bin", "SLURMD_NODENAME=node7", "bash", "--noprofile",
         "--norc", "-c", before + block + show],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip


def test_the_job_loads_the_modules_then_runs_the_prologue_then_sets_the_path():
    block = _environment_block("python/3.12 cuda/12", 'PROLOGUE="after:$LOADED"')
    result = _run(block, FAKE_MODULE)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "LOADED=python/3.12 cuda/12 PROLOGUE=after:python/3.12 cuda/12 "
        "PATH=/opt/env/bin:/usr/bin:/bin"
    )


def test_modules_without_a_module_command_stop_the_job_with_a_sentence():
    result = _run(_environment_block("python/3.12"))
    assert result.returncode == 1
    assert (
        "jupyterhub_moss: error: This environment loads modules (python/3.12), but there is "
        "no module command on node node7: please tell the administrators."
    ) in result.stderr


def test_a_module_that_fails_to_load_stops_the_job():
    failing = 'module() { echo "no such module" >&2; return 1; }\n'
    result = _run(_environment_block("nope/1"), failing)
    assert result.returncode == 1
    assert "module load nope/1 failed on node node7." in result.stderr


def test_the_path_is_left_alone_when_add_to_path_is_off():
    result = _run(_environment_block(add_to_path=False))
    assert result.stdout.strip().endswith("PATH=/usr/bin:/bin"), result.stdout


# ---- settings of jupyterhub-moss 10.x and batchspawner -----------------------------------


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_batchspawner_settings_without_meaning_are_refused_naming_the_replacement(name):
    with pytest.raises(TraitError) as info:
        MOSlurmSpawner(**{name: "x"})
    assert f"c.MOSlurmSpawner.{name} is batchspawner's" in str(info.value)
    assert REFUSED[name] in str(info.value)


def test_batchspawner_account_qos_and_options_become_directives():
    spawner = MOSlurmSpawner(
        sbatch_directives=["--mem=4G"],
        req_account="proj1",
        req_qos="short",
        req_options="--constraint=ib --exclusive",
    )
    assert spawner.admin_directives() == [
        "--mem=4G", "--account=proj1", "--qos=short", "--constraint=ib", "--exclusive",
    ]  # fmt: skip


def test_the_start_up_check_refuses_settings_that_would_be_ignored(caplog):
    c = Config()
    c.MOSlurmSpawner.req_runtime = "2:00:00"
    c.SlurmSpawner.req_partition = "cpu"
    c.BatchSpawnerBase.req_qos = "short"
    c.MOSlurmSpawner.slurm_info_cmd = "sinfo"
    c.MOSlurmSpawner.req_account = "proj1"
    with caplog.at_level(logging.WARNING), pytest.raises(ValueError) as info:
        check_peer_config(c, logging.getLogger("test"))
    lines = str(info.value).splitlines()
    assert lines == [
        "c.MOSlurmSpawner.req_runtime is batchspawner's and has no meaning in jupyterhub_moss; "
        f"use {REFUSED['req_runtime']}",
        "c.SlurmSpawner.req_partition is batchspawner's and has no meaning in jupyterhub_moss; "
        f"use {REFUSED['req_partition']}",
        "c.BatchSpawnerBase.req_qos is not read by MOSlurmSpawner: set "
        "c.MOSlurmSpawner.req_qos if jupyterhub_moss has it (see the migration guide)",
    ]
    assert "c.MOSlurmSpawner.slurm_info_cmd (jupyterhub-moss 10.x) is ignored" in caplog.text
    assert "c.MOSlurmSpawner.req_account is batchspawner's name; it is used as" in caplog.text


def test_a_clean_moss_10_config_passes_the_start_up_check():
    c = Config()
    c.MOSlurmSpawner.partitions = {"cpu": MOSS10_PARTITION}
    c.MOSlurmSpawner.singularity_cmd = ["apptainer", "exec"]
    check_peer_config(c, logging.getLogger("test"))
    spawner = MOSlurmSpawner(config=c)
    assert spawner.singularity_cmd == ["apptainer", "exec"]


def test_the_path_of_an_image_is_a_folder_inside_it():
    env = Environment(
        description="Lab image",
        image="/images/trixie",
        runner=["ch-run", "--home", "{image}", "--"],
        path="/opt/jupyter/bin",
    )
    job = job_environment_for(env, singularity_cmd=[])
    assert job.command(None, []) == [
        "ch-run", "--home", "/images/trixie", "--",
        "/opt/jupyter/bin/jupyterhub-singleuser", "--ServerApp.port_retries=0",
    ]  # fmt: skip
    # Nothing of the image is on the node: neither the PATH nor the port helpers use it.
    assert job.path == "" and not job.add_to_path
