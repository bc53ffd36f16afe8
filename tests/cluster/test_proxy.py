"""The proxy in front of servers on compute nodes, on the real cluster: an external
proxy keeps serving running servers while the hub restarts, and a proxy that dies
under a live hub gets its routes back."""

import os
import signal
import subprocess
import time

import httpx
import pytest
from support.hubtools import DEV_ROOT, TEST_USERS, Hub, cancel_all

pytestmark = pytest.mark.cluster


def start_server(hub: Hub, user: str) -> dict:
    r = hub.api("POST", f"/users/{user}/server", json={"user_options": {"partition": "cpu"}})
    assert r.status_code in (201, 202), r.text
    return hub.wait_ready(user, timeout=120)


def answers(hub: Hub, user: str) -> bool:
    """Whether the user's server answers through the proxy (its /api needs no login)."""
    try:
        r = httpx.get(f"{hub.url}/user/{user}/api", timeout=10)
    except httpx.HTTPError:
        return False
    return r.status_code == 200 and "version" in r.text


def eventually(check, timeout: float) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():
            return True
        time.sleep(0.5)
    return False


def test_an_external_proxy_keeps_serving_running_servers_while_the_hub_restarts(tmp_path):
    user = "moss10"
    hub = Hub(
        tmp_path / "hub",
        "c.ConfigurableHTTPProxy.should_start = False\n",
    )
    proxy = subprocess.Popen(
        [
            str(DEV_ROOT / "node" / "node_modules" / ".bin" / "configurable-http-proxy"),
            "--ip=127.0.0.1",
            f"--port={hub.port}",
            "--api-ip=127.0.0.1",
            f"--api-port={hub.api_port}",
            f"--default-target=http://127.0.0.1:{hub.hub_port}",
            f"--error-target=http://127.0.0.1:{hub.hub_port}/hub/error",
        ],
        env={**os.environ, "CONFIGPROXY_AUTH_TOKEN": hub.proxy_auth_token},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        hub.start()
        model = start_server(hub, user)
        assert answers(hub, user)
        hub.stop()
        # No hub: the proxy alone still takes the user to the server on its node.
        assert answers(hub, user)
        hub.start()
        again = hub.wait_ready(user, timeout=60)
        assert again["state"]["job_id"] == model["state"]["job_id"]
        assert answers(hub, user)
    finally:
        hub.stop()
        os.killpg(proxy.pid, signal.SIGTERM)
        proxy.wait(10)
        cancel_all(TEST_USERS)


def test_a_proxy_that_dies_under_a_live_hub_gets_its_routes_back(hub):
    user = "moss11"
    start_server(hub, user)
    assert answers(hub, user)
    pid = int((hub.workdir / "proxy.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    assert not answers(hub, user)
    # JupyterHub starts it again and gives it the routes the spawner's state holds.
    assert eventually(lambda: answers(hub, user), 60)
    assert f"/user/{user}" in hub.proxy_routes()
