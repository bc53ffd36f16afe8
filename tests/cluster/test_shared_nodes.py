"""Shared compute nodes: another user's processes next to the server, and the
user's own job, are not to be trusted. On the real local cluster."""

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest
from support.hubtools import HUB_VENV, free_port, job_output

pytestmark = pytest.mark.cluster

# Another user's listener: it waits for the victim's server to be about to start,
# takes its port in the gap, and answers every request as if it were Jupyter.
ATTACKER = textwrap.dedent(
    """
    import http.server, socket, subprocess, sys, time
    port, victim = int(sys.argv[1]), sys.argv[2]
    deadline = time.time() + 120
    while subprocess.run(["pgrep", "-u", victim, "-f", "slow-start"],
                         capture_output=True).returncode != 0:
        if time.time() > deadline:
            sys.exit("the victim's server never started")
        time.sleep(0.01)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b'{"version": "ATTACKER"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            print("request", self.path, flush=True)

    while True:
        try:
            server = http.server.HTTPServer(("0.0.0.0", port), Handler)
            break
        except OSError:
            if time.time() > deadline:
                sys.exit("could not take the port")
            time.sleep(0.005)
    print("listening", port, flush=True)
    server.timeout = 1
    while time.time() < deadline:
        server.handle_request()
    """
)


@pytest.fixture
def shared_folder():
    """A folder the test users can read (pytest's own are root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="moss-shared-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("internal_ssl", [False, True], ids=["http", "internal_ssl"])
def test_another_users_listener_on_the_servers_port_never_gets_the_route(
    hub_factory, shared_folder, internal_ssl
):
    victim, attacker = "moss12", "moss15"
    port = free_port()
    # The server takes 3 s to start after its port is chosen: a wide gap to bind in.
    wrapper = shared_folder / "slow-start"
    wrapper.write_text(f'#!/bin/bash\nsleep 3\nexec {HUB_VENV}/bin/jupyterhub-singleuser "$@"\n')
    wrapper.chmod(0o755)
    script = shared_folder / "attacker.py"
    script.write_text(ATTACKER)
    hub = hub_factory(
        f"""
        c.Spawner.port = {port}
        c.Spawner.cmd = [{str(wrapper)!r}]
        """,
        internal_ssl=internal_ssl,
    )
    listener = subprocess.Popen(
        ["sudo", "-u", attacker, sys.executable, str(script), str(port), victim],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        r = hub.api("POST", f"/users/{victim}/server", json={"user_options": {"partition": "cpu"}})
        assert r.status_code in (201, 202), r.text
        model = hub.wait_ready(victim, timeout=120)
        client = hub.login(victim)
        answer = client.get(f"{hub.url}/user/{victim}/api")
    finally:
        subprocess.run(["pkill", "-u", attacker, "-f", "attacker.py"], check=False)
        output = listener.communicate(timeout=30)[0]
    # The other user really held the port the job first chose ...
    assert f"listening {port}" in output, output
    # ... yet the hub routes to the job's own server, on another port.
    assert model["state"]["job_port"] != port
    assert answer.status_code == 200 and "ATTACKER" not in answer.text
    assert answer.json()["version"]
    output = job_output(model["state"]["job_id"])
    assert f"port {port} answers but its listening socket is not ours" in output


@pytest.mark.root_hub  # sudo -E needs rules with SETENV, which the generated ones never give
def test_the_hubs_own_environment_never_reaches_the_job(hub_factory, shared_folder):
    """Whatever the exec_prefix keeps (here sudo -E: all of it), the job sees none of
    the hub's variables: not the proxy's token, not the crypt key."""
    user = "moss11"
    probe = shared_folder / "env-probe"
    probe.write_text(
        "#!/bin/bash\n"
        'env > "$HOME/moss-env-probe.txt"\n'
        f'exec {HUB_VENV}/bin/jupyterhub-singleuser "$@"\n'
    )
    probe.chmod(0o755)
    secret = "hub-secret-" + os.urandom(8).hex()
    hub = hub_factory(
        f"""
        c.MOSlurmSpawner.exec_prefix = ["sudo", "-E", "-n", "-u", "{{username}}"]
        c.Spawner.cmd = [{str(probe)!r}]
        """,
        env={"CONFIGPROXY_AUTH_TOKEN": secret, "JUPYTERHUB_CRYPT_KEY": "ab" * 32},
    )
    home = Path(os.path.expanduser(f"~{user}"))
    (home / "moss-env-probe.txt").unlink(missing_ok=True)
    r = hub.api("POST", f"/users/{user}/server", json={"user_options": {"partition": "cpu"}})
    assert r.status_code in (201, 202), r.text
    hub.wait_ready(user, timeout=120)
    deadline = time.time() + 10
    while not (home / "moss-env-probe.txt").exists() and time.time() < deadline:
        time.sleep(0.2)
    seen = (home / "moss-env-probe.txt").read_text()
    names = {line.split("=", 1)[0] for line in seen.splitlines() if "=" in line}
    assert "JUPYTERHUB_API_TOKEN" in names  # the server's own variables do arrive
    assert secret not in seen
    assert "CONFIGPROXY_AUTH_TOKEN" not in names and "JUPYTERHUB_CRYPT_KEY" not in names
    assert f"HOME={home}" in seen.splitlines()
    warning = "keeps the hub's environment"
    assert warning in hub.log()


def test_a_port_outside_the_range_is_never_routed_to(hub_factory, shared_folder):
    """The job's comment is its owner's to write: a job that names a port outside
    server_port_range (here one of the hub's own) fails to start, and the hub
    never routes to it."""
    user = "moss10"
    liar = shared_folder / "liar"
    liar.write_text(
        "#!/bin/bash\n"
        "# Names the hub's own port as the server's, then waits.\n"
        'scontrol update JobId="$SLURM_JOB_ID" Comment="moss:port=$MOSS_HUB_PORT"\n'
        "sleep 120\n"
    )
    liar.chmod(0o755)
    hub = hub_factory(
        f"""
        c.Spawner.cmd = [{str(liar)!r}]
        c.MOSlurmSpawner.server_port_range = (40000, 40100)
        """
    )
    hub_port = hub.hub_port  # outside the range: free_port() gives no port below 1024
    assert not 40000 <= hub_port <= 40100
    hub.stop()
    hub.extra_config = (
        textwrap.dedent(hub.extra_config)
        + f'\nc.Spawner.environment = {{"MOSS_HUB_PORT": "{hub_port}"}}\n'
    )
    hub.start()
    r = hub.api("POST", f"/users/{user}/server", json={"user_options": {"partition": "cpu"}})
    if r.status_code == 202:
        failed = [e for e in hub.progress_events(user, timeout=90) if e.get("failed")]
        assert failed, "the spawn did not fail"
        message = failed[-1]["message"]
    else:
        assert r.status_code == 500, r.text
        message = r.json()["message"]
    assert f"reported port {hub_port}, which this hub does not route to" in message
    assert "ports 40000 to 40100" in message
    model = hub.server_model(user)
    assert model is None or not model["ready"]


def test_the_job_picks_its_port_within_the_range(hub_factory):
    user = "moss10"
    hub = hub_factory("c.MOSlurmSpawner.server_port_range = (45000, 45099)")
    r = hub.api("POST", f"/users/{user}/server", json={"user_options": {"partition": "cpu"}})
    assert r.status_code in (201, 202), r.text
    port = hub.wait_ready(user)["state"]["job_port"]
    assert 45000 <= port <= 45099
    client = hub.login(user)
    assert hub.server_status(client, user).status_code == 200
