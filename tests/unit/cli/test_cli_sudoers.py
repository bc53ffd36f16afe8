"""``jupyterhub-moss sudoers``: rules for exactly the commands run as users."""

import os
import shutil
import subprocess

import pytest
from support.clitools import (
    BROKEN_CONFIG,
    GOOD_CONFIG,
    generated_sudoers,
    installed_sudo_rules,
    run_cli,
)

pytestmark = pytest.mark.skipif(
    shutil.which("sbatch") is None or shutil.which("scancel") is None,
    reason="the Slurm commands are not installed",
)


def sudoers(config=GOOD_CONFIG, env=None):
    result = run_cli(
        "sudoers", "-f", str(config), "--hub-user", "jupyterhub", "--group", "hpcusers", env=env
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _commands(text: str) -> list[str]:
    """The commands of the Cmnd_Alias, continuation lines joined."""
    joined = text.replace("\\\n", "")
    alias = next(line for line in joined.splitlines() if line.startswith("Cmnd_Alias "))
    return [spec.strip() for spec in alias.split("=", 1)[1].split(",")]


def test_the_rules_list_exactly_the_commands_run_as_users_by_full_path():
    sbatch, scancel, tail, test = (shutil.which(n) for n in ("sbatch", "scancel", "tail", "test"))
    assert _commands(sudoers()) == [
        f"{sbatch} --parsable",
        f"{sbatch} --test-only",
        f"{scancel} ^[0-9]+$",
        f"{tail} ^-c 65536 -- /[^ ]+$",
        f"{test} ^-f /[^ ]+$",
    ]


def test_the_hub_may_act_as_the_group_without_password_nor_setenv():
    text = sudoers()
    assert "Runas_Alias MOSS_USERS = %hpcusers, !root" in text.splitlines()
    assert "jupyterhub ALL = (MOSS_USERS) NOPASSWD: MOSS_SLURM" in text.splitlines()
    assert "SETENV" not in text
    assert "env_keep" not in text


def test_setenv_only_when_the_exec_prefix_keeps_the_environment():
    assert "NOPASSWD:SETENV: MOSS_SLURM" in sudoers(BROKEN_CONFIG)


def test_slurm_conf_is_kept_only_when_the_hub_has_it():
    text = sudoers(env={"SLURM_CONF": "/etc/slurm/slurm.conf"})
    assert 'Defaults!MOSS_SLURM env_keep += "SLURM_CONF"' in text.splitlines()


@pytest.mark.parametrize("config", [GOOD_CONFIG, BROKEN_CONFIG])
def test_visudo_accepts_the_rules(tmp_path, config):
    visudo = shutil.which("visudo") or next(
        (p for p in ("/usr/sbin/visudo", "/sbin/visudo") if shutil.os.path.exists(p)), None
    )
    if visudo is None:
        pytest.skip("visudo is not installed")
    rules = tmp_path / "jupyterhub"
    rules.write_text(sudoers(config))
    result = subprocess.run([visudo, "-c", "-f", str(rules)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_config_that_does_not_use_sudo_needs_no_rules(tmp_path):
    config = tmp_path / "runuser.py"
    config.write_text(
        GOOD_CONFIG.read_text()
        + "\nc.MOSlurmSpawner.exec_prefix = ['runuser', '-l', '-u', '{username}', '--']\n"
    )
    result = run_cli("sudoers", "-f", str(config), "--hub-user", "jupyterhub", "--group", "g")
    assert result.returncode == 2
    assert "no sudoers rules are needed" in result.stderr


def sudo_allows(hub_user, target, argv):
    result = subprocess.run(
        ["sudo", "-n", "-l", "-U", hub_user, "-u", target, *argv], capture_output=True
    )
    return result.returncode == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="installing sudo rules needs root")
def test_sudo_allows_exactly_the_commands_and_never_as_root():
    with installed_sudo_rules(generated_sudoers()):
        check_what_sudo_allows()


def check_what_sudo_allows():
    sbatch, scancel, tail = (shutil.which(n) for n in ("sbatch", "scancel", "tail"))
    output = "/home/moss01/.local/state/jupyterhub_moss/12.log"
    allowed = [
        [sbatch, "--parsable"],
        [sbatch, "--test-only"],
        [scancel, "12"],
        [tail, "-c", "65536", "--", output],
    ]
    for argv in allowed:
        assert sudo_allows("moss16", "moss01", argv), argv
    refused = [
        [scancel, "12", "--signal=KILL"],
        [scancel, "12", "13"],
        [scancel, "--user=moss02"],
        [tail, "-c", "65536", "--", output, "/etc/shadow"],
        [tail, "-f", "-c", "65536", "--", output],
        [tail, "-c", "65536", "--", "relative.log"],
        [sbatch, "--parsable", "--wrap=id"],
        [sbatch, "--test-only", "--uid=0"],
    ]
    for argv in refused:
        assert not sudo_allows("moss16", "moss01", argv), argv
    for argv in allowed:
        assert not sudo_allows("moss16", "root", argv), argv
