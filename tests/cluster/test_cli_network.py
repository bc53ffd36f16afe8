"""``jupyterhub-moss check --network --as USER`` on the real cluster: one short job
tests both directions between a server's node and the hub, says which one fails
and what to look at, and is cancelled."""

import pytest
from support.clitools import check_json, codes
from support.hubtools import active_jobs

pytestmark = pytest.mark.cluster

USER = "moss09"


def network_check(hub, extra: str = ""):
    config = hub.workdir / "jupyterhub_config.py"
    if extra:
        config = hub.workdir / "network_config.py"
        config.write_text((hub.workdir / "jupyterhub_config.py").read_text() + extra)
    return check_json(config, "--network", "--as", USER)


def test_with_everything_open_both_directions_are_reported_working(hub):
    status, document = network_check(hub)
    found = codes(document)
    assert status == 0, document
    assert {code for code, _ in found} == {"node-reaches-hub", "hub-reaches-node"}, found
    assert active_jobs(USER) == []  # the check's job is cancelled


def test_each_direction_that_fails_is_named_with_what_to_look_at(hub):
    # Nothing of the hub listens at 127.0.0.9; 192.0.2.1 is an address for examples.
    status, document = network_check(
        hub,
        '\nc.JupyterHub.hub_connect_ip = "127.0.0.9"\n'
        'c.MOSlurmSpawner.node_address = "192.0.2.1"\n',
    )
    assert status == 1
    errors = {f["code"]: f["message"] for f in document["findings"] if f["severity"] == "error"}
    assert set(errors) == {"node-cannot-reach-hub", "hub-cannot-reach-node"}, document
    assert "hub_connect_ip" in errors["node-cannot-reach-hub"]
    assert "127.0.0.9" in errors["node-cannot-reach-hub"]
    assert "node_address" in errors["hub-cannot-reach-node"]
    assert "192.0.2.1" in errors["hub-cannot-reach-node"]
    assert active_jobs(USER) == []
