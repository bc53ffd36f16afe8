"""Slurm reservations: read them from ``scontrol``, keep those a user may use on a
partition, word them for the page, and check the one a user chose.

Pure functions: the hub runs :func:`reservations_argv` itself (with
``SLURM_TIME_FORMAT=standard``) and hands the output to :func:`parse_reservations`.

Slurm prints times in local time, without an offset; they are read as local time
and kept as aware datetimes. A time that cannot be read (another
``SLURM_TIME_FORMAT``) is kept as ``None``, with Slurm's text beside it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from .clusterinfo import expand_hostlist
from .text import NAME

__all__ = [
    "Reservation",
    "describe_reservation",
    "parse_reservations",
    "reservations_argv",
    "usable_reservations",
]

log = logging.getLogger(__name__)

#: What ``scontrol show reservation`` prints when there is none.
NO_RESERVATIONS = "No reservations in the system"
#: Names a user may give (the form check of :mod:`jupyterhub_moss.choices.options`).
#: ``Key=value`` words of an ``scontrol --oneliner`` line.
_FIELD = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)=(.*)\Z", re.DOTALL)
_NULL = ("", "(null)", "N/A", "n/a", "None")
_KNOWN_KEYS = frozenset(
    {
        "ReservationName",
        "StartTime",
        "EndTime",
        "Nodes",
        "PartitionName",
        "Flags",
        "Users",
        "Groups",
        "Accounts",
        "State",
    }
)
#: The most characters of a node list shown in a label.
_NODES_SHOWN = 40


@dataclass(frozen=True)
class Reservation:
    """One reservation as ``scontrol --oneliner show reservation`` reports it."""

    name: str
    start: datetime | None
    end: datetime | None
    #: the reserved nodes, expanded (``node[1-2]`` -> ``node1``, ``node2``)
    nodes: tuple[str, ...] = ()
    partition: str | None = None
    #: names as Slurm lists them; a leading ``-`` denies that name
    users: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    flags: frozenset[str] = frozenset()
    #: ``ACTIVE`` or ``INACTIVE``
    state: str = ""
    #: the node list as Slurm wrote it, for display (``node[1-2]``)
    node_list: str = ""
    #: Slurm's own text of the times, shown when they could not be read
    start_text: str = ""
    end_text: str = ""

    @property
    def active(self) -> bool:
        return self.state == "ACTIVE"


def reservations_argv(scontrol: str = "scontrol") -> list[str]:
    """The command line listing every reservation, one per line."""
    return [scontrol, "--oneliner", "show", "reservation"]


# -- parsing ---------------------------------------------------------------------------


def _fields(line: str) -> dict[str, str]:
    """The ``Key=value`` fields of one line, the first of each key kept.

    A word without ``=`` continues the value before it (a value with spaces, as a
    comment may have); since the first occurrence of a key wins, text in such a
    value cannot replace a field Slurm printed before it.
    """
    fields: dict[str, str] = {}
    key = None
    for word in line.split():
        match = _FIELD.match(word)
        if match:
            key, value = match.groups()
            if key not in fields:
                fields[key] = value
            else:
                key = None  # a repeated key: ignore it and what continues it
        elif key is not None:
            fields[key] += " " + word
    return fields


def _names(value: str | None) -> tuple[str, ...]:
    if value is None or value.strip() in _NULL:
        return ()
    return tuple(name for name in (n.strip() for n in value.split(",")) if name)


def _time(value: str | None) -> datetime | None:
    """An aware datetime from Slurm's ``2026-12-03T10:00:00`` (local time)."""
    if value is None or value.strip() in (*_NULL, "Unknown"):
        return None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return _aware(when)


def _aware(when: datetime) -> datetime:
    """``when`` with a time zone: a naive datetime is taken as local time."""
    return when if when.tzinfo is not None else when.astimezone()


def _reservation(fields: dict[str, str]) -> Reservation:
    node_list = fields.get("Nodes", "").strip()
    if node_list in _NULL:
        node_list = ""
    try:
        nodes = tuple(expand_hostlist(node_list)) if node_list else ()
    except ValueError as e:
        log.warning("Reservation %s: nodes not understood: %s", fields["ReservationName"], e)
        nodes = ()
    partition = fields.get("PartitionName", "").strip()
    flags = frozenset(
        flag.split("=", 1)[0].strip() for flag in _names(fields.get("Flags")) if flag.strip()
    )
    return Reservation(
        name=fields["ReservationName"].strip(),
        start=_time(fields.get("StartTime")),
        end=_time(fields.get("EndTime")),
        nodes=nodes,
        partition=None if partition in _NULL else partition,
        users=_names(fields.get("Users")),
        groups=_names(fields.get("Groups")),
        accounts=_names(fields.get("Accounts")),
        flags=flags,
        state=fields.get("State", "").strip().upper(),
        node_list=node_list,
        start_text=fields.get("StartTime", "").strip(),
        end_text=fields.get("EndTime", "").strip(),
    )


def parse_reservations(text: str) -> tuple[Reservation, ...]:
    """The reservations in the output of :func:`reservations_argv`.

    Only the fields this module uses are read; a line without a reservation name
    is skipped (and logged).
    """
    reservations: list[Reservation] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(NO_RESERVATIONS):
            continue
        fields = {k: v for k, v in _fields(line).items() if k in _KNOWN_KEYS}
        if not fields.get("ReservationName", "").strip():
            log.warning("Skipping a line of scontrol show reservation: %r", line[:200])
            continue
        reservations.append(_reservation(fields))
    return tuple(reservations)


# -- who may use which -----------------------------------------------------------------


def _list_allows(entries: Sequence[str], names: Collection[str]) -> bool:
    """Whether a Slurm access list lets in someone known by ``names``.

    ``-name`` entries deny those named and allow the rest; plain entries allow only
    those named.
    """
    denied = {entry[1:] for entry in entries if entry.startswith("-")}
    allowed = {entry for entry in entries if not entry.startswith("-")}
    if denied & set(names):
        return False
    if allowed:
        return bool(allowed & set(names))
    return True


def _accounts_allow(entries: Sequence[str], accounts: Collection[str]) -> bool:
    """Whether one of the user's ``accounts`` may be used in the reservation."""
    denied = {entry[1:] for entry in entries if entry.startswith("-")}
    allowed = {entry for entry in entries if not entry.startswith("-")}
    return any(a not in denied and (not allowed or a in allowed) for a in accounts)


def _user_may(
    res: Reservation, user: str, groups: Collection[str], accounts: Collection[str] | None
) -> bool:
    """Whether the user (with these groups and, when known, accounts) may use ``res``.

    Users, Groups and Accounts must each let the user in when they are set. When the
    user's accounts are unknown, a reservation with Accounts is kept only if it also
    names users or groups that let the user in (Slurm then decides on the account);
    one set by accounts alone is left out.
    """
    if "MAINT" in res.flags and user not in res.users:
        return False
    if not (res.users or res.groups or res.accounts):
        return False  # Slurm requires one of them; nobody is named
    if res.users and not _list_allows(res.users, [user]):
        return False
    if res.groups and not _list_allows(res.groups, groups):
        return False
    if res.accounts:
        if accounts is None:
            return bool(res.users or res.groups)
        if not _accounts_allow(res.accounts, accounts):
            return False
    return True


def _on_partition(
    res: Reservation, partition_name: str, partition_nodes: Collection[str] | None
) -> bool:
    if res.partition is not None and res.partition == partition_name:
        return True
    if partition_nodes is None:
        return True  # the partition's nodes are unknown: Slurm decides
    return not set(res.nodes).isdisjoint(partition_nodes)


def usable_reservations(
    reservations: Iterable[Reservation],
    user: str,
    groups: Collection[str],
    accounts: Collection[str] | None,
    partition_name: str,
    partition_nodes: Collection[str] | None,
    now: datetime,
    soon: float = 3600,
) -> list[Reservation]:
    """The reservations ``user`` may use on a partition now, or within ``soon`` seconds.

    Kept: ACTIVE reservations, and INACTIVE ones starting within ``soon``, that have
    not ended; whose Users, Groups and Accounts let the user in (``accounts`` None:
    not known, see :func:`_user_may`); MAINT ones only when they name the user; on the
    partition (its ``PartitionName``) or on one of its nodes (``partition_nodes`` None:
    not known, not checked); with a name the form check accepts. Sorted by start
    time, then name.
    """
    now = _aware(now)
    horizon = now + timedelta(seconds=soon)
    usable = []
    for res in reservations:
        if not NAME.match(res.name):
            continue
        if res.end is not None and res.end <= now:
            continue
        if not res.active and (res.start is None or res.start > horizon):
            continue
        if not _user_may(res, user, groups, accounts):
            continue
        if not _on_partition(res, partition_name, partition_nodes):
            continue
        usable.append(res)
    usable.sort(key=lambda r: (r.start or now, r.name))
    return usable


# -- words -----------------------------------------------------------------------------


def _clock(when: datetime, now: datetime) -> str:
    """``10:10`` today, ``2026-12-04 10:10`` on another day: in the hub's local time
    (Slurm's), whatever the time zone of ``when`` and ``now``."""
    when, today = when.astimezone(), now.astimezone().date()
    return f"{when:%H:%M}" if when.date() == today else f"{when:%Y-%m-%d %H:%M}"


def describe_reservation(res: Reservation, now: datetime) -> str:
    """A label for a choice: ``r1 · node4 · until 10:10``, ``r2 · starts 14:00``
    (local time, with the date when not today; ``now`` naive is local time)."""
    now = _aware(now)
    parts = [res.name]
    if res.node_list:
        shown = res.node_list
        if len(shown) > _NODES_SHOWN:
            shown = shown[: _NODES_SHOWN - 1] + "…"
        parts.append(shown)
    if res.start is not None and res.start > now:
        parts.append(f"starts {_clock(res.start, now)}")
    elif not res.active and res.start is None and res.start_text:
        parts.append(f"starts {res.start_text[:32]}")
    elif res.end is not None:
        parts.append(f"until {_clock(res.end, now)}")
    elif res.end_text and res.end_text not in _NULL:
        parts.append(f"until {res.end_text[:32]}")
    return " · ".join(parts)
