"""``jupyterhub-moss``: exit status 2 and a clear message, no traceback, for a
config that cannot be loaded and for wrong arguments. No Slurm needed."""

from support.clitools import GOOD_CONFIG, run_cli


def _refused(result, *words):
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr


def test_a_missing_config_file_exits_2(tmp_path):
    _refused(run_cli("check", "-f", str(tmp_path / "nope.py")), "no such config file")


def test_the_default_config_is_looked_for_in_the_working_directory(tmp_path):
    _refused(run_cli("check", cwd=tmp_path), "jupyterhub_config.py", "no such config file")


def test_a_config_with_a_syntax_error_exits_2(tmp_path):
    config = tmp_path / "bad.py"
    config.write_text("c = get_config()\nc.MOSlurmSpawner.partitions = {\n")
    _refused(run_cli("check", "-f", str(config)), "syntax error")


def test_a_config_that_raises_exits_2_with_the_error(tmp_path):
    config = tmp_path / "raises.py"
    config.write_text("raise RuntimeError('site misconfigured')\n")
    _refused(run_cli("check", "-f", str(config)), "RuntimeError: site misconfigured")


def test_a_config_without_partitions_exits_2(tmp_path):
    config = tmp_path / "empty.py"
    config.write_text("import jupyterhub_moss\njupyterhub_moss.set_config(get_config())\n")
    _refused(run_cli("check", "-f", str(config)), "c.MOSlurmSpawner.partitions is not set")


def test_a_partition_the_hub_would_refuse_exits_2(tmp_path):
    config = tmp_path / "refused.py"
    config.write_text(
        "c = get_config()\n"
        "c.MOSlurmSpawner.partitions = {'cpu': {'max_nprocs': 0, 'venv': '/x/'}}\n"
    )
    _refused(run_cli("check", "-f", str(config)), "max_nprocs")


def test_no_subcommand_or_an_unknown_one_exits_2():
    _refused(run_cli())
    _refused(run_cli("frobnicate"), "invalid choice")


def test_script_without_user_exits_2():
    _refused(run_cli("script", "-f", str(GOOD_CONFIG), "partition=cpu"), "--user")


def test_script_with_a_word_that_is_not_key_value_exits_2():
    _refused(
        run_cli("script", "-f", str(GOOD_CONFIG), "--user", "moss-demo", "partition"),
        "is not key=value",
    )


def test_script_for_a_user_without_an_account_exits_2():
    _refused(
        run_cli("script", "-f", str(GOOD_CONFIG), "--user", "no-such-user-x", "partition=cpu"),
        "no-such-user-x",
    )


def test_sudoers_without_group_exits_2():
    _refused(run_cli("sudoers", "-f", str(GOOD_CONFIG), "--hub-user", "jupyterhub"), "--group")


def test_sudoers_refuses_a_group_name_that_would_change_the_rules():
    _refused(
        run_cli("sudoers", "-f", str(GOOD_CONFIG), "--hub-user", "jupyterhub", "--group", "a, ALL"),
        "is not an account or group name",
    )
