"""Slurm's pending reasons in plain words on the pending page."""

from datetime import datetime

import pytest

from jupyterhub_moss.slurm.reasons import describe_pending, describe_reason


@pytest.mark.parametrize(
    ("reason", "words"),
    [
        ("QOSMaxWallDurationPerJobLimit", "longer than your QOS allows: this job will never start"),
        ("AssocMaxWallDurationPerJobLimit", "longer than your account allows"),
        ("QOSMaxJobsPerUser", "your limit of running jobs"),
        ("Resources", "waiting for free resources"),
    ],
)
def test_reasons_that_never_clear_say_so_in_plain_words(reason, words):
    assert words in describe_reason(reason)


def test_an_unknown_reason_is_shown_as_slurm_gives_it():
    assert describe_reason("SomethingNew") == "waiting (SomethingNew)"


def test_pending_line_names_the_reason_and_the_expected_start():
    text = describe_pending("Priority", datetime(2026, 12, 3, 14, 5))
    assert text == (
        "Pending: waiting behind higher-priority jobs (Priority), "
        "expected to start at 2026-12-03 14:05"
    )


def test_before_the_scheduler_has_an_estimate_the_one_before_submission_is_shown():
    before = datetime(2026, 12, 3, 14, 5)
    text = describe_pending("Resources", None, before)
    assert text == (
        "Pending: waiting for free resources (Resources), "
        "expected to start around 2026-12-03 14:05 (Slurm's estimate)"
    )
    # The scheduler's own estimate wins once it has one.
    assert "Slurm's estimate" not in describe_pending("Resources", before, before)
