"""A real Slurm reservation: a user in it runs there, a user not in it is told why."""

import secrets
import subprocess
import time

import pytest
from hubtools import active_jobs, job_info, slurm

pytestmark = pytest.mark.cluster

MEMBER, OUTSIDER = "moss07", "moss08"


@pytest.fixture
def reservation():
    """A reservation of node4 (partitions long and debug) for MEMBER alone, from now
    on for 10 minutes; deleted afterwards."""
    name = f"moss-test-{secrets.token_hex(3)}"
    slurm(
        "scontrol", "create", "reservation", f"ReservationName={name}", f"Users={MEMBER}",
        "Nodes=node4", "StartTime=now", "Duration=10",
        # Created even if a job already runs on node4.
        "Flags=IGNORE_JOBS",
    )  # fmt: skip
    try:
        yield name
    finally:
        # A job that is still ending keeps the reservation busy for a moment.
        deadline = time.time() + 30
        while True:
            done = subprocess.run(
                ["scontrol", "delete", f"ReservationName={name}"], capture_output=True, text=True
            )
            if done.returncode == 0 or time.time() > deadline:
                break
            slurm("scancel", "-u", MEMBER, check=False)
            time.sleep(1)
        assert done.returncode == 0, done.stderr


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


def test_a_user_outside_the_reservation_is_told_slurms_refusal(reservation, hub_factory):
    hub = hub_factory()
    r = hub.api(
        "POST",
        f"/users/{OUTSIDER}/server",
        json={"user_options": {"partition": "long", "reservation": reservation}},
    )
    assert r.status_code == 400, r.text
    assert r.json()["message"] == (
        "Slurm refused the job: Batch job submission failed: Access denied to requested reservation"
    )
    assert hub.server_model(OUTSIDER) is None
    assert active_jobs(OUTSIDER) == []
    # The same on the spawn form.
    client = hub.login(OUTSIDER)
    r = hub.spawn_form(client, {"partition": "long", "reservation": reservation})
    assert r.status_code == 400
    assert "Access denied to requested reservation" in r.text
    assert active_jobs(OUTSIDER) == []
