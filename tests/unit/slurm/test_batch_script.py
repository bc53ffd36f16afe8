"""Rendering the batch script."""

import stat
import subprocess
from pathlib import Path

import pytest
from support.hostile import source_exports
from support.scripts import JOB, render

from jupyterhub_moss.slurm.batch_script import (
    JobRequest,
    UnsafeValue,
    default_template,
)


def sbatch_lines(script):
    return [line for line in script.splitlines() if line.startswith("#SBATCH")]


def test_directives_are_exactly_the_requested_ones():
    assert sbatch_lines(render()) == [
        "#SBATCH --job-name=jupyter-alice",
        "#SBATCH --partition=gpu",
        "#SBATCH --nodes=1",
        "#SBATCH --ntasks=1",
        "#SBATCH --cpus-per-task=4",
        "#SBATCH --time=01:30:00",
        "#SBATCH --gres=gpu:V100:1",
        "#SBATCH --mem=4096M",
        "#SBATCH --chdir=/home/alice",
        "#SBATCH --output=jupyterhub_moss_%j.log",
        "#SBATCH --no-requeue",
    ]


def test_optional_directives_left_out_and_admin_directives_added():
    job = JobRequest(
        name="j", partition="cpu", cpus=1, time="00:10:00", output="o.log", workdir="/h"
    )
    lines = sbatch_lines(render(job, extra_directives=["--account=hpc", "--qos=jupyter"]))
    assert not any(
        ("--gres" in line or "--mem" in line or "--reservation" in line) for line in lines
    )
    assert lines[-2:] == ["#SBATCH --account=hpc", "#SBATCH --qos=jupyter"]


def test_script_is_valid_bash_and_starts_the_venv_server():
    script = render()
    subprocess.run(["bash", "-n"], input=script, text=True, check=True)
    assert script.startswith("#!/bin/bash\n")
    assert "moss_venv=/opt/jupyter/bin\n" in script
    assert "moss_cmd=(/opt/jupyter/bin/jupyterhub-singleuser --ServerApp.port_retries=0)" in script
    assert "export JUPYTERHUB_API_TOKEN=secret-token\n" in script
    assert "export JUPYTERHUB_OAUTH_SCOPES='[\"access:servers!server=alice/\"]'" in script


def test_prologue_and_epilogue_are_placed():
    script = render(prologue="module load cuda/12", epilogue="echo bye")
    assert script.index("module load cuda/12") < script.index('"${moss_cmd[@]}" &')
    assert script.index("echo bye") > script.index('"${moss_cmd[@]}" &')
    subprocess.run(["bash", "-n"], input=script, text=True, check=True)


@pytest.mark.parametrize(
    "field, value",
    [
        ("partition", "gpu\n#SBATCH --uid=0"),
        ("partition", "gpu --uid=0"),
        ("name", "x;rm -rf ~"),
        ("gres", "gpu:1\n"),
        ("time", "1:00:00 --begin=now"),
        ("memory", "4G'"),
        ("reservation", "$(id)"),
        ("workdir", "/home/a b"),
    ],
)
def test_sbatch_values_cannot_add_words_or_lines(field, value):
    job = JobRequest(**{**JOB.__dict__, field: value})
    with pytest.raises(UnsafeValue):
        render(job)


# Values a shell would act on if they were not quoted: each changes what bash reads, or
# runs something that writes into the (empty) folder the exports are sourced in.
SHELL_VALUES = [
    "a'b",
    'a"b',
    "$(touch pwned)",
    "`touch pwned`",
    "a\nb",
    "x; touch pwned",
    "x && touch pwned",
    "x > pwned",
    "\\",
    "$HOME",
    "~",
    "a b",
    "a *",
]


@pytest.mark.parametrize("value", SHELL_VALUES + ["*", "-n", ""])
def test_environment_values_stay_one_word(value):
    # Bash sources the export lines in an empty folder, which must stay empty, and the
    # value comes back unchanged.
    assert source_exports(render(env={"JUPYTERHUB_USER": value})) == {"JUPYTERHUB_USER": value}


@pytest.mark.parametrize("value", SHELL_VALUES)
def test_environment_check_fails_on_values_left_unquoted(value):
    unquoted = default_template().replace("={{ value | shquote }}", "={{ value }}")
    assert unquoted != default_template()
    with pytest.raises(AssertionError):
        exports = source_exports(render(env={"JUPYTERHUB_USER": value}, template=unquoted))
        assert exports == {"JUPYTERHUB_USER": value}


@pytest.mark.parametrize(
    "change",
    [
        {"env": {"JUPYTERHUB_ROOT_DIR": "/\udc80"}},
        {"cmd": ["/opt/jupyter/bin/jupyterhub-singleuser", "--x=\ud800"]},
        {"service_path": "/user/\udfff/"},
    ],
)
def test_text_that_cannot_be_encoded_is_unsafe(change):
    # sbatch gets the script as UTF-8 bytes: a lone surrogate must stop it before then.
    with pytest.raises(UnsafeValue, match="UTF-8"):
        render(**change)


def test_environment_names_are_checked():
    with pytest.raises(UnsafeValue):
        render(env={"BAD NAME": "x"})


def test_admin_template_gets_the_same_filters():
    template = "#SBATCH --partition={{ job.partition | sbatch_safe }}\necho {{ venv | shquote }}\n"
    out = render(template=template, venv="/opt/my env/bin")
    assert out == "#SBATCH --partition=gpu\necho '/opt/my env/bin'\n"


TLS = {"keyfile": "KEY'S TEXT\n", "certfile": "CERT\n", "cafile": "CA\n"}


def tls_block(script: str) -> str:
    return script[script.index("# internal_ssl:") : script.index("moss_scheme=https")]


def test_with_internal_ssl_the_job_writes_its_files_where_only_its_user_reads(tmp_path):
    script = render(tls=TLS)
    subprocess.run(["bash", "-n"], input=script, text=True, check=True)
    code = 'moss_fail() { echo "$*" >&2; }\n' + tls_block(script) + "\ntrap - EXIT\nenv\n"
    result = subprocess.run(
        ["bash", "-c", code],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "TMPDIR": str(tmp_path)},
        check=True,
    )
    env = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    folder = Path(env["JUPYTERHUB_SSL_KEYFILE"]).parent
    assert folder.parent == tmp_path
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for variable, key in [
        ("JUPYTERHUB_SSL_KEYFILE", "keyfile"),
        ("JUPYTERHUB_SSL_CERTFILE", "certfile"),
        ("JUPYTERHUB_SSL_CLIENT_CA", "cafile"),
    ]:
        path = Path(env[variable])
        assert path.parent == folder
        assert path.read_text() == TLS[key]
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_without_internal_ssl_the_script_holds_no_key_and_speaks_http():
    script = render()
    assert "# internal_ssl:" not in script and "export JUPYTERHUB_SSL_KEYFILE" not in script
    assert "\nmoss_tls_dir=\nmoss_scheme=http\n" in script
    assert "moss_scheme=https" in render(tls=TLS)
