import os
import shutil
import subprocess

import pytest
from support.compat_sets import SETS
from support.hubtools import TEST_USERS, Hub, cancel_all


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


@pytest.fixture
def hub_factory(tmp_path, request):
    """Start hubs for a test; stop them, and cancel the test users' jobs, afterwards."""
    hubs = []

    def make(extra_config: str = "", **kwargs) -> Hub:
        hub = Hub(tmp_path / f"hub{len(hubs)}", extra_config, **kwargs)
        hubs.append(hub)
        return hub.start()

    yield make
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    for hub in hubs:
        hub.stop()
        if failed:
            print(f"---- log of {hub.workdir} ----\n{hub.log()[-20000:]}")
    cancel_all(TEST_USERS)


@pytest.fixture
def hub(hub_factory) -> Hub:
    return hub_factory()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
