"""The spawn metrics' bookkeeping: which outcome a start that raised is counted as."""

import asyncio

import pytest

from jupyterhub_moss.errors import user_error
from jupyterhub_moss.metrics import SPAWNS, counted_spawn, outcome_of


def spawns(partition: str, outcome: str) -> float:
    return SPAWNS.labels(partition, outcome)._value.get()


@pytest.mark.parametrize(
    "error, outcome",
    [
        (user_error("nprocs: 99 is out of range", reason="invalid_options"), "refused"),
        (
            user_error(
                "Job 1 ended before the server started", reason="job_ended", status_code=500
            ),
            "failed",
        ),
        (user_error("did not start within 60 s", reason="timeout", status_code=500), "timeout"),
        (asyncio.CancelledError(), "cancelled"),
        (RuntimeError("sbatch: error"), "failed"),
    ],
    ids=["refused", "job-ended", "timeout", "cancelled", "unexpected"],
)
def test_outcome_of_each_kind_of_failed_start(error, outcome):
    assert outcome_of(error) == outcome


def test_counted_spawn_counts_a_success_as_ready_under_its_partition():
    before = spawns("unit-a", "ready")
    with counted_spawn() as counted:
        counted.partition = "unit-a"
    assert spawns("unit-a", "ready") == before + 1


def test_counted_spawn_counts_an_early_refusal_without_the_users_partition_name():
    before_empty = spawns("", "refused")
    with pytest.raises(Exception, match="partition"), counted_spawn():
        raise user_error("partition: 'made-up' is not offered", reason="invalid_options")
    assert spawns("", "refused") == before_empty + 1
    assert spawns("made-up", "refused") == 0


def test_counted_spawn_counts_a_cancelled_start_and_lets_the_cancellation_through():
    before = spawns("unit-b", "cancelled")
    with pytest.raises(asyncio.CancelledError), counted_spawn() as counted:
        counted.partition = "unit-b"
        raise asyncio.CancelledError
    assert spawns("unit-b", "cancelled") == before + 1
