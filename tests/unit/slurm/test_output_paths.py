"""The job's output: its path from sbatch's pattern, the bounded tail command, and
the lines shown from what it read."""

import pytest

from jupyterhub_moss.slurm.output import TAIL_BYTES, Tail, resolve_output, split_tail, tail_argv


@pytest.mark.parametrize(
    "pattern, path",
    [
        (
            "/home/moss01/.local/state/jupyterhub_moss/%j.log",
            "/home/moss01/.local/state/jupyterhub_moss/42.log",
        ),
        ("/scratch/%u/%x-%j.out", "/scratch/moss01/spawner-jupyterhub-42.out"),
        ("/tmp/100%%-%j.log", "/tmp/100%-42.log"),
        ("/tmp/%%j.log", "/tmp/%j.log"),
        ("/tmp/plain.log", "/tmp/plain.log"),
    ],
)
def test_resolve_output_replaces_job_user_and_name(pattern, path):
    assert resolve_output(pattern, "42", "moss01", "spawner-jupyterhub") == path


@pytest.mark.parametrize(
    "pattern",
    ["/tmp/%A_%a.log", "/tmp/%N-%j.log", "/tmp/%5j.log", "/tmp/trailing%", "/tmp/\\%j.log"],
)
def test_resolve_output_keeps_a_pattern_with_other_escapes_as_it_is(pattern):
    assert resolve_output(pattern, "42", "moss01", "job") == pattern


def test_resolve_output_takes_an_integer_job_id():
    assert resolve_output("/o/%j", 7, "u", "x") == "/o/7"


@pytest.mark.parametrize("job_id", ["", "42;rm", "../1", "4 2"])
def test_resolve_output_refuses_a_job_id_that_is_not_a_number(job_id):
    with pytest.raises(ValueError):
        resolve_output("/o/%j", job_id, "u", "x")


def test_tail_argv_is_the_one_sudoers_allows():
    assert tail_argv("/home/moss01/x.log") == ["tail", "-c", "65536", "--", "/home/moss01/x.log"]
    assert tail_argv("/a", 100) == ["tail", "-c", "100", "--", "/a"]
    assert TAIL_BYTES == 65536


@pytest.mark.parametrize("path", ["relative.log", "-n", "", "/a\nb"])
def test_tail_argv_refuses_relative_or_odd_paths(path):
    with pytest.raises(ValueError):
        tail_argv(path)


@pytest.mark.parametrize("max_bytes", [0, -1, True, 1.5])
def test_tail_argv_refuses_a_bad_size(max_bytes):
    with pytest.raises(ValueError):
        tail_argv("/a", max_bytes)


def test_split_tail_of_a_short_file_keeps_every_line():
    assert split_tail(b"one\ntwo\n", 100) == Tail(lines=["one", "two"], truncated=False)
    assert split_tail(b"no newline at the end", 100) == Tail(["no newline at the end"], False)
    assert split_tail(b"", 100) == Tail([], False)
    assert split_tail(b"\n\n", 100) == Tail(["", ""], False)


def test_split_tail_drops_the_partial_first_line_when_truncated():
    data = b"tial first line\nsecond\nthird\n"
    assert split_tail(data, len(data)) == Tail(lines=["second", "third"], truncated=True)


def test_split_tail_keeps_only_max_bytes():
    data = b"a" * 50 + b"\nlast\n"
    assert split_tail(data, 8) == Tail(lines=["last"], truncated=True)


def test_split_tail_keeps_a_single_long_line():
    assert split_tail(b"x" * 10, 10) == Tail(lines=["x" * 10], truncated=True)


def test_split_tail_replaces_bytes_that_are_not_utf8():
    # A multibyte character cut by the start of the read sits in the dropped line.
    data = "é-cut\nnaïve \udcff".encode("utf-8", "surrogateescape")
    tail = split_tail(data[1:], len(data) - 1)
    assert tail.lines == ["naïve \ufffd"]
    assert split_tail(b"bad \xff\xfe\n", 100).lines == ["bad \ufffd\ufffd"]


def test_split_tail_removes_control_characters_but_tabs():
    data = b"a\tb\x00c\x07d\x1b[31mred\x1b[0m\x7f\r\n\x1b]0;title\x07e\xc2\x85f\n"
    assert split_tail(data, 1000).lines == ["a\tbcdred", "ef"]


def test_split_tail_shows_a_rewritten_line_as_a_terminal_would():
    data = b"progress 10%\rprogress 50%\rprogress 100%\r\ndone\n"
    assert split_tail(data, 1000).lines == ["progress 100%", "done"]


def test_split_tail_refuses_a_bad_size():
    with pytest.raises(ValueError):
        split_tail(b"x", 0)
