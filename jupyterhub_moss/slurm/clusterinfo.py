"""What the controller says about the cluster: ``scontrol show config`` (is there
accounting, and what does it enforce) and ``scontrol --oneliner show partition``
(who may use each partition, and its limits).

Everything here is pure: argument lists to run, and parsers of their output. The
parsers read what they know and leave the rest: an odd line or field is skipped,
never a reason to raise, and the work done is bounded whatever the input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .timefmt import UNLIMITED, parse_duration

__all__ = [
    "ClusterConfig",
    "PartitionInfo",
    "config_argv",
    "expand_hostlist",
    "parse_config",
    "parse_partitions",
    "partition_refusal",
    "partitions_argv",
]

#: At most this many host names come out of one host list (a larger one is refused).
MAX_HOSTS = 65536
#: At most this many partitions are read; a real cluster has a few dozen.
MAX_PARTITIONS = 4096
#: Lines longer than this are not read (``scontrol show config`` lines are short).
MAX_LINE = 65536

#: The storage type that means the cluster keeps accounts, associations and QOS.
SLURMDBD = "accounting_storage/slurmdbd"


def config_argv(scontrol: str = "scontrol") -> list[str]:
    """The controller's configuration, one ``Name = value`` per line."""
    return [scontrol, "show", "config"]


def partitions_argv(scontrol: str = "scontrol") -> list[str]:
    """Every partition, one line each, as ``Name=value`` fields; hidden ones too
    (``--all``: see :func:`~jupyterhub_moss.slurm.sinfo.sinfo_argv`)."""
    return [scontrol, "--all", "--oneliner", "show", "partition"]


@dataclass(frozen=True)
class ClusterConfig:
    """What ``scontrol show config`` says about accounting."""

    accounting: bool  # associations and QOS are kept by slurmdbd
    enforce: frozenset[str]  # AccountingStorageEnforce, lower case: associations, limits, qos...
    cluster: str  # ClusterName ("" if not given)
    version: str  # SLURM_VERSION ("" if not given)
    slurm_user: str = ""  # SlurmUser's name, the account slurmctld runs as ("" if not given)

    @property
    def enforces_associations(self) -> bool:
        """Whether Slurm refuses jobs of users or accounts without an association."""
        # "limits" and "qos" imply "associations" in Slurm.
        return self.accounting and bool(self.enforce & {"associations", "limits", "qos"})


_CONFIG_LINE = re.compile(r"^([A-Za-z][A-Za-z0-9_]{0,80})\s*=\s?(.*)\Z")


def parse_config(text: str) -> ClusterConfig:
    """Parse the output of :func:`config_argv`.

    Later sections (cgroup, MPI, node features) reuse the ``Name = value`` form;
    the first value given for a name is the one kept.
    """
    values: dict[str, str] = {}
    wanted = {
        "AccountingStorageType",
        "AccountingStorageEnforce",
        "ClusterName",
        "SLURM_VERSION",
        "SlurmUser",
    }
    for line in _lines(text):
        match = _CONFIG_LINE.match(line.strip())
        if match and match.group(1) in wanted and match.group(1) not in values:
            values[match.group(1)] = match.group(2).strip()
    enforce = frozenset(
        word
        for word in (
            w.strip().lower() for w in values.get("AccountingStorageEnforce", "").split(",")
        )
        if word and word != "none"
    )
    cluster = values.get("ClusterName", "")
    return ClusterConfig(
        accounting=values.get("AccountingStorageType", "").lower() == SLURMDBD,
        enforce=enforce,
        cluster="" if cluster == "(null)" else cluster,
        version=values.get("SLURM_VERSION", ""),
        # "slurm(64030)": the name before the uid
        slurm_user=values.get("SlurmUser", "").split("(", 1)[0].strip(),
    )


@dataclass(frozen=True)
class PartitionInfo:
    """A partition as the controller has it. ``None`` in an allow/deny list means
    "not set" (``ALL`` for the allow lists, nothing denied for the deny lists)."""

    name: str
    allow_groups: frozenset[str] | None = None
    allow_accounts: frozenset[str] | None = None
    allow_qos: frozenset[str] | None = None
    deny_accounts: frozenset[str] | None = None
    deny_qos: frozenset[str] | None = None
    qos: str | None = None  # the partition's own QOS, None for N/A
    max_time: int | None = None  # seconds; None for UNLIMITED
    nodes: frozenset[str] = frozenset()


def _lines(text: str):
    if not isinstance(text, str):
        return
    for line in text.splitlines():
        if len(line) <= MAX_LINE:
            yield line


def _name_list(value: str | None, *, all_is_none: bool) -> frozenset[str] | None:
    if value is None:
        return None
    value = value.strip()
    if all_is_none and value.upper() == "ALL":
        return None
    if value in ("", "(null)"):
        # An allow list that prints empty allows nobody; a deny list denies nobody.
        return frozenset() if all_is_none else None
    return frozenset(word for word in (w.strip() for w in value.split(",")) if word)


def _max_time(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        seconds = parse_duration(value)
    except ValueError:
        return None
    return None if seconds == UNLIMITED else seconds


def _partition(fields: dict[str, str]) -> PartitionInfo:
    qos = fields.get("QoS", "").strip()
    try:
        nodes = frozenset(expand_hostlist(fields.get("Nodes", "")))
    except ValueError:
        nodes = frozenset()
    return PartitionInfo(
        name=fields["PartitionName"],
        allow_groups=_name_list(fields.get("AllowGroups"), all_is_none=True),
        allow_accounts=_name_list(fields.get("AllowAccounts"), all_is_none=True),
        allow_qos=_name_list(fields.get("AllowQos"), all_is_none=True),
        deny_accounts=_name_list(fields.get("DenyAccounts"), all_is_none=False),
        deny_qos=_name_list(fields.get("DenyQos"), all_is_none=False),
        qos=None if qos in ("", "N/A", "(null)") else qos,
        max_time=_max_time(fields.get("MaxTime")),
        nodes=nodes,
    )


def parse_partitions(text: str) -> dict[str, PartitionInfo]:
    """Parse the output of :func:`partitions_argv`, by partition name.

    Each record starts at its ``PartitionName=`` field, so the multi-line form
    (without ``--oneliner``) reads the same. Values hold no spaces in this output;
    a word without ``=`` is skipped.
    """
    partitions: dict[str, PartitionInfo] = {}
    current: dict[str, str] | None = None

    def close():
        if current and current.get("PartitionName") and len(partitions) < MAX_PARTITIONS:
            partitions.setdefault(current["PartitionName"], _partition(current))

    for line in _lines(text):
        for word in line.split():
            key, sep, value = word.partition("=")
            if not sep:
                continue
            if key == "PartitionName":
                close()
                current = {}
            if current is not None:
                current.setdefault(key, value)
    close()
    return partitions


_RANGE = re.compile(r"^([0-9]{1,9})(?:-([0-9]{1,9}))?\Z")


def _split_top(text: str) -> list[str]:
    """Split a host list on the commas outside brackets."""
    items: list[str] = []
    depth = 0
    start = 0
    for i, ch in enumerate(text):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth < 0:
                raise ValueError(f"unbalanced ']' in host list {text[:80]!r}")
        elif ch == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    if depth:
        raise ValueError(f"unbalanced '[' in host list {text[:80]!r}")
    items.append(text[start:])
    return [item.strip() for item in items if item.strip()]


def _bracket(text: str) -> list[str]:
    """The numbers of one bracket's content such as ``1-3,07,10-11``."""
    numbers: list[str] = []
    for part in text.split(","):
        match = _RANGE.match(part.strip())
        if not match:
            raise ValueError(f"{part[:40]!r} is not a number or range of numbers")
        low_text, high_text = match.group(1), match.group(2)
        low = int(low_text)
        high = int(high_text) if high_text is not None else low
        if high < low:
            raise ValueError(f"range {part[:40]!r} goes down")
        if len(numbers) + high - low + 1 > MAX_HOSTS:
            raise ValueError(f"a host list may name at most {MAX_HOSTS} hosts")
        width = len(low_text)  # "01-10" keeps two digits
        numbers.extend(f"{n:0{width}d}" for n in range(low, high + 1))
    return numbers


def _expand_item(item: str) -> list[str]:
    names = [""]
    rest = item
    while rest:
        open_at = rest.find("[")
        if open_at < 0:
            names = [name + rest for name in names]
            break
        close_at = rest.find("]", open_at)
        if close_at < 0:
            raise ValueError(f"unbalanced '[' in host list item {item[:80]!r}")
        prefix, inner, rest = rest[:open_at], rest[open_at + 1 : close_at], rest[close_at + 1 :]
        numbers = _bracket(inner)
        if len(names) * len(numbers) > MAX_HOSTS:
            raise ValueError(f"a host list may name at most {MAX_HOSTS} hosts")
        names = [name + prefix + number for name in names for number in numbers]
    return names


def expand_hostlist(text: str) -> list[str]:
    """The host names in a Slurm host list such as ``node[1-2,4],gpu[01-02]``.

    Zero padding is kept (``gpu[01-02]`` gives ``gpu01``, ``gpu02``); several
    brackets in one name multiply (``r[1-2]n[1-2]``). ``(null)`` and ``""`` give no
    hosts. Raises ``ValueError`` on a malformed list or one of more than
    :data:`MAX_HOSTS` hosts.
    """
    if not isinstance(text, str):
        raise ValueError("a host list must be a string")
    text = text.strip()
    if text in ("", "(null)"):
        return []
    if len(text) > MAX_LINE:
        raise ValueError("host list too long")
    hosts: list[str] = []
    seen: set[str] = set()
    for item in _split_top(text):
        for name in _expand_item(item):
            if name not in seen:
                seen.add(name)
                hosts.append(name)
        if len(hosts) > MAX_HOSTS:
            raise ValueError(f"a host list may name at most {MAX_HOSTS} hosts")
    return hosts


def _names(values) -> str:
    return ", ".join(sorted(values)) or "none"


def partition_refusal(
    info: PartitionInfo | None,
    groups,
    account: str | None,
    qos: str | None,
) -> str | None:
    """Why Slurm would refuse a job of this user in partition ``info`` with this
    account and QOS, in words; None if the partition's access lists let it in.

    ``groups`` are the user's Unix group names. ``account`` or ``qos`` None leaves
    that check out (not chosen, or not known). Only the partition's own lists are
    looked at here: associations and QOS limits are :mod:`jupyterhub_moss.choices.accounts`'s.
    As Slurm does, an allow list set makes the matching deny list ignored.
    """
    if info is None:
        return None
    name = info.name
    if info.allow_groups is not None and not (info.allow_groups & frozenset(groups or ())):
        return (
            f"partition {name!r} is open only to members of the Unix groups: "
            f"{_names(info.allow_groups)}"
        )
    if account is not None:
        if info.allow_accounts is not None:
            if account not in info.allow_accounts:
                return (
                    f"partition {name!r} is open only to the accounts: "
                    f"{_names(info.allow_accounts)}"
                )
        elif info.deny_accounts is not None and account in info.deny_accounts:
            return f"partition {name!r} is closed to account {account!r}"
    if qos is not None:
        if info.allow_qos is not None:
            if qos not in info.allow_qos:
                return f"partition {name!r} is open only to the QOS: {_names(info.allow_qos)}"
        elif info.deny_qos is not None and qos in info.deny_qos:
            return f"partition {name!r} is closed to QOS {qos!r}"
    return None
