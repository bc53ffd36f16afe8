"""The hub's event loop while system look-ups are slow, as at a site whose LDAP
server or NFS mount is: a hub with a preloaded library that makes each passwd and
group look-up of the test users, and each stat of their jobs' output files, take
1.5 s. Pages, a start, the job's output and a stop go through; JupyterHub's own
measure of its loop (``jupyterhub_event_loop_interval_seconds``) shows no stall."""

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from support import DATA

pytestmark = pytest.mark.cluster

SHIM = DATA / "slow_lookups.c"
SLOW = 1.5


@pytest.fixture(scope="module")
def slow_lookups(tmp_path_factory):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler here to build the slow look-ups")
    # Where a hub that runs as an ordinary account can load it from.
    folder = Path(tempfile.mkdtemp(prefix="moss-shim-"))
    folder.chmod(0o755)
    library = folder / "slow_lookups.so"
    subprocess.run(
        [cc, "-shared", "-fPIC", "-O2", "-o", str(library), str(SHIM), "-ldl"], check=True
    )
    yield library
    shutil.rmtree(folder, ignore_errors=True)


def stalls(hub) -> float:
    """How many of the loop's measured intervals were over a second (both numbers
    from one scrape of the metrics)."""
    name = "jupyterhub_event_loop_interval_seconds"
    samples = hub.metric_samples()
    return samples[(f"{name}_count", ())] - samples[(f"{name}_bucket", (("le", "1.0"),))]


def test_slow_system_lookups_never_stall_the_hubs_event_loop(hub_factory, slow_lookups):
    hub = hub_factory(env={"LD_PRELOAD": str(slow_lookups), "MOSS_SLOW_SECONDS": str(SLOW)})
    user = "moss05"
    before = stalls(hub)
    client = hub.login(user)
    # The first page looks the account up: it waits for the slow look-ups (so the
    # library took effect); the next ones use the hub's cache.
    began = time.monotonic()
    assert client.get("/hub/spawn").status_code == 200
    assert time.monotonic() - began >= SLOW
    for _ in range(2):
        assert client.get("/hub/spawn").status_code == 200
    r = hub.api("POST", f"/users/{user}/server", json={"user_options": {"partition": "cpu"}})
    assert r.status_code in (201, 202), r.text
    hub.wait_ready(user)
    body = client.get(f"/hub/api/moss/log/{user}", headers=hub.xsrf(client))
    assert body.status_code == 200, body.text
    assert body.json()["found"]  # read after a slow stat of its path
    assert client.get("/hub/api/moss/servers", headers=hub.xsrf(client)).status_code == 200
    hub.api("DELETE", f"/users/{user}/server")
    hub.wait_stopped(user)
    # The loop went on meanwhile.
    assert stalls(hub) == before, hub.log()[-3000:]
