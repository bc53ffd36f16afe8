"""A centre's layout (dev/site-up.sh): the hub runs as an ordinary account on a
host of its own, with exactly the sudo rules ``jupyterhub-moss sudoers`` prints,
and the servers run on other hosts behind their firewalls. Network namespaces
stand for the hosts."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from support.site import (
    SITE_CONF,
    answers,
    host_name_of,
    in_hub_host,
    site_slurm,
    site_up,
    start,
    started_and_proxied,
)

pytestmark = pytest.mark.cluster


def test_the_hub_process_runs_as_an_ordinary_account_on_its_own_host(site_hub):
    out = subprocess.run(
        ["ps", "-o", "user=", "-p", str(site_hub.proc.pid)], capture_output=True, text=True
    ).stdout.strip()
    assert out == "moss-hub"
    netns = subprocess.run(
        ["ip", "netns", "identify", str(site_hub.proc.pid)], capture_output=True, text=True
    ).stdout.strip()
    assert netns == "moss-hub"
    assert host_name_of(site_hub.proc.pid) == "moss-hub"
    # Its host does not see the users' homes: its /home is empty.
    assert os.listdir(f"/proc/{site_hub.proc.pid}/root/home") == []


def test_a_server_on_another_host_starts_is_proxied_survives_a_hub_restart_and_stops(
    site_hub,
):
    user = "moss01"
    model = start(site_hub, user)
    job_id = model["state"]["job_id"]
    node = model["state"]["job_node"]
    assert node in ("site1", "site2")
    # The server runs on that host, under its name.
    server = subprocess.run(
        ["pgrep", "-u", user, "-f", "jupyterhub-singleuser"], capture_output=True, text=True
    ).stdout.split()
    assert server and {host_name_of(int(pid)) for pid in server} == {node}
    target = site_hub.proxy_routes()[f"/user/{user}"]["target"]
    assert target.startswith(f"http://{node}:41"), target
    assert answers(site_hub, user)
    site_hub.restart()
    assert site_hub.wait_ready(user, timeout=60)["state"]["job_id"] == job_id
    assert answers(site_hub, user)
    r = site_hub.api("DELETE", f"/users/{user}/server")
    assert r.status_code in (202, 204), r.text
    site_hub.wait_stopped(user)
    deadline = time.time() + 30
    while time.time() < deadline:
        state = site_slurm("scontrol", "-o", "show", "job", job_id)
        if "JobState=CANCELLED" in state or "JobState=COMPLETED" in state:
            break
        time.sleep(0.5)
    assert "JobState=CANCELLED" in state or "JobState=COMPLETED" in state, state[:300]


@pytest.mark.site_config("c.Spawner.port = 41234\n")
def test_two_servers_on_the_same_port_on_two_nodes(site_hub):
    # Each asks for all 8 cores of a node: they land on the two nodes.
    first, second = start(site_hub, "moss02", nprocs="8"), start(site_hub, "moss03", nprocs="8")
    nodes = {first["state"]["job_node"], second["state"]["job_node"]}
    assert nodes == {"site1", "site2"}
    assert first["state"]["job_port"] == second["state"]["job_port"] == 41234
    assert answers(site_hub, "moss02") and answers(site_hub, "moss03")


def network_check(hub) -> dict[str, str]:
    """The findings of ``check --network --as moss04`` run on the hub's host as the
    hub's account: code -> message."""
    result = subprocess.run(
        in_hub_host(
            str(hub.venv / "bin" / "python"),
            "-m",
            "jupyterhub_moss",
            "check",
            "-f",
            str(hub.workdir / "jupyterhub_config.py"),
            "--json",
            "--network",
            "--as",
            "moss04",
        ),
        capture_output=True,
        text=True,
        timeout=200,
        cwd=hub.workdir,
        env={"SLURM_CONF": SITE_CONF, "PATH": "/usr/bin:/bin", "HOME": "/"},
    )
    assert result.stdout, result.stderr
    return {f["code"]: f["message"] for f in json.loads(result.stdout)["findings"]}


def nft(namespace: str, *argv: str) -> None:
    subprocess.run(["ip", "netns", "exec", namespace, "nft", *argv], check=True)


def test_the_network_check_names_the_direction_a_firewall_closes(site_hub):
    assert network_check(site_hub).keys() == {"node-reaches-hub", "hub-reaches-node"}
    try:
        # The nodes' firewalls no longer let the hub open connections to servers.
        for node in ("moss-site1", "moss-site2"):
            nft(node, "insert", "rule", "inet", "moss", "input", "ip", "saddr", "10.77.0.10",
                "tcp", "dport", "41000-41999", "ct", "state", "new", "drop")  # fmt: skip
        assert network_check(site_hub).keys() == {"node-reaches-hub", "hub-cannot-reach-node"}
    finally:
        site_up()  # the firewalls as they were
    try:
        # The hub's firewall no longer lets the nodes open connections to its API.
        nft("moss-hub", "insert", "rule", "inet", "moss", "input", "ip", "saddr",
            "{ 10.77.0.11, 10.77.0.12 }", "tcp", "dport", "18100-18199", "ct", "state", "new",
            "drop")  # fmt: skip
        assert network_check(site_hub).keys() == {"node-cannot-reach-hub", "hub-reaches-node"}
    finally:
        site_up()


@pytest.mark.site_config('c.JupyterHub.trusted_alt_names = ["IP:10.77.0.10"]\n', internal_ssl=True)
def test_with_internal_ssl_the_network_check_does_the_tls_handshake_each_way(site_hub):
    found = network_check(site_hub)
    assert found.keys() == {"node-reaches-hub", "hub-reaches-node"}, found
    assert found["hub-reaches-node"].endswith("over TLS")
    config = site_hub.workdir / "jupyterhub_config.py"
    original = config.read_text()
    # The nodes told to call the hub by a name of its host that its certificate
    # does not carry: they refuse it, and the check says what to set.
    other_name = f'c.JupyterHub.hub_connect_url = "https://mosshub-alias:{site_hub.hub_port}"'
    config.write_text(original + f"\n{other_name}\n")
    found = network_check(site_hub)
    assert found.keys() == {"node-cannot-reach-hub", "hub-reaches-node"}, found
    assert "trusted_alt_names" in found["node-cannot-reach-hub"]
    # The check's listener presents a certificate with the names a server's would
    # carry: here one that is not the node's, so the hub's side refuses it.
    wrong = 'c.Spawner.ssl_alt_names = ["DNS:elsewhere.example"]'
    config.write_text(original + f"\n{wrong}\n")
    found = network_check(site_hub)
    assert found.keys() == {"node-reaches-hub", "hub-tls-to-node-failed"}, found
    assert "ssl_alt_names" in found["hub-tls-to-node-failed"]


def stopped_controller():
    """The site's slurmctld, stopped (SIGSTOP) until the block ends."""
    pid = int(Path("/var/lib/moss-dev/site/slurmctld.pid").read_text())
    os.kill(pid, signal.SIGSTOP)
    return pid


@pytest.mark.site_config("c.MOSlurmSpawner.slurm_command_timeout = 3\n")
def test_a_submission_answered_too_late_leaves_no_process_and_its_job_is_cancelled(site_hub):
    user = "moss05"
    # What the form needs from Slurm is known before the controller stops.
    client = site_hub.login(user)
    try:
        assert client.get("/hub/api/moss/resources", headers=site_hub.xsrf(client)).is_success
    finally:
        client.close()
    pid = stopped_controller()
    try:
        message = site_hub.failed_spawn(user, {"partition": "site"})
        assert "did not answer the job submission in time" in message, message
        # The sbatch the hub ran as the user, through sudo, is gone.
        left = subprocess.run(["pgrep", "-u", user, "-a", "sbatch"], capture_output=True, text=True)
        assert left.stdout == "", left.stdout
    finally:
        os.kill(pid, signal.SIGCONT)
    # The controller, going on, creates the job from the request it held; the hub
    # finds it by its comment and cancels it.
    deadline = time.time() + 120
    while time.time() < deadline:
        if "submitted unrecorded" in site_hub.log(since_start=True):
            break
        time.sleep(1)
    assert "submitted unrecorded" in site_hub.log(since_start=True)
    deadline = time.time() + 30
    while time.time() < deadline and site_slurm("squeue", "-h", "-u", user, "-o", "%i").strip():
        time.sleep(0.5)
    assert site_slurm("squeue", "-h", "-u", user, "-o", "%i").strip() == ""


@pytest.mark.site_config(
    """
    c.JupyterHub.hub_ip = "0.0.0.0"
    c.JupyterHub.hub_connect_url = "http://moss-hub:HUB_PORT"
    c.MOSlurmSpawner.node_address = "{node}.ib"
    """,
    hub_hosts="10.77.0.11 site1.ib\n10.77.0.12 site2.ib\n",
)
def test_hub_connect_url_and_a_node_address_that_resolves_only_on_the_hub(site_hub):
    user = "moss06"
    model, target = started_and_proxied(site_hub, user)
    node = model["state"]["job_node"]
    assert target.startswith(f"http://{node}.ib:41"), target
    # The name means nothing off the hub's host.
    assert subprocess.run(["getent", "hosts", f"{node}.ib"], capture_output=True).returncode != 0
