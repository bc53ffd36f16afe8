"""The network check's job script and its comment, without Slurm."""

import os
import subprocess

import pytest

from jupyterhub_moss.cli.network import (
    TLS_FAILED,
    _greeting,
    network_script,
    parse_network_comment,
    throwaway_certificate,
)


def test_the_check_job_script_is_valid_bash_and_carries_its_arguments_as_words():
    script = network_script(
        "cpu",
        "https://hub.ib:8081/hub/api",
        (41000, 41999),
        ["--account=ops"],
        ca="C'A",
        served=("CERT\n", "KEY"),
    )
    subprocess.run(["bash", "-n"], input=script, text=True, check=True)
    assert "#SBATCH --partition=cpu\n" in script and "#SBATCH --account=ops\n" in script
    # What python would get as sys.argv[1:], read back by bash itself.
    command = script[script.index("exec python3 -I -S -c") :]
    command = command.replace("exec python3 -I -S -c", "printf '%s\\n'", 1)
    words = subprocess.run(["bash", "-c", command], capture_output=True, text=True).stdout
    assert words.splitlines()[-7:] == [
        "https://hub.ib:8081/hub/api", "41000", "41999", "C'A", "CERT", "", "KEY"
    ]  # fmt: skip


def test_the_comment_is_read_only_once_the_job_has_written_it():
    assert parse_network_comment("moss-submit:abc") is None
    assert parse_network_comment("moss-net:port=41234;hub=ok") == {"port": "41234", "hub": "ok"}
    said = parse_network_comment("moss-net:port=0;hub=URLError  urlopen error timed out")
    assert said["port"] == "0" and said["hub"].startswith("URLError")


@pytest.fixture
def run_job_code():
    """Run the check job's code here, outside Slurm (no SLURM_JOB_ID: it prints its
    comment and does not call scontrol); its comment, parsed, once it has one."""
    started = []

    def run(served=("", "")):
        script = network_script("cpu", "http://127.0.0.1:9/hub/api", (42000, 42999), served=served)
        command = script[script.index("exec python3 -I -S -c") :].replace("exec ", "", 1)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
        proc = subprocess.Popen(["bash", "-c", command], stdout=subprocess.PIPE, text=True, env=env)
        started.append(proc)
        return parse_network_comment(proc.stdout.readline().strip())

    yield run
    for proc in started:
        proc.kill()
        proc.wait()


def test_the_jobs_listener_greets_the_hubs_side_in_plain_tcp(run_job_code):
    said = run_job_code()
    assert said["hub"].startswith("URLError"), said  # nothing listens at port 9
    assert _greeting("127.0.0.1", int(said["port"])) is None


def test_with_internal_ssl_the_listener_presents_the_checks_certificate_for_the_nodes_name(
    run_job_code,
):
    cert, key = throwaway_certificate(["IP:127.0.0.1", "DNS:node1"])
    port = int(run_job_code((cert, key))["port"])
    assert _greeting("127.0.0.1", port, cert) is None
    # A name the certificate does not carry, or another certificate: the handshake
    # fails, and says so.
    other, _ = throwaway_certificate(["IP:127.0.0.1"])
    assert _greeting("127.0.0.1", port, other).startswith(TLS_FAILED)
    wrong_name, wrong_key = throwaway_certificate(["DNS:node2"])
    port = int(run_job_code((wrong_name, wrong_key))["port"])
    problem = _greeting("127.0.0.1", port, wrong_name)
    assert problem.startswith(TLS_FAILED) and "127.0.0.1" in problem, problem
    # A plain client gets no greeting from a TLS listener.
    assert _greeting("127.0.0.1", port) is not None


def test_a_certificate_signed_by_the_servers_authority_is_trusted_through_that_authority(
    run_job_code,
):
    authority = throwaway_certificate(["DNS:notebooks-ca"])
    served = throwaway_certificate(["IP:127.0.0.1"], ca=authority)
    port = int(run_job_code(served)["port"])
    assert _greeting("127.0.0.1", port, authority[0]) is None
    stranger = throwaway_certificate(["DNS:notebooks-ca"])
    assert _greeting("127.0.0.1", port, stranger[0]).startswith(TLS_FAILED)
