"""One ``squeue`` for every spawner of the hub.

Spawners register the jobs they care about; a single background task asks
``squeue`` about all of them at once, every ``interval`` seconds, or every
``fast_interval`` seconds while any job is starting or stopping. Spawners read
the latest answer, or wait for the next one; they never call ``squeue``
themselves. A failed or timed-out ``squeue`` changes nothing that is known
about a job: only a successful answer can say that a job has ended.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from .runner import SlurmCommandError, run_command
from .squeue import JobStatus, new_marker, parse_squeue, squeue_argv

__all__ = ["GONE", "JobWatcher", "shared_job_watcher"]

log = logging.getLogger(__name__)

#: The status of a job that a successful ``squeue`` no longer lists.
GONE = JobStatus(job_id="", state="GONE", node=None, reason=None, start_time=None, comment="")


@dataclass
class _Watch:
    fast: bool = False
    on_finished: Callable[[JobStatus], object] | None = None
    notified: bool = False


class JobWatcher:
    """The shared poller. Use :func:`shared_job_watcher` to get the hub's one."""

    def __init__(
        self,
        squeue: str = "squeue",
        interval: float = 30.0,
        fast_interval: float = 0.5,
        timeout: float = 15.0,
        runner=run_command,
    ):
        self.squeue = squeue
        self.interval = interval
        self.fast_interval = fast_interval
        self.timeout = timeout
        self._runner = runner
        self._watches: dict[str, _Watch] = {}
        self._status: dict[str, JobStatus] = {}
        self._task: asyncio.Task | None = None
        self._wake: asyncio.Event | None = None
        self._cond: asyncio.Condition | None = None
        self._waiters = 0
        #: monotonic time at which the last poll (successful or not) started
        self.last_poll_started = 0.0
        #: monotonic time at which the last successful poll started
        self.last_success_started = 0.0
        #: why the last poll failed, None if it succeeded
        self.last_error: str | None = None
        #: number of squeue calls made so far
        self.calls = 0

    # -- what spawners call -------------------------------------------------

    def watch(self, job_id: str, *, fast: bool = False, on_finished=None) -> None:
        """Follow ``job_id``; ``fast`` asks for quick polls while it starts or stops.

        ``on_finished(status)`` is called once when the job is seen to have ended.
        """
        job_id = str(job_id)
        entry = self._watches.get(job_id)
        if entry is None:
            entry = self._watches[job_id] = _Watch()
        entry.fast = fast
        if on_finished is not None:
            entry.on_finished = on_finished
        self._ensure_running()
        if fast:
            self._wake_loop()

    def set_fast(self, job_id: str, fast: bool) -> None:
        entry = self._watches.get(str(job_id))
        if entry is not None:
            entry.fast = fast
            if fast:
                self._wake_loop()

    def set_on_finished(self, job_id: str, callback) -> None:
        entry = self._watches.get(str(job_id))
        if entry is not None:
            entry.on_finished = callback

    def forget(self, job_id: str) -> None:
        self._watches.pop(str(job_id), None)
        self._status.pop(str(job_id), None)

    def status(self, job_id: str) -> JobStatus | None:
        """The last known status: a :class:`JobStatus`, :data:`GONE`, or None if unknown."""
        return self._status.get(str(job_id))

    @property
    def watched(self) -> list[str]:
        return list(self._watches)

    async def refresh(self, after: float | None = None, timeout: float | None = None) -> bool:
        """Wait for a poll that started after ``after`` (default: now) and return
        whether it succeeded. Concurrent callers share the same poll."""
        if after is None:
            after = time.monotonic()
        if not self._watches:
            return False
        self._ensure_running()
        cond = self._condition()
        self._waiters += 1
        try:
            self._wake_loop()
            async with cond:
                await asyncio.wait_for(
                    cond.wait_for(lambda: self.last_poll_started > after),
                    timeout if timeout is not None else self.timeout + self.fast_interval + 5,
                )
        finally:
            self._waiters -= 1
        return self.last_success_started > after

    # -- the loop -------------------------------------------------------------

    def _condition(self) -> asyncio.Condition:
        if self._cond is None:
            self._cond = asyncio.Condition()
        return self._cond

    def _wake_loop(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def _ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._wake = asyncio.Event()
            self._task = asyncio.ensure_future(self._run())

    def _wants_fast(self) -> bool:
        return self._waiters > 0 or any(w.fast for w in self._watches.values())

    async def _run(self) -> None:
        try:
            while self._watches:
                started = time.monotonic()
                await self.poll_once()
                delay = self.fast_interval if self._wants_fast() else self.interval
                self._wake.clear()
                remaining = delay - (time.monotonic() - started)
                if remaining > 0:
                    try:
                        await asyncio.wait_for(self._wake.wait(), remaining)
                    except asyncio.TimeoutError:
                        pass
                # However often spawners ask, polls stay fast_interval apart.
                gap = self.fast_interval - (time.monotonic() - started)
                if gap > 0:
                    await asyncio.sleep(gap)
        except asyncio.CancelledError:
            raise
        except Exception:  # pragma: no cover - a bug; keep the hub alive
            log.exception("The Slurm job watcher stopped on an unexpected error")
        finally:
            self._task = None

    async def poll_once(self) -> bool:
        """Ask squeue about every watched job once; True if it answered."""
        job_ids = list(self._watches)
        started = time.monotonic()
        if not job_ids:
            return True
        marker = new_marker()
        argv = squeue_argv(job_ids, marker, self.squeue)
        self.calls += 1
        ok = False
        try:
            result = await self._runner(argv, timeout=self.timeout, check=False)
            if result.returncode != 0:
                if "Invalid job id specified" in result.stderr:
                    # A single unknown id: squeue's way of saying "no such job".
                    jobs = {}
                else:
                    raise SlurmCommandError(
                        argv,
                        f"squeue exited with status {result.returncode}",
                        returncode=result.returncode,
                        stderr=result.stderr,
                    )
            else:
                jobs = parse_squeue(result.stdout, marker)
        except (SlurmCommandError, ValueError) as e:
            reason = e.reason if isinstance(e, SlurmCommandError) else str(e)
            if reason != self.last_error:
                log.warning("squeue failed, job states are not updated: %s", reason)
            self.last_error = reason
        else:
            ok = True
            if self.last_error is not None:
                log.info("squeue answers again")
            self.last_error = None
            self.last_success_started = started
            for job_id in job_ids:
                self._status[job_id] = jobs.get(job_id, GONE)
        self.last_poll_started = started
        if ok:
            self._notify_finished(job_ids)
        cond = self._condition()
        async with cond:
            cond.notify_all()
        return ok

    def _notify_finished(self, job_ids) -> None:
        for job_id in job_ids:
            entry = self._watches.get(job_id)
            status = self._status.get(job_id)
            if entry is None or status is None or entry.notified:
                continue
            if (status is GONE or status.finished) and entry.on_finished is not None:
                entry.notified = True
                try:
                    result = entry.on_finished(status)
                    if asyncio.iscoroutine(result):
                        asyncio.ensure_future(result)
                except Exception:
                    log.exception("Error in job-finished callback for job %s", job_id)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()


_watchers: dict[tuple, JobWatcher] = {}


def shared_job_watcher(squeue: str, interval: float, fast_interval: float, timeout: float):
    """The hub-wide watcher for these settings (one per event loop)."""
    loop = asyncio.get_running_loop()
    key = (id(loop), squeue, float(interval), float(fast_interval), float(timeout))
    watcher = _watchers.get(key)
    if watcher is None:
        # Forget watchers of loops that are gone (tests run several loops).
        for old_key in [k for k in _watchers if k[0] != id(loop)]:
            _watchers.pop(old_key).stop()
        watcher = _watchers[key] = JobWatcher(
            squeue=squeue, interval=interval, fast_interval=fast_interval, timeout=timeout
        )
    return watcher
