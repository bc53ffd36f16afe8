"""Answers of Slurm commands kept for a while, shared by every spawner and page of the hub.

Each :class:`TimedCache` holds one answer per key (one key for hub-wide facts such
as the QOS table, a user name for a user's associations). Readers that arrive while
an answer is being fetched wait for that fetch instead of starting their own. A
failed fetch is remembered for a short time, so that a controller or a database that
is down is not asked again by every page view; the last good answer stays readable
meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any

from .shared import per_loop

__all__ = ["CacheEntry", "TimedCache", "metric_counter", "shared_cache"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CacheEntry:
    """One answer, or why it could not be had (``value`` is then the last good one, if any)."""

    value: Any
    # time.monotonic() when the fetch began: an answer is never used longer than its
    # lifetime after Slurm was asked, however long Slurm took to answer.
    fetched_at: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class TimedCache:
    """Answers of ``fetch(key)`` kept ``ttl`` seconds (``error_ttl`` after a failure).

    The one cache of the package, with a lifetime, shared in-flight fetches and a
    bound (``max_keys``, the least recently read dropped first). ``ttl_of(value)``
    gives an answer a lifetime of its own (0: not kept); ``count(result)`` counts
    each read as ``hit``, ``joined`` or ``miss`` (a metric); ``clock`` is
    ``time.monotonic`` but in tests. With ``keep_errors`` (the default) a failed
    fetch is kept as an entry holding the last good value; without, the error
    reaches every reader of that fetch and nothing is kept.
    """

    def __init__(
        self,
        name: str,
        fetch: Callable[[Hashable], Awaitable[Any]] | None = None,
        ttl: float = 30.0,
        error_ttl: float = 10.0,
        max_keys: int = 5000,
        *,
        ttl_of: Callable[[Any], float] | None = None,
        count: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        keep_errors: bool = True,
    ):
        self.name = name
        self.fetch = fetch
        self.ttl = ttl
        self.error_ttl = error_ttl
        self.max_keys = max_keys
        self.ttl_of = ttl_of
        self.count = count or (lambda result: None)
        self.clock = clock
        self.keep_errors = keep_errors
        self._entries: OrderedDict[Hashable, CacheEntry] = OrderedDict()
        self._inflight: dict[Hashable, asyncio.Future] = {}

    def _lifetime(self, entry: CacheEntry) -> float:
        if not entry.ok:
            return min(self.error_ttl, self.ttl)
        return self.ttl if self.ttl_of is None else self.ttl_of(entry.value)

    def fresh(self, key: Hashable = None) -> CacheEntry | None:
        """The answer for ``key`` if it is still within its lifetime (no fetch)."""
        entry = self._entries.get(key)
        if entry is None or self.clock() - entry.fetched_at >= self._lifetime(entry):
            return None
        self._entries.move_to_end(key)
        return entry

    def peek(self, key: Hashable = None) -> CacheEntry | None:
        """The latest answer for ``key``, fresh or not, without fetching."""
        return self._entries.get(key)

    def fetching(self, key: Hashable = None) -> bool:
        """Whether a fetch of ``key`` is under way (a reader would join it)."""
        pending = self._inflight.get(key)
        return pending is not None and not pending.done()

    async def get(
        self, key: Hashable = None, fetch: Callable[[Hashable], Awaitable[Any]] | None = None
    ) -> CacheEntry:
        """The answer for ``key``: kept, joined, or fetched with ``fetch`` (default:
        the cache's own)."""
        entry = self.fresh(key)
        if entry is not None:
            self.count("hit")
            return entry
        if self.fetching(key):
            self.count("joined")
            return await asyncio.shield(self._inflight[key])
        self.count("miss")
        future = asyncio.ensure_future(self._fetch(key, fetch or self.fetch))
        self._inflight[key] = future
        try:
            return await asyncio.shield(future)
        finally:
            if self._inflight.get(key) is future and future.done():
                del self._inflight[key]

    async def _fetch(self, key: Hashable, fetch) -> CacheEntry:
        started = self.clock()
        try:
            value = await fetch(key)
        except Exception as e:  # a Slurm error, a timeout, an unparsable answer
            if not self.keep_errors:
                raise
            reason = getattr(e, "reason", None) or str(e) or type(e).__name__
            log.warning("%s could not be read: %s", self.name, reason)
            last = self._entries.get(key)
            entry = CacheEntry(last.value if last else None, started, error=str(reason))
        else:
            entry = CacheEntry(value, started)
            if self.ttl_of is not None and self.ttl_of(value) <= 0:
                # Not to be kept (an "unknown" answer): handed to this fetch's readers
                # alone, and no older answer stays in its place.
                self._entries.pop(key, None)
                return entry
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_keys:
            self._entries.popitem(last=False)
        return entry

    def invalidate(self, key: Hashable = None) -> None:
        self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)


def metric_counter(counter, **labels) -> Callable[[str], None]:
    """``count`` for a cache: the Prometheus ``counter`` with these labels and ``result``."""

    def count(result: str) -> None:
        counter.labels(**labels, result=result).inc()

    return count


def shared_cache(
    name: str,
    settings: tuple,
    factory: Callable[[], TimedCache],
) -> TimedCache:
    """The hub-wide cache called ``name`` for these ``settings`` (one per event loop).

    ``settings`` holds whatever the fetch depends on (command paths, timeouts), so
    that a change of configuration gets a cache of its own.
    """
    return per_loop(f"cache {name}", factory, settings)
