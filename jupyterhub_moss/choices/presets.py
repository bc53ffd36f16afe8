"""Start again: the user's last launches, as links that start the same server.

Each spawner keeps its launches in its state (``moss_launches``): newest first, at
most three distinct sets of normalised options (``UserOptions.to_user_options()``),
each stored as ``{"options": {...}, "time": seconds since the epoch}``. The page
merges the user's spawners' lists and offers each as a link to the spawn page's
query (``?opt-partition=cpu&...``), which goes through the same validation as a
form; one no longer valid is shown with the reason.

Pure functions: state read from the database is treated as untrusted, and
malformed entries are dropped.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlencode

from ..slurm.text import CONTROL
from ..slurm.timefmt import describe_duration, parse_duration

__all__ = [
    "Preset",
    "check_presets",
    "describe",
    "merge_histories",
    "preset_query",
    "record_launch",
]

#: Options first in a query and a label, in this order; others follow, sorted.
_ORDER = (
    "partition",
    "nprocs",
    "ngpus",
    "gpu_type",
    "runtime",
    "memory",
    "account",
    "qos",
    "reservation",
    "environment_id",
    "environment_path",
    "environment_modules",
    "default_url",
    "root_dir",
    "options",
)
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}\Z")
#: The most characters of one value shown in a label, and of a message.
_SHOWN = 40
_MESSAGE = 300


@dataclass(frozen=True)
class Preset:
    """One launch offered again."""

    label: str
    options: dict = field(hash=False)
    #: the spawn page's query string (``opt-partition=cpu&...``), without ``?``
    query: str
    #: why these options would be refused now, or None if they are valid
    error: str | None = None
    time: float | None = None


def _normalise(options) -> dict | None:
    """The options with empty values dropped and keys in a fixed order; None if they
    are not a dict of option names to strings, numbers or booleans."""
    if not isinstance(options, dict):
        return None
    result = {}
    for key, value in options.items():
        if not isinstance(key, str) or not _NAME.match(key):
            return None
        if value is None or value == "":
            continue
        if not isinstance(value, (str, int, float, bool)):
            return None
        result[key] = value
    if not result:
        return None
    return {key: result[key] for key in _ordered(result)}


def _ordered(keys: Iterable[str]) -> list[str]:
    keys = list(keys)
    first = [k for k in _ORDER if k in keys]
    return first + sorted(k for k in keys if k not in _ORDER)


def _identity(options: dict) -> tuple:
    """What makes two launches the same: ``4`` and ``"4"`` are."""
    return tuple(sorted((k, str(v).strip()) for k, v in options.items()))


def _entries(history) -> list[dict]:
    """The well-formed entries of a stored history, normalised, newest first."""
    entries = []
    if not isinstance(history, (list, tuple)):
        return entries
    for entry in history:
        if not isinstance(entry, dict):
            continue
        options = _normalise(entry.get("options"))
        when = entry.get("time")
        if options is None or isinstance(when, bool) or not isinstance(when, (int, float)):
            continue
        entries.append({"options": options, "time": float(when)})
    entries.sort(key=lambda e: e["time"], reverse=True)
    return entries


def _distinct(entries: list[dict], keep: int) -> list[dict]:
    seen: set[tuple] = set()
    kept = []
    for entry in entries:
        identity = _identity(entry["options"])
        if identity in seen:
            continue
        seen.add(identity)
        kept.append(entry)
        if len(kept) >= keep:
            break
    return kept


def record_launch(history: list[dict], options: dict, when: float, keep: int = 3) -> list[dict]:
    """A new history with this launch first: newest first, at most ``keep`` distinct
    option sets (the same options launched again move to the front).

    ``history`` is not changed. Options that are not a dict of option values leave
    the history as it was (normalised).
    """
    entries = _entries(history)
    options = _normalise(options)
    if options is not None:
        entries.insert(0, {"options": options, "time": float(when)})
    return _distinct(entries, keep)


def merge_histories(histories: Iterable[list[dict]], keep: int = 3) -> list[dict]:
    """The launches of several spawners (a user's servers) as one history."""
    entries = []
    for history in histories:
        entries.extend(_entries(history))
    entries.sort(key=lambda e: e["time"], reverse=True)
    return _distinct(entries, keep)


def _shown(value) -> str:
    text = CONTROL.sub(" ", str(value)).strip()
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def _count(value, one: str, many: str) -> str:
    try:
        number = int(str(value).strip())
    except ValueError:
        return f"{_shown(value)} {many}"
    return f"{number} {one if number == 1 else many}"


def describe(options: dict) -> str:
    """A label for a launch: ``cpu · 4 cores · 1 GPU · 2 h · account proj1``."""
    options = _normalise(options) or {}
    parts = []
    if "partition" in options:
        parts.append(_shown(options["partition"]))
    if "nprocs" in options:
        parts.append(_count(options["nprocs"], "core", "cores"))
    ngpus = options.get("ngpus")
    if ngpus not in (None, 0, "0"):
        gpus = _count(ngpus, "GPU", "GPUs")
        if options.get("gpu_type") and options["gpu_type"] != "any":
            gpus += f" ({_shown(options['gpu_type'])})"
        parts.append(gpus)
    if "runtime" in options:
        try:
            parts.append(describe_duration(parse_duration(str(options["runtime"]))))
        except ValueError:
            parts.append(_shown(options["runtime"]))
    if "memory" in options:
        parts.append(f"{_shown(options['memory'])} memory")
    for name, word in (("account", "account"), ("qos", "QOS"), ("reservation", "reservation")):
        if name in options:
            parts.append(f"{word} {_shown(options[name])}")
    if "environment_id" in options:
        parts.append(f"environment {_shown(options['environment_id'])}")
    elif "environment_path" in options or "environment_modules" in options:
        parts.append("your own environment")
    if "default_url" in options:
        parts.append(f"opens {_shown(options['default_url'])}")
    if "root_dir" in options:
        parts.append(f"in {_shown(options['root_dir'])}")
    if "options" in options:
        parts.append(_shown(options["options"]))
    return " · ".join(parts) or "default options"


def preset_query(options: dict) -> str:
    """The spawn page's query for these options: ``opt-partition=cpu&opt-nprocs=4&...``."""
    options = _normalise(options) or {}
    return urlencode([(f"opt-{key}", str(value)) for key, value in options.items()])


def _message(error: Exception) -> str:
    message = getattr(error, "message", None)
    text = message if isinstance(message, str) and message else str(error)
    text = CONTROL.sub(" ", text).strip() or type(error).__name__
    return text if len(text) <= _MESSAGE else text[: _MESSAGE - 1] + "…"


def check_presets(history: list[dict], validate: Callable[[dict], object]) -> list[Preset]:
    """The launches of ``history`` as :class:`Preset` s, each checked with
    ``validate(options)``: what it raises (its ``message``, else its text) is the
    preset's ``error``."""
    presets = []
    entries = _entries(history)
    for entry in _distinct(entries, len(entries)):
        options = entry["options"]
        try:
            validate(dict(options))
            error = None
        except Exception as e:  # any refusal disables the preset; the page still shows
            error = _message(e)
        presets.append(
            Preset(
                label=describe(options),
                options=options,
                query=preset_query(options),
                error=error,
                time=entry["time"],
            )
        )
    return presets
