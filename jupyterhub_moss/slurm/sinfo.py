"""What the cluster has: parsing ``sinfo`` and a cache shared by the whole hub."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from functools import lru_cache

from ..metrics import SINFO_CACHE
from .cache import CacheEntry, TimedCache, metric_counter
from .runner import run_command
from .shared import per_loop
from .timefmt import UNLIMITED, parse_duration

__all__ = [
    "PartitionResources",
    "SinfoCache",
    "SinfoSnapshot",
    "parse_gres",
    "parse_gres_types",
    "parse_sinfo",
    "sinfo_argv",
]

log = logging.getLogger(__name__)

_FIELDS = [
    "PartitionName",
    "Available",
    "CPUsState",
    "NodeAIOT",
    "CPUs",
    "Memory",
    "Gres",
    "GresUsed",
    "Time",
]


def sinfo_argv(sinfo: str = "sinfo") -> list[str]:
    """One line per partition and group of identical nodes, fields split by ``|``.
    ``--all``: also the partitions Slurm hides from the account that asks (``Hidden``,
    or ``AllowGroups`` it is not in), as it does from an unprivileged hub."""
    fmt = ",".join(f"{name}:|" for name in _FIELDS)
    return [sinfo, "--all", "--noheader", "--exact", "--Format", fmt]


@dataclass
class PartitionResources:
    """A partition as ``sinfo`` sees it, summed over its node groups."""

    name: str
    available: bool = True
    nodes_total: int = 0
    nodes_idle: int = 0
    cpus_total: int = 0
    cpus_idle: int = 0
    max_cpus_per_node: int = 0
    max_memory_mb: int = 0
    gpus_total: int = 0
    gpus_used: int = 0
    max_gpus_per_node: int = 0
    max_time: int = UNLIMITED
    gpu_types: list[str] = field(default_factory=list)
    # Per GPU type (None: GPUs without a type); a type absent counts 0.
    gpus_by_type_total: dict[str | None, int] = field(default_factory=dict)
    gpus_by_type_used: dict[str | None, int] = field(default_factory=dict)
    max_gpus_per_node_by_type: dict[str | None, int] = field(default_factory=dict)

    @property
    def gpus_idle(self) -> int:
        return max(self.gpus_total - self.gpus_used, 0)

    @property
    def gpus_by_type_idle(self) -> dict[str | None, int]:
        """Idle GPUs of each type the partition has."""
        return {
            gpu_type: max(total - self.gpus_by_type_used.get(gpu_type, 0), 0)
            for gpu_type, total in self.gpus_by_type_total.items()
        }

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "available": self.available,
            "nodes_total": self.nodes_total,
            "nodes_idle": self.nodes_idle,
            "cpus_total": self.cpus_total,
            "cpus_idle": self.cpus_idle,
            "max_cpus_per_node": self.max_cpus_per_node,
            "max_memory_mb": self.max_memory_mb,
            "gpus_total": self.gpus_total,
            "gpus_idle": self.gpus_idle,
            "max_gpus_per_node": self.max_gpus_per_node,
            "max_time": self.max_time,
        }


# "gpu:2", "gpu:V100:2", "gpu:(null):0"; suffixes such as "(S:0-1)" or "(IDX:0)" follow.
_GRES_ITEM = re.compile(r"^(?P<name>[^:()]+)(?::(?P<type>\(null\)|[^:()]+))?:(?P<count>[0-9]+)")
_GRES_SPLIT = re.compile(r",(?![^(]*\))")  # commas outside parentheses


@lru_cache(maxsize=4096)
def _gres_entries(text: str, resource: str) -> tuple[tuple[str | None, int], ...]:
    """The (type, count) entries of ``resource`` in a GRES string, in order.

    An entry without a type, or with Slurm's ``(null)`` type, has type None.
    (Clusters repeat the same few GRES strings on every line, hence the cache.)
    """
    text = text.strip()
    if not text or text in ("(null)", "N/A"):
        return ()
    entries: list[tuple[str | None, int]] = []
    for entry in _GRES_SPLIT.split(text):
        match = _GRES_ITEM.match(entry.strip())
        if not match or match.group("name") != resource:
            continue
        gpu_type = match.group("type")
        entries.append((None if gpu_type == "(null)" else gpu_type, int(match.group("count"))))
    return tuple(entries)


def parse_gres(text: str, resource: str = "gpu") -> tuple[int, tuple[str, ...]]:
    """Count of ``resource`` in a GRES string such as ``gpu:V100:2(S:0-1),gpu:A100:1``.

    Returns the count and the types named.
    """
    count = 0
    types: list[str] = []
    for gpu_type, number in _gres_entries(text, resource):
        count += number
        if gpu_type and gpu_type not in types:
            types.append(gpu_type)
    return count, tuple(types)


# The parse cache, under the name callers (bench/steady.py) clear it by.
parse_gres.cache_clear = _gres_entries.cache_clear  # type: ignore[attr-defined]


def parse_gres_types(text: str, resource: str = "gpu") -> dict[str | None, int]:
    """Count of ``resource`` by type in a GRES string (sinfo's Gres or GresUsed).

    ``gpu:A100-SXM4-40GB:2,gpu:a100_1g.5gb:3`` gives ``{"A100-SXM4-40GB": 2,
    "a100_1g.5gb": 3}``; untyped ``gpu:2`` and ``gpu:(null):0`` count under None.
    Suffixes such as ``(S:0-1)`` and ``(IDX:0)`` are ignored; a type named twice
    is summed; entries of other resources are left out.
    """
    counts: dict[str | None, int] = {}
    for gpu_type, number in _gres_entries(text, resource):
        counts[gpu_type] = counts.get(gpu_type, 0) + number
    return counts


def _add_counts(into: dict[str | None, int], counts: dict[str | None, int], nodes: int) -> None:
    """Add ``counts`` per node for ``nodes`` nodes; a type with nothing to add is left out."""
    for gpu_type, number in counts.items():
        if number and nodes:
            into[gpu_type] = into.get(gpu_type, 0) + number * nodes


def _idle_total(text: str) -> tuple[int, int]:
    """Idle and total from sinfo's "allocated/idle/other/total" counts."""
    allocated, idle, other, total = text.split("/")  # ValueError unless four fields
    return int(idle), int(total)


def _int(text: str) -> int:
    # "64000+" is printed when a line groups nodes of several sizes.
    return int(text.rstrip("+") or 0)


def parse_sinfo(text: str) -> dict[str, PartitionResources]:
    """Parse the output of :func:`sinfo_argv`.

    A partition whose nodes differ comes as several lines; they are summed
    (counts) or maximised (per-node sizes), never overwritten.
    Raises ``ValueError`` on a line that does not have the expected fields.
    """
    partitions: dict[str, PartitionResources] = {}
    expected = len(_FIELDS)
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        fields = line.split("|")
        if fields[-1] == "":
            fields.pop()
        if len(fields) != expected:
            raise ValueError(f"unexpected sinfo line: {line[:200]!r}")
        name, avail, cpus_state, nodes_state, cpus, memory, gres, gres_used, time_limit = fields
        try:
            cpus_idle, cpus_total = _idle_total(cpus_state)
            nodes_idle, nodes_total = _idle_total(nodes_state)
            cpus_per_node = _int(cpus)
            memory_mb = _int(memory)
        except ValueError:
            raise ValueError(f"unexpected sinfo line: {line[:200]!r}") from None
        part = partitions.get(name)
        if part is None:
            part = partitions[name] = PartitionResources(name=name)
            part.available = avail == "up"
            try:
                part.max_time = parse_duration(time_limit)
            except ValueError:
                part.max_time = UNLIMITED
        part.cpus_total += cpus_total
        part.cpus_idle += cpus_idle
        part.nodes_total += nodes_total
        part.nodes_idle += nodes_idle
        if cpus_per_node > part.max_cpus_per_node:
            part.max_cpus_per_node = cpus_per_node
        if memory_mb > part.max_memory_mb:
            part.max_memory_mb = memory_mb
        # parse_gres(gres), by type: the same count and the same types in the same order.
        per_type = parse_gres_types(gres)
        gpus_per_node = sum(per_type.values())
        if gpus_per_node:
            part.gpus_total += gpus_per_node * nodes_total
            part.max_gpus_per_node = max(part.max_gpus_per_node, gpus_per_node)
            for gpu_type in per_type:
                if gpu_type and gpu_type not in part.gpu_types:
                    part.gpu_types.append(gpu_type)
        for gpu_type, number in per_type.items():
            if number > part.max_gpus_per_node_by_type.get(gpu_type, 0):
                part.max_gpus_per_node_by_type[gpu_type] = number
        _add_counts(part.gpus_by_type_total, per_type, nodes_total)
        # A line groups nodes that print the same values: GresUsed is per node.
        used_per_type = parse_gres_types(gres_used)
        part.gpus_used += sum(used_per_type.values()) * nodes_total
        _add_counts(part.gpus_by_type_used, used_per_type, nodes_total)
    return partitions


@dataclass(frozen=True)
class SinfoSnapshot:
    """The partitions at one moment, or why they could not be read."""

    partitions: dict[str, PartitionResources]
    fetched_at: float  # time.monotonic() of the call
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class SinfoCache:
    """One ``sinfo`` per ``ttl`` seconds for the whole hub, on the package's one
    cache (:class:`~.cache.TimedCache`): readers arriving while a call is under way
    wait for that call; a failed call is remembered for ``error_ttl`` seconds, so
    that a controller that is down is not asked again by every page view, and the
    last good answer stays available meanwhile.
    """

    def __init__(
        self,
        argv,
        ttl: float = 30.0,
        timeout: float = 15.0,
        error_ttl: float = 5.0,
        runner=run_command,
    ):
        self.argv = list(argv)
        self.runner = runner
        self.timeout = timeout
        self._cache = TimedCache(
            "sinfo (the partitions' resources)",
            self._fetch,
            ttl=ttl,
            error_ttl=error_ttl,
            max_keys=1,
            count=metric_counter(SINFO_CACHE),
        )
        self._made: tuple[CacheEntry, SinfoSnapshot] | None = None

    async def _fetch(self, _key) -> dict[str, PartitionResources]:
        result = await self.runner(self.argv, timeout=self.timeout)
        return parse_sinfo(result.stdout)

    def _snapshot(self, entry: CacheEntry | None) -> SinfoSnapshot | None:
        """The answer as a snapshot: the same object for the same answer (the spawn
        page's rendering is kept by it)."""
        if entry is None:
            return None
        made = self._made
        if made is None or made[0] is not entry:
            made = self._made = (
                entry,
                SinfoSnapshot(entry.value or {}, entry.fetched_at, entry.error),
            )
        return made[1]

    @property
    def current(self) -> SinfoSnapshot | None:
        """The latest answer or failure, without calling sinfo."""
        return self._snapshot(self._cache.peek())

    async def get(self) -> SinfoSnapshot:
        """The cached snapshot, fetched again when older than the TTL."""
        return self._snapshot(await self._cache.get())

    def invalidate(self) -> None:
        """Forget the cached answer (the next reader calls ``sinfo``)."""
        self._cache.invalidate()


def shared_sinfo_cache(argv, ttl: float, timeout: float, client=None) -> SinfoCache:
    """The hub-wide cache for this command line (one per event loop), running
    ``sinfo`` through ``client`` (a :class:`~.client.SlurmClient`; equal clients
    share a cache)."""
    argv, ttl, timeout = tuple(argv), float(ttl), float(timeout)

    def make():
        runner = client.run if client is not None else run_command
        return SinfoCache(list(argv), ttl=ttl, timeout=timeout, runner=runner)

    return per_loop("sinfo cache", make, argv, ttl, timeout, client)
