"""One poll of Slurm for every spawner of the hub.

Spawners register the jobs they care about; a single background task asks Slurm
about all of them at once, every ``interval`` seconds, or every
``fast_interval`` seconds while any job is starting or stopping (every
``start_interval`` seconds for the few seconds in which a job runs but its server
has not reported its port yet). Once every starting job has been pending for
``pending_grace`` seconds, polls slow down to every ``pending_interval`` seconds:
a job that waits for free nodes may wait for hours. Spawners read the latest
answer, or wait for the next one; they never ask Slurm themselves.

What one poll costs slurmctld depends on the hub's own jobs, not on the size of
the queue: each job is looked up by its id (one ``scontrol`` process for all of
them, see :mod:`.scontrol`), never by listing the whole job table. On Slurm
>= 23.02, running servers whose details are known are asked for their state alone
(``squeue --only-job-state``), the cheapest request there is; any change brings a
detailed look, and so does every :data:`DETAILS_EVERY`-th poll of a job, so that a
changed end time (``scontrol update TimeLimit=``) is seen. Between two detailed
looks a job keeps the details (end time, partition, CPUs) of the last one.

A failed or timed-out query changes nothing that is known about a job: only a
successful answer can say that a job has ended. Every job belongs to a user, and a
watch is kept by (owner, job id): job ids start again when slurmctld loses its
state, so two users' spawners may follow the same id, each its own job. Slurm is
asked about the id once; for a watch whose owner the answer does not name, the job
is gone.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from ..metrics import WATCHER_POLL_DURATION, WATCHER_POLL_JOBS
from .runner import SlurmCommandError, run_command
from .scontrol import AMBIGUOUS, parse_show_jobs, show_jobs_argv, show_jobs_input
from .scontrol import new_marker as new_scontrol_marker
from .squeue import (
    JobStatus,
    new_marker,
    parse_job_states,
    parse_slurm_version,
    parse_squeue,
    squeue_argv,
    squeue_states_argv,
)

__all__ = ["DETAILS_EVERY", "GONE", "JobWatcher", "shared_job_watcher"]

log = logging.getLogger(__name__)

#: Each pause is shortened by up to this fraction, at random: a fixed period would
#: keep every poll at the same phase of slurmctld's own periodic work (and of other
#: hubs' polls), and pay for any collision with it every time.
PAUSE_JITTER = 0.1

#: Settled jobs are asked about in detail (not for their state alone) on every this
#: many polls, all in the same poll (one process still): an end time may have changed.
DETAILS_EVERY = 10

#: The status of a job that Slurm, answering, no longer knows (or knows as someone else's).
GONE = JobStatus(job_id="", state="GONE", node=None, reason=None, start_time=None, comment="")


@dataclass
class _Watch:
    fast: bool = False
    on_finished: Callable[[JobStatus], object] | None = None
    notified: bool = False
    seen: bool = False  # listed by a successful query at least once
    pending_since: float | None = None  # monotonic time it was first seen PENDING
    owner: str | None = None  # the user whose job it must be
    verified: bool = False  # a detailed answer has shown it is the owner's
    foreign_logged: bool = False


class JobWatcher:
    """The shared poller. Use :func:`shared_job_watcher` to get the hub's one."""

    def __init__(
        self,
        squeue: str = "squeue",
        scontrol: str = "scontrol",
        interval: float = 30.0,
        fast_interval: float = 0.5,
        timeout: float = 15.0,
        start_interval: float | None = None,
        pending_interval: float | None = None,
        pending_grace: float = 30.0,
        runner=run_command,
    ):
        self.squeue = squeue
        self.scontrol = scontrol
        #: whether this Slurm answers ``squeue --only-job-state`` (None: not asked yet)
        self._states_supported: bool | None = None
        self._state_polls = 0  # polls answered by states alone since all were looked at in detail
        self.interval = interval
        self.fast_interval = fast_interval
        self.start_interval = fast_interval if start_interval is None else start_interval
        self.pending_interval = fast_interval if pending_interval is None else pending_interval
        self.pending_grace = pending_grace
        self.timeout = timeout
        self._runner = runner
        #: the watches, by (owner, job id)
        self._watches: dict[tuple[str | None, str], _Watch] = {}
        #: what each watch last learnt (GONE for another user's job under its id)
        self._status: dict[tuple[str | None, str], JobStatus] = {}
        #: Slurm's last answer about each job id, whoever's job it is
        self._answers: dict[str, JobStatus] = {}
        self._task: asyncio.Task | None = None
        self._wake: asyncio.Event | None = None
        self._poll_done: asyncio.Event | None = None
        self._callbacks: set[asyncio.Future] = set()
        #: the jobs that callers of refresh() wait for (None: any job)
        self._waiting: Counter[str | None] = Counter()
        #: monotonic time at which the last poll (successful or not) finished
        self.last_poll_finished = 0.0
        #: monotonic time at which the last successful poll finished
        self.last_success_finished = 0.0
        #: why the last poll failed, None if it succeeded
        self.last_error: str | None = None
        #: number of polls made so far
        self.calls = 0

    # -- what spawners call -------------------------------------------------

    def watch(
        self, job_id: str, *, fast: bool = False, on_finished=None, owner: str | None = None
    ) -> None:
        """Follow ``owner``'s job ``job_id``; ``fast`` asks for quick polls while it
        starts or stops.

        ``on_finished(status)`` is called once when the job is seen to have ended.
        ``owner``: the user whose job it must be; a job of anyone else under that
        id counts as :data:`GONE` for this watch. Each (owner, job id) is a watch of
        its own.
        """
        key = (owner, str(job_id))
        entry = self._watches.get(key)
        if entry is None:
            entry = self._watches[key] = _Watch(owner=owner)
        entry.fast = fast
        if on_finished is not None:
            entry.on_finished = on_finished
        self._ensure_running()
        if fast:
            self._wake_loop()

    def set_fast(self, job_id: str, fast: bool, owner: str | None = None) -> None:
        entry = self._watches.get((owner, str(job_id)))
        if entry is not None:
            entry.fast = fast
            if fast:
                self._wake_loop()

    def set_on_finished(self, job_id: str, callback, owner: str | None = None) -> None:
        entry = self._watches.get((owner, str(job_id)))
        if entry is not None:
            entry.on_finished = callback

    def forget(self, job_id: str, owner: str | None = None) -> None:
        """Stop following ``owner``'s job ``job_id`` (another owner's watch of the same
        id goes on)."""
        job_id = str(job_id)
        self._watches.pop((owner, job_id), None)
        self._status.pop((owner, job_id), None)
        if job_id not in self.watched:
            self._answers.pop(job_id, None)

    def status(self, job_id: str, owner: str | None = None) -> JobStatus | None:
        """The last known status of ``owner``'s job: a :class:`JobStatus`,
        :data:`GONE`, or None if unknown."""
        return self._status.get((owner, str(job_id)))

    def was_seen(self, job_id: str, owner: str | None = None) -> bool:
        """Whether a successful poll has ever found ``owner``'s job."""
        entry = self._watches.get((owner, str(job_id)))
        return entry is not None and entry.seen

    @property
    def watched(self) -> list[str]:
        """The job ids followed, each once."""
        return list(dict.fromkeys(job_id for _, job_id in self._watches))

    def is_watched(self, job_id: str, owner: str | None = None) -> bool:
        return (owner, str(job_id)) in self._watches

    @property
    def refresh_timeout(self) -> float:
        """Long enough for a poll under way and a full next one."""
        return 2 * self.timeout + max(self.fast_interval, self.pending_interval) + 5

    async def refresh(
        self,
        after: float | None = None,
        timeout: float | None = None,
        job_id: str | None = None,
    ) -> bool:
        """Wait for a poll that finishes after ``after`` (default: now); return whether
        it succeeded. Concurrent callers share the same poll.

        The poll comes at once, unless the caller waits for ``job_id`` only and that
        job has been pending for long: then it comes at the slower pending pace.
        Never raises on a slow or failing Slurm: it returns False after ``timeout``
        (default: :attr:`refresh_timeout`).
        """
        if after is None:
            after = time.monotonic()
        if timeout is None:
            timeout = self.refresh_timeout
        deadline = time.monotonic() + timeout
        key = None if job_id is None else str(job_id)
        self._waiting[key] += 1
        try:
            while self.last_poll_finished <= after:
                if not self._watches:
                    # Nothing to ask about: do not let a caller's loop spin.
                    await asyncio.sleep(self.fast_interval)
                    return False
                self._ensure_running()
                done = self._poll_done_event()
                self._wake_loop()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                try:
                    await asyncio.wait_for(done.wait(), remaining)
                except asyncio.TimeoutError:
                    return False
        finally:
            self._waiting[key] -= 1
            if self._waiting[key] <= 0:
                del self._waiting[key]
        return self.last_success_finished > after

    # -- the loop -------------------------------------------------------------

    def _poll_done_event(self) -> asyncio.Event:
        if self._poll_done is None:
            self._poll_done = asyncio.Event()
        return self._poll_done

    def _announce_poll(self) -> None:
        """Wake everyone waiting for a poll to finish."""
        done = self._poll_done_event()
        self._poll_done = asyncio.Event()
        done.set()

    def _wake_loop(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def _ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._wake = asyncio.Event()
            self._task = asyncio.ensure_future(self._run())

    def _long_pending(self, job_id: str | None, now: float) -> bool:
        """Whether every watch of ``job_id`` has seen it pending for long."""
        watches = [w for (_, j), w in self._watches.items() if j == job_id]
        return bool(watches) and all(
            w.pending_since is not None and now - w.pending_since >= self.pending_grace
            for w in watches
        )

    def _next_delay(self) -> float:
        """Seconds between the last poll and the next: quickest while a server is about
        to report, quick while jobs start or stop or someone waits, slower once all
        that is left to wait for is jobs long pending."""
        fast_keys = [key for key, watch in self._watches.items() if watch.fast]
        for key in fast_keys:
            status = self._status.get(key)
            if status is not None and status is not GONE and status.running and not status.port:
                return self.start_interval
        fast = [job_id for _, job_id in fast_keys]
        now = time.monotonic()
        if any(not self._long_pending(job_id, now) for job_id in [*fast, *self._waiting]):
            return self.fast_interval
        if fast or self._waiting:
            return max(self.fast_interval, min(self.pending_interval, self.interval))
        return self.interval

    async def _pause(self, started: float) -> None:
        """Wait until the next poll is due. A wake (a new job, a caller waiting)
        reckons again when that is; however often spawners ask, polls keep their pace.
        The pause is never longer than the pace asks (see :data:`PAUSE_JITTER`)."""
        shorten = 1 - random.uniform(0, PAUSE_JITTER)  # noqa: S311 - not a secret
        while self._watches:
            remaining = started + shorten * self._next_delay() - time.monotonic()
            if remaining <= 0:
                return
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), remaining)
            except asyncio.TimeoutError:
                return

    async def _run(self) -> None:
        try:
            while self._watches:
                started = time.monotonic()
                await self.poll_once()
                await self._pause(started)
        except asyncio.CancelledError:
            raise
        except Exception:  # pragma: no cover - a bug; keep the hub alive
            log.exception("The Slurm job watcher stopped on an unexpected error")
        finally:
            self._task = None
            # Nobody must wait for a poll that will not come.
            self._announce_poll()

    async def poll_once(self) -> bool:
        """Ask Slurm about every watched job once; True if it answered."""
        keys = list(self._watches)
        job_ids = self.watched
        if not job_ids:
            return True
        self.calls += 1
        ok = False
        began = time.monotonic()
        WATCHER_POLL_JOBS.observe(len(job_ids))
        try:
            statuses = await self._ask(job_ids)
        except (SlurmCommandError, ValueError) as e:
            reason = e.reason if isinstance(e, SlurmCommandError) else str(e)
            if reason != self.last_error:
                log.warning("Slurm did not answer, job states are not updated: %s", reason)
            self.last_error = reason
        else:
            ok = True
            if self.last_error is not None:
                log.info("Slurm answers again")
            self.last_error = None
            for job_id in job_ids:
                self._answers[job_id] = statuses.get(job_id, GONE)
            for key in keys:
                entry = self._watches.get(key)
                if entry is not None:  # else: forgotten while Slurm answered
                    self._record(key, entry, statuses.get(key[1], GONE))
        finished = time.monotonic()
        WATCHER_POLL_DURATION.observe(finished - began)
        self.last_poll_finished = finished
        if ok:
            self.last_success_finished = finished
            self._notify_finished(keys)
        self._announce_poll()
        return ok

    def _record(self, key: tuple[str | None, str], entry: _Watch, status: JobStatus) -> None:
        job_id = key[1]
        if status is not GONE and status.user is not None:
            if entry.owner is not None and status.user != entry.owner:
                # The id names someone else's job (ids start again after a
                # controller lost its state): not this server's job any more.
                if entry.seen or not entry.foreign_logged:
                    log.warning(
                        "Job %s belongs to %s, not %s: taken as ended",
                        job_id,
                        status.user,
                        entry.owner,
                    )
                entry.foreign_logged = True
                status = GONE
            else:
                entry.verified = True
        if status is not GONE:
            entry.seen = True
        if status is not GONE and status.state == "PENDING":
            if entry.pending_since is None:
                entry.pending_since = time.monotonic()
        else:
            entry.pending_since = None
        self._status[key] = status

    # -- asking Slurm ---------------------------------------------------------

    def _settled(self, job_id: str) -> bool:
        """A job whose details are known and unlikely to change: its owner checked,
        running, its server's port reported, nobody in a hurry about it, and not due
        for its periodic detailed look (for every watch of the id)."""
        watches = [(k, w) for k, w in self._watches.items() if k[1] == job_id]
        status = self._answers.get(job_id)
        return (
            bool(watches)
            and all(w.verified and not w.fast for _, w in watches)
            and job_id not in self._waiting
            and status is not None
            and status is not GONE
            and status.running
            and status.port is not None
        )

    async def _ask(self, job_ids: list[str]) -> dict[str, JobStatus]:
        """The status of each job (GONE where Slurm no longer knows it).

        Settled jobs are asked for their state alone where Slurm can (>= 23.02); a
        job whose state is not what it was is then asked about in detail.
        """
        # Every DETAILS_EVERY-th poll looks at all jobs in detail, together: jobs that
        # settled at different times never make a poll run two processes.
        due = self._state_polls >= DETAILS_EVERY - 1
        settled = [] if due else [j for j in job_ids if self._settled(j)]
        details = [j for j in job_ids if j not in settled]
        result: dict[str, JobStatus] = {}
        if settled and await self._can_ask_states():
            states = await self._ask_states(settled)
            self._state_polls += 1
            for job_id in settled:
                known = self._answers[job_id]
                if states.get(job_id) == known.state:
                    # The details (end time, partition...) of the last detailed look.
                    result[job_id] = known
                else:
                    details.append(job_id)
        else:
            details += settled
        if details:
            result.update(await self._ask_details(details))
        if due:
            self._state_polls = 0
        return result

    async def _can_ask_states(self) -> bool:
        if self._states_supported is None:
            result = await self._runner([self.squeue, "--version"], timeout=self.timeout)
            version = parse_slurm_version(result.stdout)
            self._states_supported = version is not None and version >= (23, 2)
            log.info(
                "Slurm %s: running jobs are followed %s",
                ".".join(map(str, version)) if version else "(version unknown)",
                "by their state alone" if self._states_supported else "in detail",
            )
        return self._states_supported

    async def _ask_states(self, job_ids: list[str]) -> dict[str, str]:
        argv = squeue_states_argv(job_ids, self.squeue)
        result = await self._runner(argv, timeout=self.timeout, check=False)
        if result.returncode != 0 and "Invalid job id" not in result.stderr:
            raise SlurmCommandError(
                argv,
                f"squeue exited with status {result.returncode}",
                returncode=result.returncode,
                stderr=result.stderr,
            )
        return parse_job_states(result.stdout)

    async def _ask_details(self, job_ids: list[str]) -> dict[str, JobStatus]:
        """One scontrol for all of them; squeue for each whose record is ambiguous."""
        marker = new_scontrol_marker()
        result = await self._runner(
            show_jobs_argv(self.scontrol),
            input=show_jobs_input(job_ids, marker),
            timeout=self.timeout,
            check=False,
            env=_time_env(),
        )
        answers = parse_show_jobs(result.stdout, result.stderr, job_ids, marker)
        statuses: dict[str, JobStatus] = {}
        for job_id, answer in answers.items():
            if answer == AMBIGUOUS:
                answer = await self._ask_squeue(job_id)
            statuses[job_id] = GONE if answer is None else answer
        return statuses

    async def _ask_squeue(self, job_id: str) -> JobStatus | None:
        marker = new_marker()
        argv = squeue_argv(job_id, marker, self.squeue)
        result = await self._runner(argv, timeout=self.timeout, check=False, env=_time_env())
        if result.returncode != 0:
            if "Invalid job id specified" in result.stderr:
                return None  # squeue's way of saying "no such job"
            raise SlurmCommandError(
                argv,
                f"squeue exited with status {result.returncode}",
                returncode=result.returncode,
                stderr=result.stderr,
            )
        return parse_squeue(result.stdout, marker).get(job_id)

    def _notify_finished(self, keys) -> None:
        for key in keys:
            job_id = key[1]
            entry = self._watches.get(key)
            status = self._status.get(key)
            if entry is None or status is None or entry.notified:
                continue
            if (status is GONE or status.finished) and entry.on_finished is not None:
                entry.notified = True
                try:
                    result = entry.on_finished(status)
                    if asyncio.iscoroutine(result):
                        task = asyncio.ensure_future(result)
                        self._callbacks.add(task)
                        task.add_done_callback(self._callbacks.discard)
                except Exception:
                    log.exception("Error in job-finished callback for job %s", job_id)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()


def _time_env() -> dict[str, str]:
    """The hub's environment, with times printed in ISO 8601 whatever the site's default."""
    return {**os.environ, "SLURM_TIME_FORMAT": "standard"}


_watchers: dict[tuple, JobWatcher] = {}


def shared_job_watcher(
    squeue: str,
    scontrol: str,
    interval: float,
    fast_interval: float,
    timeout: float,
    start_interval: float | None = None,
    pending_interval: float | None = None,
    pending_grace: float = 30.0,
):
    """The hub-wide watcher for these settings (one per event loop)."""
    loop = asyncio.get_running_loop()
    settings = {
        "squeue": squeue,
        "scontrol": scontrol,
        "interval": interval,
        "fast_interval": fast_interval,
        "timeout": timeout,
        "start_interval": start_interval,
        "pending_interval": pending_interval,
        "pending_grace": pending_grace,
    }
    key = (id(loop), *settings.values())
    watcher = _watchers.get(key)
    if watcher is None:
        # Forget watchers of loops that are gone (tests run several loops).
        for old_key in [k for k in _watchers if k[0] != id(loop)]:
            _watchers.pop(old_key).stop()
        watcher = _watchers[key] = JobWatcher(**settings)
    return watcher
