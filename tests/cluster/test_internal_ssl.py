"""JupyterHub's ``internal_ssl`` with servers on compute nodes, on the real cluster:
the job gets its key and certificate readable by the user alone, its checks speak
TLS, and the hub and the proxy reach the server over verified TLS."""

import os
import pwd
import stat
import subprocess
import time
from pathlib import Path

import pytest
from support.hubtools import job_output

pytestmark = pytest.mark.cluster


def server_environment(user: str) -> dict[str, str]:
    """The environment of ``user``'s running Jupyter server process."""
    found = subprocess.run(
        ["pgrep", "-u", user, "-f", "jupyterhub-singleuser"], capture_output=True, text=True
    ).stdout.split()
    assert found, f"no server process of {user}"
    raw = Path(f"/proc/{found[0]}/environ").read_bytes()
    pairs = (item.partition(b"=") for item in raw.split(b"\0") if item)
    return {k.decode(): v.decode(errors="replace") for k, _, v in pairs}


def test_with_internal_ssl_the_server_starts_over_tls_with_files_only_its_user_reads(
    hub_factory,
):
    user = "moss13"
    hub = hub_factory(internal_ssl=True)
    r = hub.api("POST", f"/users/{user}/server", json={"user_options": {"partition": "cpu"}})
    assert r.status_code in (201, 202), r.text
    model = hub.wait_ready(user, timeout=120)
    job_id = model["state"]["job_id"]

    # The proxy sends the user's requests to the server over TLS, and gets answers.
    route = hub.proxy_routes()[f"/user/{user}"]
    assert route["target"].startswith("https://"), route
    client = hub.login(user)
    try:
        answer = client.get(f"{hub.url}/user/{user}/api")
    finally:
        client.close()
    assert answer.status_code == 200, answer.text[:300]
    assert answer.json()["version"]
    # A restarted hub finds the server again, and still reaches it over TLS.
    hub.restart()
    assert hub.wait_ready(user, timeout=60)["state"]["job_id"] == job_id
    client = hub.login(user)
    try:
        assert client.get(f"{hub.url}/user/{user}/api").status_code == 200
    finally:
        client.close()

    # The server's files are the job's own, readable by the user alone.
    env = server_environment(user)
    uid = pwd.getpwnam(user).pw_uid
    paths = [env[f"JUPYTERHUB_SSL_{name}"] for name in ("KEYFILE", "CERTFILE", "CLIENT_CA")]
    folder = Path(paths[0]).parent
    assert not str(folder).startswith(str(hub.workdir))
    for path in [folder, *map(Path, paths)]:
        info = path.stat()
        assert info.st_uid == uid, path
        assert stat.S_IMODE(info.st_mode) & 0o077 == 0, (path, oct(info.st_mode))
    assert env["JUPYTERHUB_SERVICE_URL"].startswith("https://")

    # The job checked its server over TLS and told the hub over TLS.
    output = job_output(job_id, until="the hub was told")
    assert "the hub was told" in output, output[-2000:]

    r = hub.api("DELETE", f"/users/{user}/server")
    assert r.status_code in (202, 204), r.text
    hub.wait_stopped(user)
    # Once the job has ended, its copy of the key is gone.
    deadline = time.time() + 30
    while os.path.exists(paths[0]) and time.time() < deadline:
        time.sleep(0.2)
    assert not os.path.exists(paths[0])


def test_the_certificate_of_a_server_names_the_nodes_of_its_partition(hub_factory):
    """The hub addresses the server by its node's name (``node_address``), and
    checks that name against the certificate."""
    user = "moss14"
    hub = hub_factory('c.MOSlurmSpawner.node_address = "{node}"\n', internal_ssl=True)
    r = hub.api("POST", f"/users/{user}/server", json={"user_options": {"partition": "long"}})
    assert r.status_code in (201, 202), r.text
    hub.wait_ready(user, timeout=120)
    certfile = server_environment(user)["JUPYTERHUB_SSL_CERTFILE"]
    text = subprocess.run(
        ["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", certfile],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for node in ("node1", "node2", "node4"):  # the nodes of long
        assert f"DNS:{node}" in text, text
    assert "DNS:node3" not in text, text
