"""Free-form sbatch options (``allowed_sbatch_options``): which names an admin may leave
to users, and the admin's value patterns, matched in linear time."""

import json
import re
import subprocess
import sys
import textwrap

import pytest
from support import TESTS
from support.partitions import VIEWS
from traitlets import TraitError

from jupyterhub_moss import MOSlurmSpawner
from jupyterhub_moss.choices.options import validate_options
from jupyterhub_moss.errors import OptionError
from jupyterhub_moss.site.sbatch_options import (
    RESERVED_SBATCH_OPTIONS,
    SbatchOptionError,
    check_allowed_options,
    reserved_for,
    value_allowed,
)

# Patterns that take a backtracking engine exponential time on a value that almost
# matches: "a" repeated, then one character that does not fit.
BACKTRACKING = [r"(a+)+", r"((a+))+", r"(a|a)+", r"(a|aa)+", r"(a*)*", r"([a-z]+[0-9]*)+"]


def in_child(code: str, timeout: float = 30) -> dict:
    """Run ``code`` in a Python of its own and return the JSON it prints last.

    A match that backtracks never ends (and holds the interpreter while it runs): in a
    child process it can be stopped, and the test fails instead of hanging.
    """
    try:
        result = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=TESTS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"not done after {timeout:g} s: the pattern was matched by backtracking")
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])


@pytest.mark.parametrize("pattern", BACKTRACKING)
def test_backtracking_patterns_are_checked_quickly_on_every_request(pattern):
    # The longest value a user can send: 64 characters, of which the last does not fit
    # (about 2**63 steps for a backtracking engine), and one that fits.
    out = in_child(
        f"""
        import json, time
        from support.partitions import VIEWS
        from jupyterhub_moss import MOSlurmSpawner
        from jupyterhub_moss.choices.options import validate_options
        from jupyterhub_moss.errors import OptionError

        spawner = MOSlurmSpawner(allowed_sbatch_options={{"--qos": {pattern!r}}})
        answers = []
        started = time.monotonic()
        for value in ["a" * 63 + "-", "a" * 64]:
            try:
                validate_options(
                    {{"options": "--qos=" + value}},
                    VIEWS,
                    sbatch_options=spawner.allowed_sbatch_options,
                )
                answers.append(True)
            except OptionError as e:
                answers.append(str(e))
        print(json.dumps({{"answers": answers, "seconds": time.monotonic() - started}}))
        """
    )
    refused, accepted = out["answers"]
    assert "not a value allowed for --qos" in refused
    assert accepted is True
    assert out["seconds"] < 1.0, out


def test_values_are_matched_in_linear_time():
    # Far longer than any user may send: the whole check well under a second, where a
    # backtracking engine would not be done within the age of the universe.
    out = in_child(
        f"""
        import json, time
        from jupyterhub_moss.site.sbatch_options import value_allowed

        started = time.monotonic()
        answers = [
            [value_allowed(pattern, value) for value in ("a" * 10_000 + "-", "a" * 10_000)]
            for pattern in {BACKTRACKING!r}
        ]
        print(json.dumps({{"answers": answers, "seconds": time.monotonic() - started}}))
        """
    )
    assert out["answers"] == [[False, True]] * len(BACKTRACKING)
    assert out["seconds"] < 1.0, out


@pytest.mark.parametrize(
    "pattern, value, expected",
    [
        (r"normal|high", "normal", True),
        (r"normal|high", "high", True),
        (r"normal|high", "normalhigh", False),  # the whole value, not a part of it
        (r"normal|high", "xhigh", False),
        (r"[a-z0-9]+", "ib", True),
        (r"[a-z0-9]+", "", False),
        (r"[a-z0-9]+", "ib,gpu", False),
        (r"\d{1,3}", "42", True),
        (r"\d{1,3}", "4242", False),
        (r"(?i)a100", "A100", True),
    ],
)
def test_values_match_the_whole_pattern(pattern, value, expected):
    assert value_allowed(pattern, value) is expected


@pytest.mark.parametrize(
    "pattern",
    [
        r"(?=a)a",  # look-ahead
        r"(?<!x)a",  # look-behind
        r"(a)\1",  # back-reference
        r"a{1001}",  # more repetitions than RE2 takes
        r"(a{100}){100}",
        r"a\Z",  # Python's end of text; RE2 writes it \z
        r"[a-",
    ],
)
def test_patterns_without_a_linear_time_match_are_refused_at_start_up(pattern):
    with pytest.raises(TraitError, match=r"allowed_sbatch_options\['--qos'\]"):
        MOSlurmSpawner(allowed_sbatch_options={"--qos": pattern})


NEWLY_RESERVED = [
    "--clusters",
    "--cluster",
    "--cluster-constraint",
    "--gpus-per-node",
    "--gpus-per-socket",
    "--gpus-per-task",
    "--tres-per-task",
    "--cpus-per-gpu",
    "--mem-per-cpu",
    "--mem-per-gpu",
    "--mincpus",
    "--ntasks-per-node",
    "--tasks-per-node",
    "--ntasks-per-gpu",
    "--exclusive",
    "--core-spec",
    "--hold",
    "--begin",
    "--container",
    "--nodefile",
    "--bbf",
    "--help",
]


@pytest.mark.parametrize("name", NEWLY_RESERVED + ["--partition", "--uid", "--export", "--wrap"])
def test_reserved_options_cannot_be_left_to_users(name):
    with pytest.raises(TraitError, match=f"allowed_sbatch_options\\['{name}'\\]"):
        MOSlurmSpawner(allowed_sbatch_options={name: r"[a-z0-9]+"})


@pytest.mark.parametrize(
    "name, stands_for",
    [
        ("--part", "--partition"),
        ("--p", "--parsable"),  # or --partition: ambiguous, still refused
        ("--clu", "--cluster"),
        ("--mem-per", "--mem-per-cpu"),
        ("--gpus-per", "--gpus-per-node"),
        ("--tres", "--tres-per-task"),
        ("--hol", "--hold"),
        ("--beg", "--begin"),
        ("--u", "--uid"),
        ("--export-f", "--export-file"),
    ],
)
def test_abbreviations_of_reserved_options_cannot_be_left_to_users(name, stands_for):
    # sbatch takes any unambiguous beginning of a long option for the option itself.
    with pytest.raises(TraitError) as info:
        MOSlurmSpawner(allowed_sbatch_options={name: r"[a-z0-9]+"})
    assert f"['{name}']" in str(info.value)
    assert stands_for in str(info.value)


@pytest.mark.parametrize(
    "name",
    [
        "--constraint",
        "--qos",
        "--account",
        "--mem-bind",  # begins with the reserved --mem, but is an option of its own
        "--time-min",
        "--gpu-bind",
        "--deadline",
        "--batch",
        "--nodelist",
        "--licenses",
    ],
)
def test_other_options_can_be_left_to_users(name):
    allowed = {name: r"[a-z0-9]+"}
    assert MOSlurmSpawner(allowed_sbatch_options=allowed).allowed_sbatch_options == allowed
    options = validate_options({"options": f"{name}=x1"}, VIEWS, sbatch_options=allowed)
    assert options.sbatch_options == (f"{name}=x1",)


@pytest.mark.parametrize("word", ["--constrain=ib", "--cons=ib", "--constraints=ib", "--c=ib"])
def test_only_the_exact_names_listed_are_accepted_from_users(word):
    with pytest.raises(OptionError, match="is not allowed; allowed: --constraint"):
        validate_options({"options": word}, VIEWS, sbatch_options={"--constraint": r".*"})


@pytest.mark.parametrize("name", ["--part", "--clusters", "--mem-per-cpu"])
def test_reserved_options_are_refused_even_when_listed_unchecked(name):
    # validate_options is also called with settings that no trait has checked.
    with pytest.raises(OptionError, match=f"{name} is not allowed"):
        validate_options({"options": f"{name}=x"}, VIEWS, sbatch_options={name: r".*"})


def test_reserved_names_are_sbatch_long_options():
    # A typo here would reserve nothing.
    assert all(re.fullmatch(r"--[a-z][a-z-]+[a-z]", name) for name in RESERVED_SBATCH_OPTIONS)
    assert reserved_for("--mem") == ["--mem", "--mem-per-cpu", "--mem-per-gpu"]
    assert reserved_for("--mem-bind") == []


def test_the_check_names_the_entry():
    with pytest.raises(SbatchOptionError) as info:
        check_allowed_options({"--constraint": "[a-z]+", "--qos": "(a)\\1"})
    assert info.value.name == "--qos"
    assert str(info.value).startswith("['--qos']: ")
    with pytest.raises(SbatchOptionError, match="not an sbatch long option"):
        check_allowed_options({"-C": "[a-z]+"})
    check_allowed_options({})
