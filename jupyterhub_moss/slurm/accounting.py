"""What Slurm's accounting says about a user: ``sacctmgr`` argument lists, and
parsers of their ``--parsable2`` output (fields split by ``|``, no header).

The parsers never raise on what sacctmgr prints: a line that does not have the
expected fields, or a value that cannot be read, is skipped (or read as "no
limit" where that is what an empty field means), and the number of lines read is
bounded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .text import NAME
from .timefmt import UNLIMITED, parse_duration

__all__ = [
    "Association",
    "Qos",
    "UserAccounts",
    "assoc_argv",
    "default_account_argv",
    "parse_associations",
    "parse_default_account",
    "parse_qos",
    "parse_tres",
    "qos_argv",
]

#: At most this many lines of sacctmgr output are read.
MAX_LINES = 20000
#: Lines longer than this are skipped.
MAX_LINE = 8192

_ASSOC_FIELDS = ("Account", "Partition", "QOS", "DefaultQOS", "MaxWall")
_QOS_FIELDS = ("Name", "MaxWall", "MaxTRESPU", "Flags")
_BASE = ["--noheader", "--parsable2", "show"]


def assoc_argv(user: str, cluster: str | None = None, sacctmgr: str = "sacctmgr") -> list[str]:
    """The associations of ``user`` (on ``cluster`` when given): one line each,
    with the limits inherited from the parent accounts filled in."""
    where = ["where", f"user={user}"]
    if cluster:
        where.append(f"cluster={cluster}")
    return [sacctmgr, *_BASE, "assoc", *where, "format=" + ",".join(_ASSOC_FIELDS)]


def default_account_argv(user: str, sacctmgr: str = "sacctmgr") -> list[str]:
    """The default account of ``user``, alone on one line."""
    return [sacctmgr, *_BASE, "user", user, "format=DefaultAccount"]


def qos_argv(sacctmgr: str = "sacctmgr") -> list[str]:
    """Every QOS, with the limits that bear on a notebook job."""
    return [sacctmgr, *_BASE, "qos", "format=" + ",".join(_QOS_FIELDS)]


@dataclass(frozen=True)
class Association:
    """One of the user's associations: an account, on every partition (None) or one."""

    account: str
    partition: str | None
    qos: tuple[str, ...]  # the QOS the association may use; () if sacctmgr lists none
    default_qos: str | None
    max_wall: int | None  # seconds; None for no limit


@dataclass(frozen=True)
class UserAccounts:
    """A user's accounts as sacctmgr has them."""

    default_account: str | None
    associations: tuple[Association, ...]

    @property
    def accounts(self) -> tuple[str, ...]:
        """The account names, in sacctmgr's order, each once."""
        return tuple(dict.fromkeys(a.account for a in self.associations))


@dataclass(frozen=True)
class Qos:
    """One QOS and the limits of it that bear on a job's choices."""

    name: str
    max_wall: int | None  # seconds; None for no limit
    max_tres_per_user: dict[str, int] = field(default_factory=dict)  # mem in MB
    flags: frozenset[str] = frozenset()

    def has_flag(self, flag: str) -> bool:
        """Whether the QOS has ``flag`` (``DenyOnLimit``, ``PartitionTimeLimit``...),
        in any case."""
        wanted = flag.lower()
        return any(f.lower() == wanted for f in self.flags)


def _records(text: str, count: int):
    """The lines of ``text`` that have exactly ``count`` fields, split."""
    if not isinstance(text, str):
        return
    for n, line in enumerate(text.splitlines()):
        if n >= MAX_LINES:
            return
        line = line.strip()
        if not line or len(line) > MAX_LINE:
            continue
        fields = line.split("|")
        if len(fields) == count + 1 and fields[-1] == "":
            fields.pop()  # some versions end --parsable2 lines with a "|"
        if len(fields) == count:
            yield [f.strip() for f in fields]


def _name(text: str) -> str | None:
    return text if NAME.match(text) else None


def _wall(text: str) -> int | None:
    """A MaxWall field in seconds; None for no limit (empty, UNLIMITED) or unreadable."""
    if not text:
        return None
    try:
        seconds = parse_duration(text)
    except ValueError:
        return None
    return None if seconds == UNLIMITED else seconds


def parse_default_account(text: str) -> str | None:
    """Parse the output of :func:`default_account_argv`: the first account name
    found, or None."""
    for (value,) in _records(text, 1):
        if _name(value):
            return value
    return None


def parse_associations(text: str, default_account: str | None = None) -> UserAccounts:
    """Parse the output of :func:`assoc_argv`.

    ``default_account`` is the user's default account (see
    :func:`parse_default_account`). An association listed twice (several clusters
    without ``cluster=``) is kept once, the first time. A line whose account is
    not a name is skipped; a QOS name that is not a name is left out of its list.
    """
    associations: list[Association] = []
    seen: set[tuple[str, str | None]] = set()
    for account, partition, qos, default_qos, max_wall in _records(text, len(_ASSOC_FIELDS)):
        if not _name(account):
            continue
        part = partition if _name(partition) else None
        if partition and part is None:
            continue  # a partition we cannot read: not an association for every partition
        key = (account, part)
        if key in seen:
            continue
        seen.add(key)
        names = tuple(dict.fromkeys(q for q in (w.strip() for w in qos.split(",")) if _name(q)))
        associations.append(
            Association(
                account=account,
                partition=part,
                qos=names,
                default_qos=_name(default_qos),
                max_wall=_wall(max_wall),
            )
        )
    if default_account is not None and not _name(default_account):
        default_account = None
    return UserAccounts(default_account=default_account, associations=tuple(associations))


_TRES_VALUE = re.compile(r"^([0-9]{1,15})([KMGTP]?)\Z", re.IGNORECASE)
_MB = {"K": 1 / 1024, "": 1, "M": 1, "G": 1024, "T": 1024**2, "P": 1024**3}


def parse_tres(text: str) -> dict[str, int]:
    """A TRES list such as ``cpu=4,mem=16G,gres/gpu=1``: counts, and memory in MB
    (sacctmgr prints memory with a unit, or in MB without one). Entries that cannot
    be read are left out."""
    result: dict[str, int] = {}
    if not isinstance(text, str):
        return result
    for entry in text.split(",")[:64]:
        name, sep, value = entry.strip().partition("=")
        match = _TRES_VALUE.match(value.strip())
        if not sep or not name or not match:
            continue
        number, unit = int(match.group(1)), match.group(2).upper()
        if name == "mem" or name.endswith("/mem"):
            result[name] = int(number * _MB[unit])
        elif not unit:
            result[name] = number
        else:
            # Large counts may print with a unit ("2K"), in steps of 1024.
            result[name] = number * 1024 ** ("KMGTP".index(unit) + 1)
    return result


def parse_qos(text: str) -> dict[str, Qos]:
    """Parse the output of :func:`qos_argv`, by QOS name. The first line for a
    name is kept."""
    table: dict[str, Qos] = {}
    for name, max_wall, max_tres, flags in _records(text, len(_QOS_FIELDS)):
        if not _name(name) or name in table:
            continue
        table[name] = Qos(
            name=name,
            max_wall=_wall(max_wall),
            max_tres_per_user=parse_tres(max_tres),
            flags=frozenset(f for f in (w.strip() for w in flags.split(",")) if _name(f)),
        )
    return table
