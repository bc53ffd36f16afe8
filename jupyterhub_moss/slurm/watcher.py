"""One poll of Slurm for every spawner of the hub.

Spawners register the jobs they care about; a single background task asks Slurm
about them, one process for all the jobs that are due. Spawners read the latest
answer, or wait for the next one; they never ask Slurm themselves.

The pace is each job's own:

- A running server's job is asked about with all the others, every ``interval``
  seconds.
- A job that starts or stops (a *fast* watch) is asked about ``fast_interval``
  seconds after its state last changed, then after twice as long each time, up to
  a ceiling: ``pending_interval`` while it is pending or stopping,
  ``start_interval`` while its server boots (see :mod:`.pace`). A server reports
  by calling the hub (``web/ready``), which asks about its job at once through
  :meth:`JobWatcher.refresh`; the backoff is the fallback for a call that cannot
  reach the hub, and a start costs slurmctld a handful of requests however long
  the server takes to boot.
- A poll at that pace also takes the fast watches that would be due within half of
  their pause: jobs started together are soon asked about together. A poll that
  someone asked for (a server's call) asks about their jobs alone.

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
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..metrics import WATCHER_POLL_DURATION, WATCHER_POLL_JOBS
from .jobquery import JobQuery
from .pace import Pace, shorten
from .runner import SlurmCommandError, run_command
from .shared import per_loop
from .squeue import JobStatus

__all__ = [
    "DETAILS_EVERY",
    "GONE",
    "JobWatcher",
    "shared_job_watcher",
]

log = logging.getLogger(__name__)

#: Settled jobs are asked about in detail (not for their state alone) on every this
#: many polls, all in the same poll (one process still): an end time may have changed.
DETAILS_EVERY = 10

#: More jobs booting than this in one poll are asked about in one request (one
#: squeue), not one each: when a class presses Start, one request for all costs
#: slurmctld less than one each, unless its queue holds thousands of jobs.
BOOTING_TOGETHER = 8

#: The status of a job that Slurm, answering, no longer knows (or knows as someone else's).
GONE = JobStatus(job_id="", state="GONE", node=None, reason=None, start_time=None, comment="")


#: The least time between the end of one poll and the start of a poll that
#: someone asked for (:meth:`JobWatcher.refresh`): calls that come together (servers
#: started together report together) share one process.
GATHER = 0.05


@dataclass
class _Watch:
    fast: bool = False
    on_finished: Callable[[JobStatus], object] | None = None
    notified: bool = False
    seen: bool = False  # listed by a successful query at least once
    owner: str | None = None  # the user whose job it must be
    verified: bool = False  # a detailed answer has shown it is the owner's
    foreign_logged: bool = False
    phase: str | None = None  # the state its pace was last reset for
    phase_since: float = 0.0  # monotonic time that state was first seen (or fast set)
    delay: float = 0.0  # its current pause, while fast
    next_due: float = 0.0  # monotonic time it is next asked about, while fast


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
        runner=run_command,
    ):
        self.query = JobQuery(squeue, scontrol, timeout, runner)
        self._state_polls = 0  # polls answered by states alone since all were looked at in detail
        self.interval = interval
        self.fast_interval = fast_interval
        self.start_interval = max(fast_interval, start_interval or fast_interval)
        self.pending_interval = max(fast_interval, pending_interval or fast_interval)
        self.pace = Pace(self.fast_interval, self.start_interval, self.pending_interval)
        self.timeout = timeout
        #: the watches, by (owner, job id)
        self._watches: dict[tuple[str | None, str], _Watch] = {}
        #: what each watch last learnt (GONE for another user's job under its id)
        self._status: dict[tuple[str | None, str], JobStatus] = {}
        #: Slurm's last answer about each job id, whoever's job it is
        self._answers: dict[str, JobStatus] = {}
        self._called: set[str] = set()  # jobs whose server's call was confirmed
        self._task: asyncio.Task | None = None
        self._wake: asyncio.Event | None = None
        self._poll_done: asyncio.Event | None = None
        self._callbacks: set[asyncio.Future] = set()
        #: the job ids someone waits for (refresh()), asked about at the next poll
        self._urgent: set[str] = set()
        #: whether someone waits for a poll of every job
        self._urgent_all = False
        #: monotonic time at which every job is next asked about
        self._all_due = 0.0
        #: when the last poll asking about each job id began and finished (monotonic)
        self._asked_at: dict[str, tuple[float, float]] = {}
        #: when the last poll of every job began and finished (monotonic)
        self._all_asked_at = (0.0, 0.0)
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
        starts or stops (see the module's text for their pace).

        ``on_finished(status)`` is called once when the job is seen to have ended.
        ``owner``: the user whose job it must be; a job of anyone else under that
        id counts as :data:`GONE` for this watch. Each (owner, job id) is a watch of
        its own.
        """
        key = (owner, str(job_id))
        entry = self._watches.get(key)
        if entry is None:
            entry = self._watches[key] = _Watch(owner=owner)
        self._set_fast(entry, fast)
        if on_finished is not None:
            entry.on_finished = on_finished
        self._ensure_running()
        self._wake_loop()

    def set_fast(self, job_id: str, fast: bool, owner: str | None = None) -> None:
        entry = self._watches.get((owner, str(job_id)))
        if entry is not None:
            self._set_fast(entry, fast)
            self._wake_loop()

    def _set_fast(self, entry: _Watch, fast: bool) -> None:
        if fast and not entry.fast:
            # Quick from now: a start or a stop begins.
            now = time.monotonic()
            entry.phase_since = now
            entry.delay = self.fast_interval
            entry.next_due = now
        entry.fast = fast

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
            self._asked_at.pop(job_id, None)
            self._urgent.discard(job_id)
            self._called.discard(job_id)

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
        return 2 * self.timeout + GATHER + 5

    @property
    def longest_pause(self) -> float:
        """The longest time between two polls of a job that starts or stops."""
        return max(self.fast_interval, self.pending_interval, self.start_interval)

    async def refresh(
        self,
        after: float | None = None,
        timeout: float | None = None,
        job_id: str | None = None,
        fresh: bool = False,
    ) -> bool:
        """Have Slurm asked now about ``job_id`` (default: every job), and wait for
        an answer that finishes after ``after`` (default: now); return whether it
        succeeded. Callers that come together share one poll. ``fresh``: only a
        poll that began after ``after`` will do (one under way may have asked
        before a change the caller knows of, such as a job's new comment).

        Never raises on a slow or failing Slurm: it returns False after ``timeout``
        (default: :attr:`refresh_timeout`).
        """
        if after is None:
            after = time.monotonic()
        if timeout is None:
            timeout = self.refresh_timeout
        deadline = time.monotonic() + timeout
        job_id = None if job_id is None else str(job_id)

        def answered() -> bool:
            times = self._all_asked_at if job_id is None else self._asked_at.get(job_id)
            return times is not None and times[0 if fresh else 1] > after

        while not answered():
            if not self._watches or (job_id is not None and job_id not in self.watched):
                # Nothing to ask about: do not let a caller's loop spin.
                await asyncio.sleep(self.fast_interval)
                return False
            if job_id is None:
                self._urgent_all = True
            else:
                self._urgent.add(job_id)
            if not await self._next_poll_until(deadline):
                return False
        # Did the poll that answered succeed? (Only the last poll can have.)
        return self.last_error is None

    async def next_poll(self, timeout: float) -> bool:
        """Wait for the next poll, whichever jobs it asks about, without asking for
        one; return whether it came and succeeded (False after ``timeout``)."""
        began = time.monotonic()
        if not self._watches:
            await asyncio.sleep(min(timeout, self.fast_interval))
            return False
        self._ensure_running()
        if not await self._next_poll_until(began + timeout):
            return False
        return self.last_success_finished > began

    async def _next_poll_until(self, deadline: float) -> bool:
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
        return True

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

    def _fast_pause(self, key: tuple[str | None, str], entry: _Watch, now: float) -> float:
        """The pause before a fast watch is asked about again (:class:`.pace.Pace`)."""
        status = self._status.get(key)
        booting = status is not None and status is not GONE and status.running and not status.port
        return self.pace.pause(status is not None, booting, now - entry.phase_since)

    def note_server_call(self, job_id: str) -> None:
        """The call of job ``job_id``'s server was confirmed: see
        :meth:`.pace.Pace.note_server_call`."""
        self._called.add(str(job_id))
        self.pace.note_server_call()

    def note_server_found(self, job_id: str) -> None:
        """A starting server's port was taken from job ``job_id``: after its call, or
        from its comment alone (see :meth:`.pace.Pace.note_missed_call`)."""
        job_id = str(job_id)
        if job_id in self._called:
            self._called.discard(job_id)
        else:
            self.pace.note_missed_call()

    def _next_due(self) -> float:
        """Monotonic time of the next poll: no sooner than the hub's account may ask
        again where slurmctld limits its rate (the calls that come meanwhile then
        share that poll)."""
        due = self._all_due
        if self._urgent or self._urgent_all:
            due = min(due, self.last_poll_finished + GATHER)
        for watch in self._watches.values():
            if watch.fast:
                due = min(due, watch.next_due)
        return max(due, time.monotonic() + self.query.pause_for_budget())

    def _due_ids(self, now: float) -> list[str]:
        """The job ids the poll starting now asks about."""
        if self._urgent_all or now >= self._all_due:
            return self.watched
        due = {job_id for (_, job_id), w in self._watches.items() if w.fast and w.next_due <= now}
        if due:
            # A poll at the watches' own pace takes those nearly due along.
            for (_, job_id), watch in self._watches.items():
                if watch.fast and watch.next_due <= now + watch.delay / 2:
                    due.add(job_id)
        # A poll someone asked for (a server's call) asks about their jobs alone: the
        # servers of a class then become ready as each calls, not all in one moment.
        due |= self._urgent
        return [job_id for job_id in self.watched if job_id in due]

    async def _pause(self) -> None:
        """Wait until the next poll is due. A wake (a new job, a caller waiting)
        reckons again when that is."""
        while self._watches:
            remaining = self._next_due() - time.monotonic()
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
                await self._pause()
                if self._watches:
                    await self.poll_once(self._due_ids(time.monotonic()))
        except asyncio.CancelledError:
            raise
        except Exception:  # pragma: no cover - a bug; keep the hub alive
            log.exception("The Slurm job watcher stopped on an unexpected error")
        finally:
            self._task = None
            # Nobody must wait for a poll that will not come.
            self._announce_poll()

    async def poll_once(self, job_ids: list[str] | None = None) -> bool:
        """Ask Slurm about ``job_ids`` (default: every watched job) once; True if it
        answered."""
        everything = job_ids is None or set(job_ids) >= set(self.watched)
        if job_ids is None:
            job_ids = self.watched
        asked = set(job_ids)
        keys = [key for key in self._watches if key[1] in asked]
        if not job_ids:
            return True
        self.calls += 1
        ok = False
        began = time.monotonic()
        # Whoever asked for these jobs (or for all) before now is answered by this poll.
        self._urgent -= asked
        if everything:
            self._urgent_all = False
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
        self._schedule(keys, began, finished, everything)
        if ok:
            self.last_success_finished = finished
            self._notify_finished(keys)
        self._announce_poll()
        return ok

    def _schedule(self, keys, began: float, finished: float, everything: bool) -> None:
        """When the jobs just asked about are due again. Each pause is shortened by up
        to :data:`.pace.PAUSE_JITTER`, at random."""
        for key in keys:
            self._asked_at[key[1]] = (began, finished)
            entry = self._watches.get(key)
            if entry is not None and entry.fast:
                entry.delay = self._fast_pause(key, entry, finished)
                entry.next_due = began + entry.delay * shorten()
        if everything:
            self._all_asked_at = (began, finished)
            self._all_due = began + self.interval * shorten()

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
        phase = status.state if status is not GONE else "GONE"
        if phase != entry.phase:
            # A new state starts the quick pace again: a job that starts running is
            # asked about soon, in case its server's call does not come.
            entry.phase = phase
            entry.phase_since = time.monotonic()
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
            and job_id not in self._urgent
            and status is not None
            and status is not GONE
            and status.running
            and status.port is not None
        )

    def _booting(self, job_id: str) -> bool:
        """A job that runs while its server boots (it has not reported a port), and
        that a spawner is starting."""
        status = self._answers.get(job_id)
        return (
            status is not None
            and status is not GONE
            and status.running
            and status.port is None
            and any(w.fast for (_, j), w in self._watches.items() if j == job_id)
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
        if settled and await self.query.can_ask_states():
            states = await self.query.states(settled)
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
        booting = [j for j in details if self._booting(j)]
        if len(booting) > BOOTING_TOGETHER:
            # A class's servers booting together: one request for them all.
            details = [j for j in details if j not in booting]
            answers = await self.query.details(booting, together=True)
            result.update({j: GONE if a is None else a for j, a in answers.items()})
        if details:
            for job_id, answer in (await self.query.details(details)).items():
                result[job_id] = GONE if answer is None else answer
        if due:
            self._state_polls = 0
        return result

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


def shared_job_watcher(
    squeue: str,
    scontrol: str,
    interval: float,
    fast_interval: float,
    timeout: float,
    start_interval: float | None = None,
    pending_interval: float | None = None,
    client=None,
):
    """The hub-wide watcher for these settings (one per event loop), running its
    commands through ``client`` (a :class:`~.client.SlurmClient`; equal clients
    share a watcher)."""
    settings = {
        "squeue": squeue,
        "scontrol": scontrol,
        "interval": interval,
        "fast_interval": fast_interval,
        "timeout": timeout,
        "start_interval": start_interval,
        "pending_interval": pending_interval,
    }

    def make():
        runner = client.run if client is not None else run_command
        return JobWatcher(**settings, runner=runner)

    return per_loop("job watcher", make, *settings.values(), client)
