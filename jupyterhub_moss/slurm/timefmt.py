"""Slurm's time syntax: parse a duration as ``sbatch --time`` does, and format one.

Slurm accepts ``M``, ``M:S``, ``H:M:S``, ``D-H``, ``D-H:M`` and ``D-H:M:S``; a bare
number is minutes. ``UNLIMITED`` and ``infinite`` mean no limit.
"""

from __future__ import annotations

import re

__all__ = ["UNLIMITED", "format_duration", "parse_duration"]

#: What :func:`parse_duration` returns for ``UNLIMITED``/``infinite``.
UNLIMITED = -1

_NUM = r"([0-9]{1,9})"
_FORMS = [
    # (regex, names of the groups in order)
    (re.compile(rf"^{_NUM}\Z"), ("minutes",)),
    (re.compile(rf"^{_NUM}:{_NUM}\Z"), ("minutes", "seconds")),
    (re.compile(rf"^{_NUM}:{_NUM}:{_NUM}\Z"), ("hours", "minutes", "seconds")),
    (re.compile(rf"^{_NUM}-{_NUM}\Z"), ("days", "hours")),
    (re.compile(rf"^{_NUM}-{_NUM}:{_NUM}\Z"), ("days", "hours", "minutes")),
    (re.compile(rf"^{_NUM}-{_NUM}:{_NUM}:{_NUM}\Z"), ("days", "hours", "minutes", "seconds")),
]
_SECONDS = {"days": 86400, "hours": 3600, "minutes": 60, "seconds": 1}


def parse_duration(text: str) -> int:
    """Seconds in a Slurm time string, or :data:`UNLIMITED`.

    Raises ``ValueError`` for anything Slurm would not take. Fields after the
    first one are bounded as Slurm expects them (minutes and seconds below 60
    once a larger unit is given, hours below 24 after days).
    """
    if not isinstance(text, str):
        raise ValueError("a time must be a string such as 90, 1:30:00 or 1-12")
    value = text.strip()
    if value.lower() in ("unlimited", "infinite"):
        return UNLIMITED
    for pattern, names in _FORMS:
        match = pattern.match(value)
        if not match:
            continue
        parts = dict(zip(names, (int(g) for g in match.groups()), strict=True))
        first = names[0]
        for name, number in parts.items():
            if name == first:
                continue
            limit = 24 if name == "hours" else 60
            if number >= limit:
                raise ValueError(f"{number} is not a valid number of {name} in {text!r}")
        return sum(_SECONDS[name] * number for name, number in parts.items())
    raise ValueError(
        f"{text!r} is not a Slurm time: use minutes (90), M:S, H:M:S, D-H, D-H:M or D-H:M:S"
    )


def format_duration(seconds: int) -> str:
    """Format seconds as Slurm's ``D-HH:MM:SS`` (``HH:MM:SS`` under a day)."""
    if seconds < 0:
        return "UNLIMITED"
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{days}-{clock}" if days else clock


def describe_duration(seconds: int) -> str:
    """A short human wording: ``30 min``, ``2 h``, ``1 h 30 min``, ``2 days``."""
    if seconds < 0:
        return "no limit"
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = []
    if days:
        parts.append(f"{days} day" + ("s" if days > 1 else ""))
    if hours:
        parts.append(f"{hours} h")
    if minutes or not parts:
        parts.append(f"{minutes} min")
    return " ".join(parts)
