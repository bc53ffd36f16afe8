"""Objects the hub holds once per event loop, and the turnstile.

:func:`per_loop` is the registry: one object for each (name, arguments) on the
running loop, made on first use; a new loop (a test's, a restarted hub's) gets new
ones, and those of loops that are closed are dropped.

:class:`Turnstile` lets the coroutines that wait on it go on one per turn of the
event loop.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable, Hashable
from typing import TypeVar

T = TypeVar("T")

# Keyed by the loop itself (an id may be reused by the next loop); a closed loop's
# objects are dropped when the next object is made. Outside a loop: one set shared.
_by_loop: dict[asyncio.AbstractEventLoop | None, dict[tuple, object]] = {}


def per_loop(name: str, factory: Callable[[], T], *arguments: Hashable) -> T:
    """The running loop's one object called ``name`` for these ``arguments``, made by
    ``factory()`` the first time (outside a loop: one shared by all such callers)."""
    try:
        loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    objects = _by_loop.get(loop)
    if objects is None:
        for old in [k for k in _by_loop if k is not None and k.is_closed()]:
            del _by_loop[old]
        objects = _by_loop[loop] = {}
    key = (name, arguments)
    found = objects.get(key)
    if found is None:
        found = objects[key] = factory()
    return found  # type: ignore[return-value]


class Turnstile:
    """Lets its waiters go on one per turn of the event loop, in the order they came.

    Many requests that wait for the same thing (the facts a spawn is checked
    against) wake in the same turn of the loop, and each then does its synchronous
    work in that turn: a class pressing Start together would hold the loop for all
    of them at once. Through a turnstile each goes on in a turn of its own, and the
    loop serves everything else between them. A waiter that comes when nobody waits
    goes on at once.
    """

    def __init__(self) -> None:
        self._waiting: collections.deque[asyncio.Future] = collections.deque()
        self._turning = False
        self._quiet = False  # a turn went by with nobody to let through

    async def pass_through(self) -> None:
        loop = asyncio.get_running_loop()
        if not self._turning:
            # This turn is ours; the next waiter goes on at the next one.
            self._turning = True
            loop.call_soon(self._next)
            return
        waiter = loop.create_future()
        self._waiting.append(waiter)
        await waiter

    def _next(self) -> None:
        loop = asyncio.get_running_loop()
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():  # a waiter cancelled meanwhile is skipped
                waiter.set_result(None)
                self._quiet = False
                loop.call_soon(self._next)
                return
        if not self._quiet:
            # The waiter let through last goes on in this very turn: one more turn
            # before a newcomer may go on at once.
            self._quiet = True
            loop.call_soon(self._next)
            return
        self._quiet = False
        self._turning = False

    @property
    def waiting(self) -> int:
        return sum(not w.done() for w in self._waiting)


def shared_turnstile(name: str) -> Turnstile:
    """The running loop's turnstile called ``name``."""
    return per_loop("turnstile", Turnstile, name)
