"""Cancellations that Slurm refused for now (controller down): tried again later.

JupyterHub forgets a server once stop() has returned or failed, so a job whose
scancel failed would otherwise keep running with nobody to end it.
"""

from __future__ import annotations

import asyncio
import logging

from .client import SlurmClient
from .runner import SlurmCommandError
from .shared import per_loop

__all__ = ["ALREADY_GONE", "CancelRetries", "shared_cancel_retries"]

log = logging.getLogger(__name__)

#: scancel messages that mean there is nothing left to cancel
ALREADY_GONE = ("already completing or completed", "Invalid job id specified")


class CancelRetries:
    """Run each pending ``scancel`` again every ``interval`` s until it succeeds."""

    def __init__(self, interval: float = 30.0, attempts: int = 120, timeout: float = 30.0):
        self.interval = interval
        self.attempts = attempts
        self.timeout = timeout
        self._pending: dict[str, tuple[list[str], dict | None, SlurmClient, int]] = {}
        self._task: asyncio.Task | None = None

    @property
    def pending(self) -> list[str]:
        return list(self._pending)

    def add(
        self,
        job_id: str,
        argv: list[str],
        env: dict[str, str] | None = None,
        client: SlurmClient | None = None,
    ) -> None:
        """Run ``argv`` (``scancel``, as its user) again through ``client`` until it
        succeeds."""
        log.warning("Will try again to cancel Slurm job %s every %g s", job_id, self.interval)
        self._pending[str(job_id)] = (list(argv), env, client or SlurmClient(), 0)
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while self._pending:
            await asyncio.sleep(self.interval)
            for job_id, (argv, env, client, tries) in list(self._pending.items()):
                try:
                    await client.run(argv, timeout=self.timeout, env=env)
                except SlurmCommandError as e:
                    if not any(text in e.stderr for text in ALREADY_GONE):
                        if tries + 1 >= self.attempts:
                            log.error("Gave up cancelling Slurm job %s: %s", job_id, e)
                            del self._pending[job_id]
                        else:
                            self._pending[job_id] = (argv, env, client, tries + 1)
                        continue
                log.info("Slurm job %s is cancelled", job_id)
                del self._pending[job_id]


def shared_cancel_retries() -> CancelRetries:
    """The hub's one list of cancellations to try again (one per event loop)."""
    return per_loop("cancel retries", CancelRetries)
