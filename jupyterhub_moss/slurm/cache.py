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

from ..metrics import FACTS_CACHE
from .shared import per_loop

__all__ = ["CacheEntry", "TimedCache", "shared_cache"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CacheEntry:
    """One answer, or why it could not be had (``value`` is then the last good one, if any)."""

    value: Any
    fetched_at: float  # time.monotonic()
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class TimedCache:
    """Answers of ``fetch(key)`` kept ``ttl`` seconds (``error_ttl`` after a failure)."""

    def __init__(
        self,
        name: str,
        fetch: Callable[[Hashable], Awaitable[Any]],
        ttl: float,
        error_ttl: float = 10.0,
        max_keys: int = 5000,
    ):
        self.name = name
        self.fetch = fetch
        self.ttl = ttl
        self.error_ttl = error_ttl
        self.max_keys = max_keys
        self._entries: OrderedDict[Hashable, CacheEntry] = OrderedDict()
        self._inflight: dict[Hashable, asyncio.Future] = {}

    def _fresh(self, entry: CacheEntry | None) -> bool:
        if entry is None:
            return False
        ttl = self.ttl if entry.ok else min(self.error_ttl, self.ttl)
        return time.monotonic() - entry.fetched_at < ttl

    def peek(self, key: Hashable = None) -> CacheEntry | None:
        """The latest answer for ``key``, fresh or not, without fetching."""
        return self._entries.get(key)

    async def get(self, key: Hashable = None) -> CacheEntry:
        entry = self._entries.get(key)
        if self._fresh(entry):
            FACTS_CACHE.labels(cache=self.name, result="hit").inc()
            self._entries.move_to_end(key)
            return entry
        pending = self._inflight.get(key)
        if pending is not None and not pending.done():
            FACTS_CACHE.labels(cache=self.name, result="joined").inc()
            return await asyncio.shield(pending)
        FACTS_CACHE.labels(cache=self.name, result="miss").inc()
        future = asyncio.ensure_future(self._fetch(key))
        self._inflight[key] = future
        try:
            return await asyncio.shield(future)
        finally:
            if self._inflight.get(key) is future and future.done():
                del self._inflight[key]

    async def _fetch(self, key: Hashable) -> CacheEntry:
        started = time.monotonic()
        try:
            value = await self.fetch(key)
        except Exception as e:  # a Slurm error, a timeout, an unparsable answer
            reason = getattr(e, "reason", None) or str(e) or type(e).__name__
            log.warning("%s could not be read: %s", self.name, reason)
            last = self._entries.get(key)
            entry = CacheEntry(last.value if last else None, started, error=str(reason))
        else:
            entry = CacheEntry(value, started)
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_keys:
            self._entries.popitem(last=False)
        return entry

    def invalidate(self, key: Hashable = None) -> None:
        self._entries.pop(key, None)


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
