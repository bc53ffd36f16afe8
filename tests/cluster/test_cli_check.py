"""``jupyterhub-moss check`` against the local cluster (read-only Slurm queries)."""

import os

import pytest
from support.clitools import (
    BROKEN_CONFIG,
    DEMO_CONFIG,
    GOOD_CONFIG,
    check_json,
    codes,
    generated_sudoers,
    installed_sudo_rules,
    run_cli,
)

pytestmark = pytest.mark.cluster


def test_the_demo_config_has_no_error_and_exits_0():
    result = run_cli("check", "-f", str(DEMO_CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    assert not any(line.startswith("ERROR:") for line in result.stdout.splitlines())
    assert ": OK: 0 errors" in result.stdout.splitlines()[-1]


def test_the_good_config_passes_with_json_and_exit_0():
    status, document = check_json(GOOD_CONFIG)
    assert status == 0
    assert document["summary"]["error"] == 0 and document["summary"]["ok"] is True
    assert codes(document, "warning") == set()


def test_the_broken_config_reports_each_fault_as_its_own_error():
    status, document = check_json(BROKEN_CONFIG)
    assert status == 1
    errors = codes(document, "error")
    assert ("partition-missing", "nosuch") in errors
    assert ("nprocs-over-slurm", "cpu") in errors
    assert ("ngpus-over-slurm", "gpu") in errors
    assert ("runtime-over-maxtime", "gpu") in errors
    assert ("gpu-type-unknown", "gpumix") in errors
    assert any(code == "exec-prefix-keeps-env" for code, _ in errors)
    assert len(errors) == 6, errors


def test_a_missing_venv_is_a_warning_not_an_error():
    _, document = check_json(BROKEN_CONFIG)
    assert ("environment-missing", "long") in codes(document, "warning")
    assert not any(code == "environment-missing" for code, _ in codes(document, "error"))


def test_messages_name_the_config_key_and_slurms_value():
    _, document = check_json(BROKEN_CONFIG)
    by_code = {(f["code"], f["subject"]): f["message"] for f in document["findings"]}
    assert (
        "c.MOSlurmSpawner.partitions['cpu']['max_nprocs'] is 64"
        in by_code[("nprocs-over-slurm", "cpu")]
    )
    assert "at most 28 CPUs" in by_code[("nprocs-over-slurm", "cpu")]
    assert "MaxTime=01:00:00" in by_code[("runtime-over-maxtime", "gpu")]
    assert "at most 2 GPUs" in by_code[("ngpus-over-slurm", "gpu")]
    assert "'H100'" in by_code[("gpu-type-unknown", "gpumix")]
    assert "V100-SXM2-32GB" in by_code[("gpu-type-unknown", "gpumix")]


def test_the_json_document_has_findings_and_a_summary():
    _, document = check_json(BROKEN_CONFIG)
    assert set(document) == {"config", "findings", "summary"}
    assert set(document["summary"]) == {"error", "warning", "info", "ok"}
    assert document["summary"]["ok"] is False
    for finding in document["findings"]:
        assert set(finding) == {"severity", "code", "subject", "message"}
        assert finding["severity"] in ("error", "warning", "info")
    assert document["summary"]["error"] == sum(
        f["severity"] == "error" for f in document["findings"]
    )


def test_the_human_output_is_one_line_a_finding_then_the_summary():
    result = run_cli("check", "-f", str(BROKEN_CONFIG))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("ERROR: ")
    assert sum(line.startswith("ERROR: ") for line in lines) == 6
    assert "FAILED: 6 errors, 1 warning" in lines[-1]
    assert "Traceback" not in result.stderr


def test_check_reads_jupyterhub_config_py_of_the_working_directory(tmp_path):
    (tmp_path / "jupyterhub_config.py").write_text(BROKEN_CONFIG.read_text())
    result = run_cli("check", "--json", cwd=tmp_path)
    assert result.returncode == 1
    assert '"partition-missing"' in result.stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="listing another account's sudo rules needs root")
def test_missing_sudo_rules_are_errors_for_sbatch_and_scancel_and_warnings_otherwise():
    status, document = check_json(
        GOOD_CONFIG, "--hub-user", "moss-demo", "--sample-user", "moss-demo"
    )
    assert status == 1
    missing = {
        (f["severity"], f["subject"].split()[0].rsplit("/", 1)[-1], f["subject"].split()[1])
        for f in document["findings"]
        if f["code"] == "sudo-rule-missing"
    }
    assert missing == {
        ("error", "sbatch", "--parsable"),
        ("error", "scancel", "^[0-9]+$"),
        ("warning", "sbatch", "--test-only"),
        ("warning", "tail", "^-c"),
        ("warning", "test", "^-f"),
    }


@pytest.mark.skipif(os.geteuid() != 0, reason="runs as root only")
def test_run_as_root_without_hub_user_the_sudo_check_is_info():
    _, document = check_json(GOOD_CONFIG)
    assert ("sudo-unchecked", "root") in codes(document, "info")


BROAD_RULES = """\
Cmnd_Alias MOSS_BROAD = {sbatch} --parsable, {sbatch} --test-only, {scancel} [0-9]*, \\
    {tail} -c 65536 -- /*
moss16 ALL = (%moss01, %root) NOPASSWD: MOSS_BROAD
"""


def sudo_codes(document):
    return {
        code
        for code, _ in codes(document, "error")
        if code.startswith(("sudo-rule", "group-member"))
    }


@pytest.mark.skipif(os.geteuid() != 0, reason="installing sudo rules needs root")
def test_rules_broader_than_needed_or_reaching_root_are_errors():
    import shutil

    paths = {n: shutil.which(n) for n in ("sbatch", "scancel", "tail")}
    args = ("--hub-user", "moss16", "--sample-user", "moss01")
    with installed_sudo_rules(BROAD_RULES.format(**paths)):
        status, document = check_json(GOOD_CONFIG, *args)
    assert status == 1
    broad = {f["subject"] for f in document["findings"] if f["code"] == "sudo-rule-too-broad"}
    assert f"{paths['scancel']} 1 --signal=KILL" in broad
    assert any(s.startswith(paths["tail"]) and s.endswith("/etc/shadow") for s in broad), broad
    assert ("sudo-rule-root", f"{paths['scancel']} ^[0-9]+$") in codes(document, "error")
    # The generated rules: nothing missing, nothing too broad, root out of reach.
    with installed_sudo_rules(generated_sudoers()):
        status, document = check_json(GOOD_CONFIG, *args)
    assert sudo_codes(document) == set(), document["findings"]


def test_group_members_no_server_is_started_for_are_errors():
    _, document = check_json(GOOD_CONFIG, "--group", "root", "--group", "moss01")
    refused = {s for c, s in codes(document, "error") if c == "group-member-refused"}
    assert refused == {"root:root"}
    _, document = check_json(GOOD_CONFIG, "--group", "moss01")
    assert not any(c == "group-member-refused" for c, _ in codes(document))
