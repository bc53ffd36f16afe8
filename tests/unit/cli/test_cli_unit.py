"""The pieces of ``jupyterhub-moss`` that need no cluster: the console script, the
checks as pure functions, the masking and the option words."""

import pytest

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")
from support.clitools import DATA, REPO

from jupyterhub_moss.cli.check import Cluster, check_partitions
from jupyterhub_moss.cli.config import CliError, hub_for_jobs
from jupyterhub_moss.cli.findings import Finding, as_json, as_text, summary
from jupyterhub_moss.cli.hostchecks import check_environments, check_exec_prefix
from jupyterhub_moss.cli.script import MASK, mask_environment, parse_assignments
from jupyterhub_moss.site.partitions import validate_partitions
from jupyterhub_moss.slurm.accounting import parse_qos
from jupyterhub_moss.slurm.clusterinfo import parse_partitions
from jupyterhub_moss.slurm.sinfo import parse_sinfo


def test_pyproject_declares_the_jupyterhub_moss_console_script():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["jupyterhub-moss"] == "jupyterhub_moss.cli:main"


def _cluster():
    return Cluster(
        resources=parse_sinfo((DATA / "sinfo_idle.txt").read_text()),
        partitions=parse_partitions((DATA / "scontrol_partitions.txt").read_text()),
        config=None,
        qos=parse_qos((DATA / "sacctmgr_qos.txt").read_text()),
    )


def _partitions(**settings):
    return validate_partitions(
        {name: {"venv": "/opt/env/bin/", **value} for name, value in settings.items()}
    )


def test_a_run_time_over_the_partitions_own_qos_maxwall_is_an_error():
    cluster = _cluster()
    cluster.resources["staff"] = cluster.resources["cpu"]  # sinfo of the fixture lacks it
    findings = check_partitions(_partitions(staff={"max_runtime": 12 * 3600}), cluster)
    over = [f for f in findings if f.code == "runtime-over-qos"]
    assert [(f.severity, f.subject) for f in over] == [("error", "staff")]
    assert "'part_cap' has MaxWall=06:00:00" in over[0].message


def test_limits_within_slurms_give_no_error():
    findings = check_partitions(
        _partitions(cpu={"max_nprocs": 28, "max_runtime": 3600}), _cluster()
    )
    assert [f for f in findings if f.severity == "error"] == []


def test_a_gpu_template_on_a_partition_without_gpus_is_an_error():
    findings = check_partitions(
        _partitions(cpu={"gpu": "gpu:{}", "max_ngpus": 1, "max_runtime": 3600}), _cluster()
    )
    assert ("error", "gpu-missing", "cpu") in {(f.severity, f.code, f.subject) for f in findings}


def test_nothing_is_said_about_partitions_when_sinfo_failed():
    cluster = Cluster(None, None, None, None)
    assert check_partitions(_partitions(nosuch={"max_runtime": 3600}), cluster) == []


def test_environment_paths_are_checked_on_this_host_as_warnings():
    partitions = validate_partitions(
        {
            "a": {"venv": "/there/bin/"},
            "b": {
                "jupyter_environments": {
                    "x": {"description": "X", "path": "/missing/bin/"},
                    "img": {"description": "Image", "path": "/opt/bin", "image": "/img.sif"},
                }
            },
        }
    )
    present = {"/there/bin/", "/there/bin/jupyterhub-singleuser"}
    findings = check_environments(partitions, exists=present.__contains__)
    assert {(f.severity, f.code, f.subject) for f in findings} == {
        ("warning", "environment-missing", "b")
    }
    assert sorted("/missing/bin/" in f.message or "/img.sif" in f.message for f in findings) == [
        True,
        True,
    ]


@pytest.mark.parametrize(
    "prefix",
    [
        ["sudo", "-E", "-u", "{username}"],
        ["sudo", "--preserve-env", "-u", "{username}"],
        ["sudo", "--preserve-env=PATH", "-u", "{username}"],
        ["sudo", "-nE", "-u", "{username}"],
        ["runuser", "-u", "{username}", "--"],
    ],
)
def test_an_exec_prefix_that_keeps_the_environment_is_a_security_error(prefix):
    assert [(f.severity, f.code) for f in check_exec_prefix(prefix)] == [
        ("error", "exec-prefix-keeps-env")
    ]


def test_the_default_exec_prefix_is_fine():
    assert check_exec_prefix(["sudo", "-n", "-u", "{username}"]) == []


def test_secret_looking_variables_are_masked_and_others_kept():
    env = {
        "JUPYTERHUB_API_TOKEN": "abc",
        "JPY_API_TOKEN": "abc",
        "AWS_SECRET_ACCESS_KEY": "k",
        "DB_PASSWORD": "p",
        "JUPYTERHUB_USER": "alice",
    }
    assert mask_environment(env) == {
        "JUPYTERHUB_API_TOKEN": MASK,
        "JPY_API_TOKEN": MASK,
        "AWS_SECRET_ACCESS_KEY": MASK,
        "DB_PASSWORD": MASK,
        "JUPYTERHUB_USER": "alice",
    }


def test_option_words_are_key_value_and_given_once():
    assert parse_assignments(["partition=cpu", "options=--constraint=a"]) == {
        "partition": "cpu",
        "options": "--constraint=a",
    }
    with pytest.raises(CliError, match="not key=value"):
        parse_assignments(["nprocs"])
    with pytest.raises(CliError, match="given twice"):
        parse_assignments(["nprocs=1", "nprocs=2"])


def test_the_summary_counts_severities_and_fails_on_an_error():
    findings = [
        Finding("error", "partition-missing", "x", "m"),
        Finding("warning", "environment-missing", "y", "m"),
        Finding("info", "sudo-unchecked", "root", "m"),
    ]
    assert summary(findings) == {"error": 1, "warning": 1, "info": 1, "ok": False}
    assert summary(findings[1:])["ok"] is True
    text = as_text(list(reversed(findings)), "hub.py").splitlines()
    assert text[0].startswith("ERROR: partition-missing [x]")
    assert text[-1] == "hub.py: FAILED: 1 error, 1 warning, 1 info"
    assert '"partition-missing"' in as_json(findings, "hub.py")


def test_an_unknown_severity_is_refused():
    with pytest.raises(ValueError):
        Finding("fatal", "x", "y", "z")


@pytest.mark.parametrize(
    "hub_config, api_url",
    [
        ({}, "http://127.0.0.1:8081/hub/api"),
        ({"hub_ip": "10.0.0.5", "hub_port": 9000}, "http://10.0.0.5:9000/hub/api"),
        ({"hub_ip": "0.0.0.0", "hub_connect_ip": "hub.ib"}, "http://hub.ib:8081/hub/api"),
        (
            {"hub_connect_url": "https://hub.example.org:8443/anything", "base_url": "/jh/"},
            "https://hub.example.org:8443/jh/hub/api",
        ),
        ({"internal_ssl": True, "hub_connect_ip": "hub.ib"}, "https://hub.ib:8081/hub/api"),
    ],
)
def test_the_script_gives_the_job_the_hub_address_jupyterhub_would(hub_config, api_url):
    assert hub_for_jobs({"JupyterHub": hub_config}).api_url.rstrip("/") == api_url


def fake_resolver(table):
    return lambda name: table.get(name, set())


def test_check_warns_when_jobs_on_other_hosts_would_reach_the_hub_at_a_loopback():
    from jupyterhub_moss.cli.hostchecks import check_hub_address

    resolve = fake_resolver({"n1": {"10.1.1.1"}, "n2": {"127.0.0.1"}, "here": {"127.0.1.1"}})
    findings = check_hub_address(
        "http://127.0.0.1:8081", {"n1", "n2", "n3"}, "{node}", resolve, this_host="here"
    )
    assert [(f.severity, f.code) for f in findings] == [("warning", "hub-address-loopback")]
    message = findings[0].message
    assert "http://127.0.0.1:8081" in message and "n1, n3" in message
    assert "hub_connect_ip" in message and "hub_connect_url" in message
    # An address the nodes can reach, or nodes that are this host: nothing to say.
    assert check_hub_address("http://10.0.0.9:8081", {"n1"}, "{node}", resolve) == []
    assert check_hub_address("http://localhost:8081", {"n2"}, "{node}", resolve) == []
    assert (
        check_hub_address("http://[::1]:8081", {"here"}, "{node}", resolve, this_host="here") == []
    )


def test_check_says_when_internal_ssl_jobs_would_find_the_hubs_certificate_names_another_host():
    from jupyterhub_moss.cli.hostchecks import check_hub_certificate, hub_certificate_names

    names = hub_certificate_names(["IP:10.77.0.10", "DNS:Hub.Example.org"], "service1.example.org")
    url = "https://10.77.0.11:8081"
    findings = check_hub_certificate(url, True, names)
    assert [(f.severity, f.code, f.subject) for f in findings] == [
        ("error", "hub-certificate-name", "trusted_alt_names")
    ]
    assert "'IP:10.77.0.11'" in findings[0].message and url in findings[0].message
    assert "recreate_internal_certs" in findings[0].message
    # Names the certificate carries: loopback, this host's name, and the trusted ones.
    for named in (
        "https://10.77.0.10:8081",
        "https://hub.example.org:8081",
        "https://127.0.0.1:8081",
        "https://[::1]:8081",
        "https://localhost:8081",
        "https://SERVICE1.example.org:8081",
    ):
        assert check_hub_certificate(named, True, names) == [], named
    assert check_hub_certificate("https://other.example.org:8081", True, names)
    # Without internal_ssl, no certificate is checked.
    assert check_hub_certificate(url, False, names) == []
