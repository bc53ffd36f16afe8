"""A centre's layout (dev/site-up.sh): the hub runs as an ordinary account on a
host of its own, with exactly the sudo rules ``jupyterhub-moss sudoers`` prints,
and the servers run on other hosts behind their firewalls. Network namespaces
stand for the hosts."""

import json
import subprocess

import httpx
import pytest
from support.clitools import installed_sudo_rules
from support.site import (
    SITE_CONF,
    SiteHub,
    in_hub_host,
    site_slurm,
    site_up,
    site_workdir,
    sudoers_for,
)

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def site():
    site_up()


@pytest.fixture
def site_hub(site, request):
    """A started site hub (extra config from the test's ``site_config`` marker)."""
    marker = request.node.get_closest_marker("site_config")
    extra = marker.args[0] if marker else ""
    with site_workdir(request.node.name[:40]) as folder:
        hub = SiteHub(folder, extra)
        (hub.workdir / "jupyterhub_config.py").write_text(hub.config_text())
        with installed_sudo_rules(sudoers_for(hub.workdir / "jupyterhub_config.py")):
            hub.start()
            try:
                yield hub
            finally:
                hub.stop()
                site_slurm("scancel", "-p", "site", check=False)
                report = getattr(request.node, "rep_call", None)
                if report is not None and report.failed:
                    print(hub.log()[-20000:])


def start(hub, user, **options):
    r = hub.api(
        "POST", f"/users/{user}/server", json={"user_options": {"partition": "site", **options}}
    )
    assert r.status_code in (201, 202), r.text
    return hub.wait_ready(user, timeout=120)


def answers(hub, user) -> bool:
    try:
        r = httpx.get(f"{hub.url}/user/{user}/api", timeout=10)
    except httpx.HTTPError:
        return False
    return r.status_code == 200 and "version" in r.text


def test_the_hub_process_runs_as_an_ordinary_account_on_its_own_host(site_hub):
    out = subprocess.run(
        ["ps", "-o", "user=", "-p", str(site_hub.proc.pid)], capture_output=True, text=True
    ).stdout.strip()
    assert out == "moss-hub"
    netns = subprocess.run(
        ["ip", "netns", "identify", str(site_hub.proc.pid)], capture_output=True, text=True
    ).stdout.strip()
    assert netns == "moss-hub"


def test_a_server_on_another_host_starts_is_proxied_survives_a_hub_restart_and_stops(
    site_hub,
):
    user = "moss01"
    model = start(site_hub, user)
    job_id = model["state"]["job_id"]
    node = model["state"]["job_node"]
    assert node in ("site1", "site2")
    target = site_hub.proxy_routes()[f"/user/{user}"]["target"]
    assert target.startswith(f"http://{node}:41"), target
    assert answers(site_hub, user)
    site_hub.restart()
    assert site_hub.wait_ready(user, timeout=60)["state"]["job_id"] == job_id
    assert answers(site_hub, user)
    r = site_hub.api("DELETE", f"/users/{user}/server")
    assert r.status_code in (202, 204), r.text
    site_hub.wait_stopped(user)
    state = site_slurm("scontrol", "show", "job", job_id)
    assert "JobState=CANCELLED" in state or "JobState=COMPLETED" in state, state


@pytest.mark.site_config("c.Spawner.port = 41234\n")
def test_two_servers_on_the_same_port_on_two_nodes(site_hub):
    # Each asks for all 8 cores of a node: they land on the two nodes.
    first, second = start(site_hub, "moss02", nprocs="8"), start(site_hub, "moss03", nprocs="8")
    nodes = {first["state"]["job_node"], second["state"]["job_node"]}
    assert nodes == {"site1", "site2"}
    assert first["state"]["job_port"] == second["state"]["job_port"] == 41234
    assert answers(site_hub, "moss02") and answers(site_hub, "moss03")


def network_check(hub) -> dict:
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
    return {f["code"] for f in json.loads(result.stdout)["findings"]}


def nft(namespace: str, *argv: str) -> None:
    subprocess.run(["ip", "netns", "exec", namespace, "nft", *argv], check=True)


def test_the_network_check_names_the_direction_a_firewall_closes(site_hub):
    assert network_check(site_hub) == {"node-reaches-hub", "hub-reaches-node"}
    try:
        # The nodes' firewalls no longer let the hub open connections to servers.
        for node in ("moss-site1", "moss-site2"):
            nft(node, "insert", "rule", "inet", "moss", "input", "ip", "saddr", "10.77.0.10",
                "tcp", "dport", "41000-41999", "ct", "state", "new", "drop")  # fmt: skip
        assert network_check(site_hub) == {"node-reaches-hub", "hub-cannot-reach-node"}
    finally:
        site_up()  # the firewalls as they were
    try:
        # The hub's firewall no longer lets the nodes open connections to its API.
        nft("moss-hub", "insert", "rule", "inet", "moss", "input", "ip", "saddr",
            "{ 10.77.0.11, 10.77.0.12 }", "tcp", "dport", "18100-18199", "ct", "state", "new",
            "drop")  # fmt: skip
        assert network_check(site_hub) == {"node-cannot-reach-hub", "hub-reaches-node"}
    finally:
        site_up()
