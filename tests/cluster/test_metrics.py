"""/hub/metrics on a real hub: spawns by partition and outcome, the two spawn-time
histograms and the watcher's polls, as a real server starts on the local cluster."""

import pytest
from support.hubtools import SERVICE_TOKEN

pytestmark = pytest.mark.cluster


def test_a_real_spawn_is_counted_with_its_queue_and_start_times(hub):
    user = "moss05"
    ready = hub.metric("jupyterhub_moss_spawns_total", partition="cpu", outcome="ready")
    queued = hub.metric("jupyterhub_moss_submit_to_running_seconds_count", partition="cpu")
    started = hub.metric("jupyterhub_moss_running_to_ready_seconds_count", partition="cpu")
    polls = hub.metric("jupyterhub_moss_watcher_poll_duration_seconds_count")
    r = hub.api(
        "POST",
        f"/users/{user}/server",
        json={"user_options": {"partition": "cpu", "nprocs": 1, "runtime": "00:10:00"}},
    )
    assert r.status_code in (201, 202), r.text
    hub.wait_ready(user)
    assert hub.metric("jupyterhub_moss_spawns_total", partition="cpu", outcome="ready") == ready + 1
    assert (
        hub.metric("jupyterhub_moss_submit_to_running_seconds_count", partition="cpu") == queued + 1
    )
    assert (
        hub.metric("jupyterhub_moss_running_to_ready_seconds_count", partition="cpu") == started + 1
    )
    # The wait for the server took at least one watcher poll, of at least one job.
    assert hub.metric("jupyterhub_moss_watcher_poll_duration_seconds_count") > polls
    assert hub.metric("jupyterhub_moss_watcher_poll_jobs_sum") >= 1
    # The time from RUNNING to the server listening was spent, and counted in seconds.
    assert hub.metric("jupyterhub_moss_running_to_ready_seconds_sum", partition="cpu") > 0
    r = hub.api("DELETE", f"/users/{user}/server")
    assert r.status_code in (202, 204), r.text
    hub.wait_stopped(user)


def test_a_refused_spawn_is_counted_without_the_made_up_partition(hub):
    refused = hub.metric("jupyterhub_moss_spawns_total", partition="", outcome="refused")
    r = hub.api(
        "POST",
        "/users/moss06/server",
        json={"user_options": {"partition": "no-such-partition", "nprocs": 1}},
    )
    assert r.status_code == 400, r.text
    assert (
        hub.metric("jupyterhub_moss_spawns_total", partition="", outcome="refused") == refused + 1
    )
    metrics = hub.request_with(SERVICE_TOKEN, "GET", "/hub/metrics")
    assert metrics.status_code == 200
    assert "jupyterhub_moss_spawns_total" in metrics.text
    assert "no-such-partition" not in metrics.text
