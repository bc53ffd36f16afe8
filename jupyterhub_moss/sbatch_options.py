"""Free-form ``sbatch`` options an admin may leave to users (``allowed_sbatch_options``).

Two things make a free-form option dangerous, and both are settled here, when the hub
starts:

- *Its name.* Options the spawner sets itself, or that change who or what runs, are
  reserved and never left to users.
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
    "value_allowed",
]

#: The form of an option name an admin may list: a long option, lowercase.
OPTION_NAME = re.compile(r"--[a-z][a-z0-9-]{0,40}\Z")

#: sbatch options that the spawner sets itself, or that would change who or what
#: runs: never accepted as free-form options, whatever the admin allows.
RESERVED_SBATCH_OPTIONS = frozenset(
    {
        "--partition",
        "--cpus-per-task",
        "--gres",
        "--gpus",
        "--time",
        "--mem",
        "--reservation",
        "--chdir",
        "--output",
        "--error",
        "--input",
        "--job-name",
        "--nodes",
        "--ntasks",
        "--export",
        "--export-file",
        "--get-user-env",
        "--uid",
        "--gid",
        "--wrap",
        "--comment",
        "--array",
        "--dependency",
        "--parsable",
        "--test-only",
        "--wait",
        "--requeue",
        "--no-requeue",
    }
)

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # the error is raised, with the admin's setting named


class SbatchOptionError(ValueError):
    """An entry of ``allowed_sbatch_options`` that cannot be used."""

    def __init__(self, name: str, message: str):
        self.name = name
        self.message = message
        super().__init__(f"[{name!r}]: {message}")


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
                "is set by the spawner or changes who runs the job; it cannot be left to users",
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
