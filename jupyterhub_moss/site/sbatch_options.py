"""Free-form ``sbatch`` options an admin may leave to users (``allowed_sbatch_options``).

Two things make a free-form option dangerous, and both are settled here, when the hub
starts:

- *Its name.* Some options change what the spawner checked (cores, GPUs, memory, run
  time), who runs the job, what it runs, where or when it runs, or how ``sbatch``
  answers the hub: those are reserved and never left to users. ``sbatch`` also takes any
  unambiguous beginning of a long option for the option (``--part=gpu`` is
  ``--partition=gpu``), so a name that begins a reserved option is refused as well;
  users may then give only the exact names the admin listed.
- *Its pattern.* Each value is matched against the admin's regular expression on every
  request and on every view of the spawn page. A backtracking engine takes exponential
  time on patterns such as ``(a|a)+``; patterns are therefore compiled and matched with
  RE2, whose time is linear in the value, and a pattern RE2 cannot compile
  (look-arounds, back-references) is refused at start-up.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache

import re2

__all__ = [
    "OPTION_NAME",
    "RESERVED_SBATCH_OPTIONS",
    "SbatchOptionError",
    "check_allowed_options",
    "compile_pattern",
    "reserved_for",
    "value_allowed",
]

#: The form of an option name an admin may list: a long option, lowercase.
OPTION_NAME = re.compile(r"--[a-z][a-z0-9-]{0,40}\Z")

#: Options the batch script or the form sets: a second value would replace the one the
#: user's choice was checked for (or, for --output, the file the hub reads on failure).
_SET_BY_THE_SPAWNER = {
    "--job-name",
    "--partition",
    "--nodes",
    "--ntasks",
    "--cpus-per-task",
    "--time",
    "--gres",
    "--gpus",
    "--mem",
    "--reservation",
    "--chdir",
    "--output",
    "--error",
    "--input",
    "--comment",  # the hub's mark, then the server's port
    "--requeue",
    "--no-requeue",
}

#: Other ways to ask for cores, GPUs, memory or whole nodes: each gets round the
#: partition's caps that the form enforces on --cpus-per-task, --gres and --mem.
_MORE_RESOURCES = {
    "--gpus-per-node",
    "--gpus-per-socket",
    "--gpus-per-task",
    "--tres-per-task",
    "--cpus-per-gpu",
    "--mem-per-cpu",
    "--mem-per-gpu",
    "--mincpus",
    "--ntasks-per-node",
    "--tasks-per-node",  # another spelling of --ntasks-per-node
    "--ntasks-per-core",
    "--ntasks-per-socket",
    "--ntasks-per-gpu",
    "--ntasks-per-tres",
    "--exclusive",  # the whole node, whatever the form said
    "--core-spec",  # these two imply a whole node too
    "--thread-spec",
}

#: Who runs the job, with which environment or security context, and what it runs.
_WHO_AND_WHAT = {
    "--uid",
    "--gid",
    "--get-user-env",
    "--export",
    "--export-file",
    "--wrap",
    "--container",  # the script would run in a bundle of the user's choosing,
    "--container-id",
    "--runtime",  # or under another runtime plugin
    "--context",  # SELinux context
    "--external",  # a job with no script at all
}

#: Options whose real content is in a file the user names: the admin's pattern sees the
#: file's name only (--nodefile can list more nodes, --bbf asks for burst buffers).
_READ_FROM_A_FILE = {"--nodefile", "--bbf"}

#: When and where the job runs. The hub waits for the job it submits to start now on
#: this cluster, and follows it with this cluster's squeue: a job held, deferred,
#: dependent, in an array, or sent to another cluster of a federation would start (if
#: ever) where or when the hub no longer follows it.
_WHEN_AND_WHERE = {
    "--hold",
    "--begin",
    "--dependency",
    "--array",
    "--clusters",
    "--cluster",  # another spelling of --clusters
    "--cluster-constraint",
}

#: How sbatch answers the hub: it reads the job id from --parsable's output, and waits
#: for sbatch a limited time.
_SBATCH_ITSELF = {"--parsable", "--test-only", "--wait", "--help", "--usage", "--version"}

#: sbatch options never left to users, whatever ``allowed_sbatch_options`` lists.
#:
#: Deliberately *not* reserved, because admins allow them on purpose and none of them
#: gets round a cap: --account, --qos and --wckey (accounting, checked by Slurm against
#: the user's associations); --constraint, --prefer, --batch, --nodelist and --exclude
#: (they choose among the partition's nodes; the job keeps --nodes=1); --deadline and
#: --time-min (they can only end or shorten the job); --nice and --priority (Slurm lets
#: only operators raise a priority); --licenses, --tmp, --signal, --mail-type and
#: --mail-user.
RESERVED_SBATCH_OPTIONS = frozenset(
    _SET_BY_THE_SPAWNER
    | _MORE_RESOURCES
    | _WHO_AND_WHAT
    | _READ_FROM_A_FILE
    | _WHEN_AND_WHERE
    | _SBATCH_ITSELF
)

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # the error is raised, with the admin's setting named


class SbatchOptionError(ValueError):
    """An entry of ``allowed_sbatch_options`` that cannot be used."""

    def __init__(self, name: str, message: str):
        self.name = name
        self.message = message
        super().__init__(f"[{name!r}]: {message}")


def reserved_for(name: str) -> list[str]:
    """The reserved options that sbatch could take ``name`` for: itself, or those it
    begins (sbatch accepts any unambiguous beginning of a long option)."""
    return sorted(option for option in RESERVED_SBATCH_OPTIONS if option.startswith(name))


@lru_cache(maxsize=256)
def compile_pattern(pattern: str):
    """``pattern`` compiled by RE2, or :class:`ValueError` saying why RE2 refuses it."""
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as e:
        detail = e.args[0] if e.args else e
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", "replace")
        raise ValueError(str(detail)) from None
    except (UnicodeEncodeError, TypeError) as e:
        raise ValueError(str(e)) from None


def value_allowed(pattern: str, value: str) -> bool:
    """Whether ``value`` matches ``pattern`` in full, in time linear in ``value``."""
    return compile_pattern(pattern).fullmatch(value) is not None


def check_allowed_options(allowed: Mapping[str, str]) -> None:
    """Check the admin's ``allowed_sbatch_options``; raise :class:`SbatchOptionError`
    naming the first entry that cannot be left to users."""
    for name, pattern in allowed.items():
        if not isinstance(name, str) or not OPTION_NAME.match(name):
            raise SbatchOptionError(
                str(name), "is not an sbatch long option name such as '--constraint'"
            )
        if name in RESERVED_SBATCH_OPTIONS:
            raise SbatchOptionError(
                name,
                "is reserved: the spawner sets it, or it changes the job's resources, who "
                "runs it or what it runs, or when and where it runs; it cannot be left to "
                "users",
            )
        reserved = reserved_for(name)
        if reserved:
            raise SbatchOptionError(
                name,
                f"sbatch would take it for {' or '.join(reserved)}, which cannot be left "
                "to users; list options by their full names",
            )
        if not isinstance(pattern, str):
            raise SbatchOptionError(name, "the pattern must be a string")
        try:
            compile_pattern(pattern)
        except ValueError as e:
            raise SbatchOptionError(
                name,
                f"{pattern!r} is not a regular expression RE2 can match in linear time "
                f"({e}); look-arounds and back-references are not available",
            ) from None
