"""The messages of one spawn, for JupyterHub's pending page (``Spawner.progress``)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

__all__ = ["SpawnProgress"]


class SpawnProgress:
    """The events of the spawn under way: ``{"message", "progress", "html_message"}``.

    ``report()`` adds one (a message that repeats the last one is dropped), and logs
    it; ``follow()`` yields them all, then each new one, while ``active()`` holds.
    """

    def __init__(self, log: logging.Logger | logging.LoggerAdapter, log_name: str = ""):
        self.log = log
        self.log_name = log_name
        self.events: list[dict] = []
        self._changed: asyncio.Event | None = None

    def _event(self) -> asyncio.Event:
        if self._changed is None:
            self._changed = asyncio.Event()
        return self._changed

    def report(self, message: str, progress: int | None = None, html: str | None = None) -> None:
        if self.events and self.events[-1]["message"] == message:
            return
        event: dict = {"message": message}
        if html:
            event["html_message"] = html
        if progress is not None:
            event["progress"] = progress
        self.events.append(event)
        self.log.info("%s: %s", self.log_name, message)
        self.wake()

    def wake(self) -> None:
        """Have followers look again (the spawn may have ended)."""
        if self._changed is not None:
            self._changed.set()

    async def follow(self, active: Callable[[], bool]) -> AsyncIterator[dict]:
        seen = 0
        while True:
            while seen < len(self.events):
                yield self.events[seen]
                seen += 1
            if not active():
                return
            changed = self._event()
            changed.clear()
            try:
                await asyncio.wait_for(changed.wait(), 5)
            except asyncio.TimeoutError:
                pass
