"""The job's output file: where it is, and its last lines, read in bounded form.

Pure functions: the hub runs :func:`tail_argv` as the user (through its
``exec_prefix``; the sudoers example allows exactly ``tail -c 65536 -- /*``) and
hands what it printed to :func:`split_tail`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .text import CONTROL_BUT_TAB, JOB_ID

__all__ = [
    "FALLBACK_OUTPUT",
    "STATE_FOLDER",
    "STATE_OUTPUT",
    "TAIL_BYTES",
    "OutputPlan",
    "Tail",
    "output_paths",
    "plan_output",
    "resolve_output",
    "split_tail",
    "regular_file_argv",
    "tail_argv",
]

#: The most of an output file read, from its end (the number sudoers allows).
TAIL_BYTES = 65536

_ESCAPE = re.compile(r"%(.?)", re.DOTALL)
_RESOLVED = frozenset("jux%")
#: Terminal escape sequences: CSI (colours, cursor moves) and OSC (titles, links).
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?")
#: Control characters other than tab, and Unicode's line and paragraph separators.


#: The folder, under the user's home, that the default output goes to (XDG's state
#: folder: hidden from JupyterLab's file browser).
STATE_FOLDER = ".local/state/jupyterhub_moss"
#: ``job_output``'s default: the job moves its output into :data:`STATE_FOLDER`.
STATE_OUTPUT = "{home}/" + STATE_FOLDER + "/%j.log"
#: Where a job with the default ``job_output`` writes first (in its working folder),
#: and where its output stays if it cannot be moved.
FALLBACK_OUTPUT = ".jupyterhub_moss_%j.log"


@dataclass(frozen=True)
class OutputPlan:
    """Where a job writes its output: ``sbatch_output`` is ``#SBATCH --output``'s value;
    with a ``folder``, the job moves its output there and leaves the newest ``keep``
    outputs in it (all of them if ``keep`` < 1)."""

    sbatch_output: str
    folder: str | None = None
    keep: int = 0


def _expand(pattern: str, home: str, username: str) -> str:
    return pattern.replace("{home}", home).replace("{username}", username)


def plan_output(pattern: str, *, home: str, username: str, workdir: str, keep: int) -> OutputPlan:
    """The plan for ``job_output`` = ``pattern``.

    :data:`STATE_OUTPUT` (the default) writes to :data:`FALLBACK_OUTPUT` in
    ``workdir``, which the job moves into the state folder. Any other pattern is
    ``sbatch --output``'s own (relative to ``workdir``; ``{home}`` and
    ``{username}`` replaced), and nothing is moved or deleted.
    """
    if pattern == STATE_OUTPUT:
        return OutputPlan(
            sbatch_output=f"{workdir.rstrip('/')}/{FALLBACK_OUTPUT}",
            folder=f"{home.rstrip('/')}/{STATE_FOLDER}",
            keep=max(int(keep), 0),
        )
    return OutputPlan(sbatch_output=_expand(pattern, home, username))


def output_paths(pattern: str, job_id, *, home: str, username: str, workdir: str) -> list[str]:
    """The absolute paths job ``job_id``'s output may be at, the likeliest first: the
    hub reads the first that exists.

    Empty when only Slurm knows the path (a pattern with escapes other than ``%j``,
    ``%u`` and ``%%``): then ``scontrol show job``'s ``StdOut`` tells.
    """
    job_id = str(job_id)
    if not JOB_ID.match(job_id):
        raise ValueError(f"{job_id[:30]!r} is not a Slurm job id")
    workdir = workdir.rstrip("/")
    if pattern == STATE_OUTPUT:
        first = resolve_output(FALLBACK_OUTPUT, job_id, username, "")
        return [f"{home.rstrip('/')}/{STATE_FOLDER}/{job_id}.log", f"{workdir}/{first}"]
    expanded = _expand(pattern, home, username)
    # A NUL stands for the job name, which the hub does not work out here.
    path = resolve_output(expanded, job_id, username, "\x00")
    if (path == expanded and _ESCAPE.search(expanded)) or "\x00" in path:
        return []
    if not path.startswith("/"):
        if not workdir.startswith("/"):
            return []
        path = f"{workdir}/{path}"
    return [path]


@dataclass(frozen=True)
class Tail:
    """The last lines of an output file; ``truncated`` when its start was not read."""

    lines: list[str]
    truncated: bool


def resolve_output(pattern: str, job_id, user: str, job_name: str) -> str:
    """``sbatch --output``'s file name pattern with ``%j`` (job id), ``%u`` (user),
    ``%x`` (job name) and ``%%`` replaced.

    A pattern with any other ``%`` escape (``%A``, ``%N``, ``%5j``...) or a
    backslash (which tells Slurm to replace nothing) is returned as it is: the
    caller then asks Slurm for the path (``scontrol show job``'s ``StdOut``).
    Raises ``ValueError`` for a job id that is not a number.
    """
    job_id = str(job_id)
    if not JOB_ID.match(job_id):
        raise ValueError(f"{job_id[:30]!r} is not a Slurm job id")
    if "\\" in pattern or any(m.group(1) not in _RESOLVED for m in _ESCAPE.finditer(pattern)):
        return pattern
    values = {"j": job_id, "u": user, "x": job_name, "%": "%"}
    return _ESCAPE.sub(lambda m: values[m.group(1)], pattern)


def _checked_path(path: str) -> str:
    if not isinstance(path, str) or not path.startswith("/"):
        raise ValueError("the output path must be absolute")
    if re.search(r"[\x00-\x1f\x7f]", path):
        raise ValueError("the output path must not contain control characters")
    return path


def regular_file_argv(path: str) -> list[str]:
    """The command line whose exit status says whether ``path`` (an absolute path)
    is a regular file, or a link to one: 0 if it is, 1 if not or not there. Run as
    the user, where the hub may not look; it opens nothing (a pipe would block)."""
    return ["test", "-f", _checked_path(path)]


def tail_argv(path: str, max_bytes: int = TAIL_BYTES) -> list[str]:
    """The command line reading the last ``max_bytes`` of ``path`` (an absolute path)."""
    _checked_path(path)
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
        raise ValueError("max_bytes must be a positive whole number")
    return ["tail", "-c", str(max_bytes), "--", path]


def _clean(line: str) -> str:
    line = line.removesuffix("\r")
    if "\r" in line:
        # A line rewritten in place (a progress bar): what a terminal shows last.
        line = next((part for part in reversed(line.split("\r")) if part), "")
    line = _ANSI.sub("", line)
    return CONTROL_BUT_TAB.sub("", line)


def split_tail(data: bytes, max_bytes: int = TAIL_BYTES) -> Tail:
    """The lines of what ``tail -c max_bytes`` printed.

    When it printed ``max_bytes`` (or more: only the last ``max_bytes`` are kept)
    the file may have started earlier, so the output is ``truncated`` and its first,
    partial, line is dropped (unless it is the only one). Bytes that are not UTF-8
    are replaced; terminal escape sequences and control characters other than tab
    are removed.
    """
    if max_bytes < 1:
        raise ValueError("max_bytes must be positive")
    data = bytes(data)
    truncated = len(data) >= max_bytes
    if len(data) > max_bytes:
        data = data[-max_bytes:]
    if truncated:
        newline = data.find(b"\n")
        if 0 <= newline < len(data) - 1:
            data = data[newline + 1 :]
    text = data.decode("utf-8", errors="replace")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return Tail(lines=[_clean(line) for line in lines], truncated=truncated)
