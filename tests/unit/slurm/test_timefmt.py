import pytest

from jupyterhub_moss.slurm.timefmt import (
    UNLIMITED,
    describe_duration,
    format_duration,
    parse_duration,
)


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("90", 90 * 60),  # a bare number is minutes
        ("0", 0),
        ("5:30", 5 * 60 + 30),  # M:S
        ("1:00:00", 3600),  # H:M:S
        ("12:30:15", 12 * 3600 + 30 * 60 + 15),
        ("2-0", 2 * 86400),  # D-H
        ("1-12", 86400 + 12 * 3600),
        ("1-2:30", 86400 + 2 * 3600 + 30 * 60),  # D-H:M
        ("1-02:03:04", 86400 + 2 * 3600 + 3 * 60 + 4),  # D-H:M:S
        (" 45 ", 45 * 60),
        ("UNLIMITED", UNLIMITED),
        ("infinite", UNLIMITED),
    ],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text",
    [
        "",
        "abc",
        "1h",
        "1:2:3:4",
        "-5",
        "1-",
        "1-2-3",
        "1:60",
        "1:00:60",
        "1-24",
        "1.5",
        "１０",
        "1e3",
    ],
)
def test_parse_duration_refuses(text):
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(
    "seconds, text",
    [
        (60, "00:01:00"),
        (3600, "01:00:00"),
        (86399, "23:59:59"),
        (86400, "1-00:00:00"),
        (2 * 86400 + 3661, "2-01:01:01"),
        (UNLIMITED, "UNLIMITED"),
    ],
)
def test_format_duration_round_trips(seconds, text):
    assert format_duration(seconds) == text
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "seconds, words",
    [(1800, "30 min"), (3600, "1 h"), (5400, "1 h 30 min"), (2 * 86400, "2 days"), (0, "0 min")],
)
def test_describe_duration(seconds, words):
    assert describe_duration(seconds) == words
