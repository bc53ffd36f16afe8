"""The tests that need the local Slurm cluster: every test in this folder is marked
``cluster``, and is skipped where no cluster answers (tests/conftest.py)."""

from pathlib import Path

import pytest
from support.clitools import installed_sudo_rules
from support.site import SiteHub, site_slurm, site_up, site_workdir, sudoers_for

HERE = Path(__file__).parent


@pytest.hookimpl(tryfirst=True)  # before the root conftest looks for the marker
def pytest_collection_modifyitems(items):
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.cluster)


# -- the centre's layout (dev/site-up.sh) ---------------------------------------------


@pytest.fixture(scope="module")
def site():
    site_up()


@pytest.fixture
def site_hub(site, request):
    """A started hub on the layout's hub host, as moss-hub with the sudo rules its
    config needs, installed. The test's ``site_config`` marker may give extra config
    (HUB_PORT stands for the hub's port), ``hub_hosts`` and ``shared_home``."""
    marker = request.node.get_closest_marker("site_config")
    extra = marker.args[0] if marker and marker.args else ""
    kwargs = dict(marker.kwargs) if marker else {}
    with site_workdir(request.node.name[:40]) as folder:
        hub = SiteHub(folder, **kwargs)
        hub.extra_config = extra.replace("HUB_PORT", str(hub.hub_port))
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
