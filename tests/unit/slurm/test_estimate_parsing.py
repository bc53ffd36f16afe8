"""sbatch --test-only: its answers parsed, worded for the page, and the per-user
token bucket that bounds how often it is asked."""

from datetime import datetime, timedelta, timezone

import pytest

from jupyterhub_moss.slurm.testonly import (
    Estimate,
    TokenBucket,
    describe_estimate,
    describe_refusal,
    parse_test_only,
    test_only_argv,
)

NOW = datetime(2026, 11, 26, 13, 40).astimezone()
OK_LATER = (
    "sbatch: Job 1234 to start at 2026-11-26T14:05:00 using 2 processors on nodes node1 "
    "in partition cpu\n"
)
OK_NOW = (
    "sbatch: Job 1235 to start at 2026-11-26T13:40:20 using 4 processors on nodes node[1-2] "
    "in partition debug\n"
)


def test_argv_takes_the_script_on_stdin():
    assert test_only_argv() == ["sbatch", "--test-only"]
    assert test_only_argv("/usr/bin/sbatch") == ["/usr/bin/sbatch", "--test-only"]


def test_success_in_the_future_is_later_with_its_start_nodes_and_partition():
    estimate = parse_test_only(0, OK_LATER, now=NOW)
    assert estimate.state == "later"
    assert estimate.start == datetime(2026, 11, 26, 14, 5).astimezone()
    assert estimate.start.tzinfo is not None
    assert (estimate.nodes, estimate.partition, estimate.processors) == ("node1", "cpu", 2)
    assert estimate.reason is None


def test_success_within_a_minute_is_now():
    estimate = parse_test_only(0, OK_NOW, now=NOW)
    assert estimate.state == "now"
    assert estimate.nodes == "node[1-2]"
    assert estimate.partition == "debug"


def test_a_start_in_the_past_is_now():
    assert parse_test_only(0, OK_LATER, now=NOW + timedelta(hours=1)).state == "now"


def test_warnings_before_the_estimate_are_ignored():
    stderr = "sbatch: warning: can't honor --ntasks-per-node set to 1\n" + OK_LATER
    assert parse_test_only(0, stderr, now=NOW).state == "later"


def test_allocation_failure_is_never_with_slurms_reason():
    stderr = "sbatch: error: allocation failure: Requested node configuration is not available\n"
    estimate = parse_test_only(1, stderr, now=NOW)
    assert estimate == Estimate("never", reason="Requested node configuration is not available")


def test_the_last_error_line_counts():
    stderr = (
        "sbatch: error: QOSMaxSubmitJobPerUserLimit\n"
        "sbatch: error: Batch job submission failed: "
        "Invalid account or account/partition combination specified\n"
    )
    estimate = parse_test_only(1, stderr, now=NOW)
    assert estimate.state == "never"
    assert estimate.reason == "Invalid account or account/partition combination specified"


def test_a_refusal_without_an_error_prefix_is_never():
    # sbatch --test-only prints its refusal as "allocation failure: ..." alone.
    stderr = "allocation failure: Invalid account or account/partition combination specified\n"
    estimate = parse_test_only(1, stderr, now=NOW)
    assert estimate == Estimate(
        "never", reason="Invalid account or account/partition combination specified"
    )
    assert describe_estimate(estimate, NOW) == (
        "cannot start: this account cannot be used on this partition"
    )


def test_a_qos_wall_limit_named_before_the_policy_refusal_is_said_in_plain_words():
    stderr = (
        "sbatch: error: QOSMaxWallDurationPerJobLimit\n"
        "allocation failure: Job violates accounting/QOS policy "
        "(job submit limit, user's size and/or time limits)\n"
    )
    estimate = parse_test_only(1, stderr, now=NOW)
    assert estimate.state == "never"
    assert estimate.reason.startswith("Job violates accounting/QOS policy")
    assert estimate.code == "QOSMaxWallDurationPerJobLimit"
    assert describe_estimate(estimate, NOW) == (
        "cannot start: the run time is longer than your QOS allows"
    )
    # Slurm's code alone says as much.
    assert describe_refusal("QOSMaxWallDurationPerJobLimit") == (
        "the run time is longer than your QOS allows"
    )


def test_a_limit_name_before_another_refusal_does_not_count():
    stderr = (
        "sbatch: error: QOSMaxWallDurationPerJobLimit\n"
        "allocation failure: Invalid qos specification\n"
    )
    estimate = parse_test_only(1, stderr, now=NOW)
    assert (estimate.state, estimate.code) == ("never", None)
    assert describe_estimate(estimate, NOW) == (
        "cannot start: this QOS cannot be used with this account"
    )


def test_an_unreachable_controller_is_unknown_not_never():
    stderr = (
        "sbatch: error: allocation failure: Unable to contact slurm controller (connect failure)\n"
    )
    assert parse_test_only(1, stderr, now=NOW).state == "unknown"


def test_sudo_refusing_is_unknown():
    stderr = "sudo: a password is required\n"
    estimate = parse_test_only(1, stderr, now=NOW)
    assert estimate.state == "unknown"
    assert estimate.reason == "sudo: a password is required"


def test_other_sbatch_errors_are_unknown():
    estimate = parse_test_only(1, "sbatch: error: Invalid --time specification\n", now=NOW)
    assert estimate == Estimate("unknown", reason="Invalid --time specification")


def test_a_failure_without_words_is_unknown_with_the_status():
    assert parse_test_only(1, "", now=NOW) == Estimate(
        "unknown", reason="sbatch exited with status 1"
    )
    assert parse_test_only(None, "", now=NOW).state == "unknown"


def test_success_without_an_estimate_line_is_unknown():
    assert parse_test_only(0, "sbatch: something else\n", now=NOW).state == "unknown"


def test_a_relative_time_format_is_unknown_and_keeps_slurms_text():
    stderr = (
        "sbatch: Job 1234 to start at Tomorr 13:23 using 2 processors on nodes node1 "
        "in partition cpu\n"
    )
    estimate = parse_test_only(0, stderr, now=NOW)
    assert estimate.state == "unknown"
    assert estimate.start is None
    assert "Tomorr 13:23" in estimate.reason
    assert estimate.partition == "cpu"


def test_an_estimate_line_without_processors_or_nodes_still_gives_the_start():
    stderr = "sbatch: Job 77 to start at 2026-11-26T15:00:00\n"
    estimate = parse_test_only(0, stderr, now=NOW)
    assert (estimate.state, estimate.nodes, estimate.partition) == ("later", None, None)
    assert estimate.start == datetime(2026, 11, 26, 15, 0).astimezone()


def test_the_reason_kept_is_bounded_and_without_control_characters():
    stderr = "sbatch: error: allocation failure: " + "x\x1b[31m" * 300 + "\n"
    reason = parse_test_only(1, stderr, now=NOW).reason
    assert len(reason) <= 200
    assert "\x1b" not in reason


# -- words -----------------------------------------------------------------------------


def test_describe_starts_now_within_a_minute():
    estimate = Estimate("now", start=NOW + timedelta(seconds=59))
    assert describe_estimate(estimate, NOW) == "starts now"
    assert describe_estimate(Estimate("later", start=NOW - timedelta(minutes=5)), NOW) == (
        "starts now"
    )


def test_describe_a_later_start_today():
    estimate = parse_test_only(0, OK_LATER, now=NOW)
    assert describe_estimate(estimate, NOW) == "expected around 14:05 (in 25 min)"


def test_describe_a_start_in_hours():
    estimate = Estimate("later", start=NOW + timedelta(hours=1, minutes=30))
    assert describe_estimate(estimate, NOW) == "expected around 15:10 (in 1 h 30 min)"


def test_describe_gives_the_date_when_not_today():
    estimate = Estimate("later", start=datetime(2026, 11, 27, 9, 0).astimezone())
    assert describe_estimate(estimate, NOW) == "expected around 2026-11-27 09:00 (in 19 h 20 min)"


def test_describe_a_naive_now_as_local_time():
    estimate = parse_test_only(0, OK_LATER, now=NOW)
    assert describe_estimate(estimate, NOW.replace(tzinfo=None)) == (
        "expected around 14:05 (in 25 min)"
    )


def test_describe_in_local_time_whatever_the_time_zone_of_now():
    estimate = parse_test_only(0, OK_LATER, now=NOW)
    assert describe_estimate(estimate, NOW.astimezone(timezone.utc)) == (
        "expected around 14:05 (in 25 min)"
    )


def test_describe_a_refusal_in_plain_words():
    estimate = parse_test_only(
        1,
        "sbatch: error: allocation failure: Job violates accounting/QOS policy "
        "(job submit limit, user's size and/or time limits)\n",
        now=NOW,
    )
    assert describe_estimate(estimate, NOW) == (
        "cannot start: your account or QOS does not allow this request"
    )


def test_describe_unknown_is_empty():
    assert describe_estimate(Estimate("unknown", reason="sudo: no"), NOW) == ""


@pytest.mark.parametrize(
    "slurm, words",
    [
        (
            "Requested node configuration is not available",
            "no node of this partition has that many cores, that much memory or those GPUs",
        ),
        (
            "Job violates accounting/QOS policy (job submit limit, user's size and/or time limits)",
            "your account or QOS does not allow this request",
        ),
        (
            "Invalid account or account/partition combination specified",
            "this account cannot be used on this partition",
        ),
        ("Invalid qos specification", "this QOS cannot be used with this account"),
        ("Access denied to requested reservation", "you may not use this reservation"),
        ("Invalid partition name specified", "Invalid partition name specified"),
    ],
)
def test_describe_refusal(slurm, words):
    assert describe_refusal(slurm) == words


def test_describe_refusal_bounds_and_cleans_slurms_own_words():
    words = describe_refusal("bad\x00 thing\nhappened\u202e " + "y" * 500)
    assert words.startswith("bad thing happened")
    assert len(words) == 200
    assert not any(ord(c) < 32 or c == "\u202e" for c in words)


# -- token bucket ----------------------------------------------------------------------


def test_token_bucket_allows_four_then_asks_to_wait():
    bucket = TokenBucket(capacity=4, refill_seconds=3.0)
    assert [bucket.take("moss01", 100.0) for _ in range(4)] == [0, 0, 0, 0]
    assert bucket.take("moss01", 100.0) == pytest.approx(3.0)
    assert bucket.take("moss01", 101.5) == pytest.approx(1.5)


def test_token_bucket_refills_one_per_period():
    bucket = TokenBucket(capacity=4, refill_seconds=3.0)
    for _ in range(4):
        bucket.take("moss01", 0.0)
    assert bucket.take("moss01", 3.0) == 0
    assert bucket.take("moss01", 3.0) > 0
    # Refilled, but never above its capacity.
    assert [bucket.take("moss01", 1000.0) for _ in range(5)][-1] > 0


def test_token_bucket_keys_are_separate():
    bucket = TokenBucket(capacity=1, refill_seconds=3.0)
    assert bucket.take("moss01", 0.0) == 0
    assert bucket.take("moss01", 0.0) > 0
    assert bucket.take("moss02", 0.0) == 0


def test_token_bucket_remembers_a_bounded_number_of_keys():
    bucket = TokenBucket(capacity=2, refill_seconds=1.0, max_keys=10)
    for i in range(100):
        bucket.take(f"user{i}", float(i) / 100)
    assert len(bucket) <= 10
    # The most recent user is still limited after the pruning.
    bucket.take("user99", 1.0)
    assert bucket.take("user99", 1.0) > 0


def test_token_bucket_tolerates_a_clock_going_back():
    bucket = TokenBucket(capacity=1, refill_seconds=3.0)
    assert bucket.take("k", 10.0) == 0
    assert bucket.take("k", 5.0) == pytest.approx(3.0)
