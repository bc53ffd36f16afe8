import os
import pwd
import shutil
import subprocess
from pathlib import Path

import pytest
from support import REPO
from support.compat_sets import SETS
from support.hubtools import TEST_USERS, Hub, cancel_all, remove_hub_rules


def _cluster_up() -> bool:
    if shutil.which("sinfo") is None:
        return False
    try:
        subprocess.run(["sinfo", "-h"], check=True, capture_output=True, timeout=15)
    except (subprocess.SubprocessError, OSError):
        return False
    return True


def _mark_compat_sets(config, items) -> None:
    """Put the compatibility sets' markers (tests/compat_sets.py) on their tests; a
    run that selects a set fails if one of its entries names no test any more."""
    selected = config.getoption("markexpr") or ""
    for marker, entries in SETS.items():
        unmatched = []
        for node_id in entries:
            matching = [
                item
                for item in items
                if item.nodeid == node_id or ("[" in node_id and item.nodeid.startswith(node_id))
            ]
            for item in matching:
                item.add_marker(marker)
            if not matching:
                unmatched.append(node_id)
        if unmatched and marker in selected:
            raise pytest.UsageError(
                f"tests/compat_sets.py lists tests that do not exist: {', '.join(unmatched)}"
            )


@pytest.hookimpl(tryfirst=True)  # before -m deselects by the markers added here
def pytest_collection_modifyitems(config, items):
    _mark_compat_sets(config, items)
    # Tests marked run_last look at what all the others left behind.
    items.sort(key=lambda item: item.get_closest_marker("run_last") is not None)
    if any("cluster" in item.keywords for item in items) and not _cluster_up():
        if os.environ.get("MOSS_REQUIRE_CLUSTER") == "1":
            raise pytest.UsageError(
                "the local Slurm cluster is not answering; dev/test.sh brings it up"
            )
        skip = pytest.mark.skip(reason="no local Slurm cluster (run dev/cluster-up.sh)")
        for item in items:
            if "cluster" in item.keywords:
                item.add_marker(skip)


#: MOSS_TEST_HUB_ACCOUNT=moss-hub: the hubs of hub_factory run as that ordinary
#: account, with the sudo rules their configs need (tests marked root_hub excepted).
HUB_ACCOUNT = os.environ.get("MOSS_TEST_HUB_ACCOUNT") or None


@pytest.fixture(scope="session")
def hub_account():
    """The account hub_factory's hubs run as (None: root), made if missing; the
    sudo rules installed for them are removed at the session's end."""
    if HUB_ACCOUNT is None:
        yield None
        return
    subprocess.run(
        ["bash", str(REPO / "dev" / "site-up.sh"), "--accounts"], check=True, capture_output=True
    )
    try:
        yield HUB_ACCOUNT
    finally:
        remove_hub_rules()


@pytest.fixture
def hub_factory(tmp_path, request, hub_account):
    """Start hubs for a test; stop them, and cancel the test users' jobs, afterwards."""
    hubs = []
    account = None if request.node.get_closest_marker("root_hub") else hub_account
    base = tmp_path
    if account is not None:  # a folder the account reaches (pytest's are root's alone)
        base = Path(pwd.getpwnam(account).pw_dir) / "tests" / tmp_path.name

    def make(extra_config: str = "", **kwargs) -> Hub:
        kwargs.setdefault("account", account)
        hub = Hub(base / f"hub{len(hubs)}", extra_config, **kwargs)
        hubs.append(hub)
        return hub.start()

    yield make
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    for hub in hubs:
        hub.stop()
        if failed:
            print(f"---- log of {hub.workdir} ----\n{hub.log()[-20000:]}")
    cancel_all(TEST_USERS)
    if base != tmp_path:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def hub(hub_factory) -> Hub:
    return hub_factory()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
