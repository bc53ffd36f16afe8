"""A real Slurm reservation: a user in it runs there, a user not in it is told why."""

import json
import re

import pytest
from support.hubtools import active_jobs, job_info, node4_reservation

pytestmark = pytest.mark.cluster

MEMBER, OUTSIDER = "moss07", "moss08"


@pytest.fixture
def reservation():
    """A reservation of node4 (partitions long and debug) for MEMBER alone."""
    with node4_reservation(MEMBER) as name:
        yield name


# The reservation fixture comes first, so that it is deleted after hub_factory has
# cancelled the test users' jobs.
def test_a_user_in_the_reservation_runs_in_it_on_its_node(reservation, hub_factory):
    hub = hub_factory()
    r = hub.api(
        "POST",
        f"/users/{MEMBER}/server",
        json={"user_options": {"partition": "long", "nprocs": 2, "reservation": reservation}},
    )
    assert r.status_code in (201, 202), r.text
    model = hub.wait_ready(MEMBER)
    info = job_info(model["state"]["job_id"])
    assert info["Reservation"] == reservation
    assert info["NodeList"] == "node4"  # long also has node1 and node2
    assert model["state"]["job_node"] == "node4"
    client = hub.login(MEMBER)
    assert hub.server_status(client, MEMBER).status_code == 200


def test_a_user_outside_the_reservation_is_refused_before_sbatch(reservation, hub_factory):
    hub = hub_factory()
    before = hub.metric("jupyterhub_moss_slurm_commands_total", command="sbatch")
    r = hub.api(
        "POST",
        f"/users/{OUTSIDER}/server",
        json={"user_options": {"partition": "long", "reservation": reservation}},
    )
    assert r.status_code == 400, r.text
    assert r.json()["message"] == (
        f"reservation: {reservation!r} is not a reservation you may use on partition 'long'; "
        "none is open to you now"
    )
    assert hub.server_model(OUTSIDER) is None
    assert active_jobs(OUTSIDER) == []
    # The same on the spawn form.
    client = hub.login(OUTSIDER)
    r = hub.spawn_form(client, {"partition": "long", "reservation": reservation})
    assert r.status_code == 400
    assert "is not a reservation you may use on partition" in r.text
    assert active_jobs(OUTSIDER) == []
    assert hub.metric("jupyterhub_moss_slurm_commands_total", command="sbatch") == before


def test_only_usable_reservations_are_offered(reservation, hub_factory):
    hub = hub_factory()
    for user, expected in ((MEMBER, [reservation]), (OUTSIDER, [])):
        client = hub.login(user)
        page = client.get(f"{hub.url}/hub/spawn")
        data = json.loads(re.search(r'id="moss-data">(.*?)</script>', page.text, re.S).group(1))
        offered = data["facts"]["reservations"]
        assert [r["name"] for r in offered.get("long", [])] == expected, user
        assert "cpu" not in offered  # node4 is in long and debug, not in cpu
