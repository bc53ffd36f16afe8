"""One server's Slurm job: submit it, follow it to its server, read its output,
cancel it.

The spawner holds the configuration and JupyterHub's lifecycle; it hands each of
these steps to a :class:`ServerJob` built for the user. Commands that act on the
user's job (``sbatch``, ``scancel``, ``tail`` of its output) run as the user,
through the admin's ``exec_prefix``, with an environment of their own: nothing
of the hub's environment (its tokens and keys) reaches them or the job.
"""

from __future__ import annotations

import asyncio
import html
import logging
import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from ..metrics import RUNNING_TO_READY, SUBMIT_TO_RUNNING
from .cancels import ALREADY_GONE, shared_cancel_retries
from .client import SlurmClient
from .errors import JobError
from .output import TAIL_BYTES, Tail, regular_file_argv, split_tail, tail_argv
from .reasons import describe_pending
from .runner import SlurmCommandError
from .scontrol import parse_job_files
from .shared import per_loop
from .squeue import SUBMIT_COMMENT, JobStatus, new_marker, parse_squeue, squeue_user_argv
from .text import JOB_ID
from .watcher import GONE, JobWatcher

__all__ = ["OUTPUT_TAIL_BYTES", "ServerJob"]

log = logging.getLogger(__name__)

#: The most of a job's output file the hub reads, from its end.
OUTPUT_TAIL_BYTES = TAIL_BYTES
#: Lines and characters of it shown to the user.
_TAIL_LINES = 20
_TAIL_CHARS = 4000
#: How the batch script starts a sentence meant for the user (moss_fail).
_JOB_SAYS = "jupyterhub_moss: error: "
#: At most this much of that line is shown first.
_SAID_CHARS = 300


#: The most ``sbatch`` the hub runs at once. When a class presses Start together,
#: slurmctld takes the submissions one after another anyway (each holds its job
#: lock): more at once only make each wait longer inside slurmctld, and fork more
#: processes on the hub at the same moment.
SUBMISSION_SLOTS = 4

#: When a job whose ``sbatch`` did not give its id is looked for, in seconds after
#: the submission failed (see :meth:`ServerJob.cancel_unrecorded`).
UNRECORDED_LOOKS = (0.0, 5.0, 20.0, 60.0, 180.0)


def submission_slots() -> asyncio.Semaphore:
    """The hub's one limit on concurrent submissions (one per event loop)."""
    return per_loop("submission slots", lambda: asyncio.Semaphore(SUBMISSION_SLOTS))


@dataclass
class ServerJob:
    """The Slurm side of one user's server: what the spawner delegates to.

    Every command runs through ``client``: as the user (``username``, whose home
    is ``home``) where Slurm must see the user, as the hub otherwise.
    ``report(message, progress)`` shows progress to the user.
    """

    username: str
    log_name: str
    watcher: JobWatcher
    client: SlurmClient
    home: str | None
    report: Callable[..., None]
    port_range: tuple[int, int] = (1, 65535)
    #: job id -> the paths its output may be at, the likeliest first (None or an
    #: empty list: ask Slurm, ``scontrol show job``'s ``StdOut``)
    output_paths: Callable[[str], list[str]] | None = None
    #: the page showing the job's output, linked from progress and failure messages
    log_url: str | None = None
    #: when ``sbatch --test-only`` said such a job would start, before it was submitted
    estimated_start: datetime | None = None
    #: the partition's name, the label of the spawn-time metrics
    partition: str = ""

    async def _run_as_user(self, argv, **kwargs):
        return await self.client.run_as(self.username, self.home, argv, **kwargs)

    # -- submit ---------------------------------------------------------------

    async def submit(self, script: str, token: str, record: Callable[[str], None]) -> str:
        """Submit the script as the user and return the job id, given to
        ``record(job_id)`` before anything else happens.

        If sbatch does not answer in time, or answers without an id, the job it
        may have submitted is looked for by its comment (``token``) and cancelled,
        in the background (:meth:`cancel_unrecorded`).
        """
        try:
            async with submission_slots():
                result = await self._run_as_user(
                    [self.client.path("sbatch"), "--parsable"], input=script
                )
        except SlurmCommandError as e:
            log.error("sbatch failed for %s: %s", self.log_name, e)
            if e.timed_out:
                self._in_background(self.cancel_unrecorded(token))
                message = "Slurm did not answer the job submission in time; please try again."
            else:
                message = f"Slurm refused the job: {e.reason}"
            raise JobError(message, reason="sbatch_failed", log_message=str(e)) from None
        job_id = result.stdout.strip().split(";", 1)[0]
        if not JOB_ID.match(job_id):
            self._in_background(self.cancel_unrecorded(token))
            raise JobError(
                "Slurm did not return a job id for the submission.",
                reason="sbatch_failed",
                log_message=f"sbatch printed {result.stdout[:200]!r}",
            )
        record(job_id)
        return job_id

    @staticmethod
    def _in_background(coroutine) -> None:
        tasks = per_loop("unrecorded job lookups", set)
        task = asyncio.ensure_future(coroutine)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def cancel_unrecorded(self, token: str, looks=UNRECORDED_LOOKS) -> list[str]:
        """Cancel the user's job submitted with ``token`` whose id sbatch did not give,
        looked for at each of ``looks`` (seconds from now) until found: a slow or
        stopped controller may create it later, from the request it holds. The ids
        cancelled."""
        comment = f"{SUBMIT_COMMENT}{token}"
        waited = 0.0
        for at in looks:
            if at > waited:
                await asyncio.sleep(at - waited)
                waited = at
            found = await self._submitted_with(token)
            for job_id in found:
                log.warning("Cancelling job %s of %s, submitted unrecorded", job_id, self.log_name)
                try:
                    await self.cancel(job_id)
                except JobError as e:
                    log.error("Could not cancel job %s: %s", job_id, e)
            if found:
                return found
        log.error(
            "No job of %s submitted with comment %s was found within %g s; should Slurm"
            " create it later, it is left there",
            self.log_name,
            comment,
            waited,
        )
        return []

    async def _submitted_with(self, token: str) -> list[str]:
        marker = new_marker()
        argv = squeue_user_argv(self.username, marker, self.client.path("squeue"))
        try:
            result = await self.client.run(argv)
            jobs = parse_squeue(result.stdout, marker)
        except (SlurmCommandError, ValueError) as e:
            log.warning("Could not look for an unrecorded job of %s: %s", self.log_name, e)
            return []
        return [
            job_id
            for job_id, status in jobs.items()
            if status.submitted_with(token) and status.user in (None, self.username)
        ]

    # -- follow ---------------------------------------------------------------

    def watch(self, job_id: str, **kwargs) -> None:
        self.watcher.watch(job_id, owner=self.username, **kwargs)

    async def wait_for_server(
        self, job_id: str, deadline: float, is_current: Callable[[], bool], start_timeout: float
    ) -> tuple[str, int]:
        """Follow the job until its server has reported its port.

        Raises a user-facing error when the job ends first, when it is no longer the
        spawner's job (``is_current()`` false), or at ``deadline`` (a
        ``time.monotonic()`` value).
        """
        watcher = self.watcher
        unreachable_since = None
        status = None
        submitted = time.monotonic()
        running_since = None
        while True:
            if not is_current() or not watcher.is_watched(job_id, self.username):
                raise JobError(f"Job {job_id} is no longer followed.", reason="job_forgotten")
            # The watcher's next poll, at its own pace (it backs off while the job
            # waits or its server boots; the server's call brings a poll at once);
            # no later than the deadline.
            timeout = min(
                watcher.refresh_timeout + watcher.longest_pause,
                max(deadline - time.monotonic(), 0) + 0.5,
            )
            ok = await watcher.next_poll(timeout)
            if not ok and watcher.last_error is None and time.monotonic() > deadline:
                pass  # the deadline came before the next poll: said below
            elif not ok:
                if unreachable_since is None:
                    unreachable_since = time.monotonic()
                self._say(
                    f"The Slurm scheduler is not answering ({watcher.last_error}); still trying"
                )
            else:
                unreachable_since = None
                status = watcher.status(job_id, self.username)
                if status is GONE and not watcher.was_seen(job_id, self.username):
                    raise JobError(
                        f"Slurm accepted job {job_id} but does not list it to the hub. "
                        "Please tell the administrators (is PrivateData=jobs set for the "
                        "hub's account?).",
                        reason="job_hidden",
                        status_code=500,
                    )
                if status is GONE or (status is not None and status.finished):
                    raise await self.failure(job_id, status)
                if status is not None and status.waiting:
                    self._say(
                        describe_pending(status.reason, status.start_time, self.estimated_start),
                        30,
                    )
                elif status is not None and status.running:
                    if running_since is None:
                        running_since = time.monotonic()
                        if self.partition:  # a start, not a hub restart catching up
                            waited = running_since - submitted
                            SUBMIT_TO_RUNNING.labels(self.partition).observe(waited)
                    if status.port and status.node:
                        port = self._checked_port(job_id, status.port)
                        if self.partition:  # a start: did its call come?
                            watcher.note_server_found(job_id)
                            ready = time.monotonic() - running_since
                            RUNNING_TO_READY.labels(self.partition).observe(ready)
                        return status.node, port
                    self._say(f"Job {job_id} running on {status.node}: starting Jupyter", 60)
                elif status is not None:
                    self._say(f"Job {job_id} is {status.state.lower()}", 40)
            if time.monotonic() > deadline:
                raise self.timed_out(job_id, status, unreachable_since, start_timeout)

    async def confirm_server(self, job_id: str, port: int) -> str | None:
        """The job says its server answers on ``port``: ask Slurm about the job now.
        None if Slurm confirms it (running, the user's, that port in its comment);
        else why not. The spawner's waiting ``wait_for_server`` sees the answer."""
        watcher = self.watcher
        # Asked after the call came: a poll under way may predate the job's comment.
        if not await watcher.refresh(job_id=job_id, fresh=True):
            return f"Slurm did not answer about job {job_id} ({watcher.last_error})"
        status = watcher.status(job_id, self.username)
        if status is None or status is GONE or not status.running:
            state = "gone" if status is None or status is GONE else status.state.lower()
            return f"job {job_id} of {self.username} is not running ({state})"
        if status.port != port:
            return f"job {job_id}'s comment gives port {status.port}, not {port}"
        watcher.note_server_call(job_id)
        return None

    def _say(self, message: str, progress: int | None = None) -> None:
        """A progress message; on the pending page, with a link to the job's output."""
        if not self.log_url:
            self.report(message, progress)
            return
        link = (
            f'<a href="{html.escape(self.log_url)}" target="_blank" rel="noopener">Job output</a>'
        )
        self.report(message, progress, html=f"{html.escape(message)} · {link}")

    def _checked_port(self, job_id: str, port: int) -> int:
        low, high = self.port_range
        if not low <= port <= high:
            raise JobError(
                f"Job {job_id} reported port {port}, which this hub does not route to "
                f"(its servers use ports {low} to {high}). Please tell the administrators.",
                reason="bad_port",
                status_code=500,
            )
        return port

    @staticmethod
    def timed_out(job_id, status, unreachable_since, start_timeout):
        waited = int(start_timeout)
        if unreachable_since is not None:
            message = (
                f"The Slurm scheduler was unreachable for the last "
                f"{int(time.monotonic() - unreachable_since)} s, so job {job_id} could not be "
                f"followed; it will be cancelled. Please try again later."
            )
        elif status is not None and status is not GONE and status.waiting:
            message = (
                f"Job {job_id} was still queued after {waited} s "
                f"({describe_pending(status.reason, status.start_time)}) and has been cancelled. "
                "Try a partition with free resources, fewer cores or a shorter run time."
            )
        else:
            message = (
                f"The server of job {job_id} did not start within {waited} s; "
                "the job has been cancelled."
            )
        return JobError(message, reason="timeout", status_code=500)

    async def failure(self, job_id: str, status: JobStatus | None):
        """The error for a job that ended before its server came up."""
        state = "ended" if status is GONE or status is None else f"ended ({status.state})"
        tail, exit_code, unread = await self.output_tail(job_id)
        message = f"Job {job_id} {state} before the server started"
        if exit_code:
            message += f", exit code {exit_code}"
        message += "."
        said = [line for line in tail.splitlines() if line.startswith(_JOB_SAYS)]
        if said:
            # The job script's sentence for the user ("The folder ... does not exist"),
            # said to come from the job's output: anything the job runs could print it.
            sentence = said[-1][len(_JOB_SAYS) :].strip()[:_SAID_CHARS]
            message = f"The job's output says: {sentence}\n{message}"
        if tail:
            message += "\nLast lines of the job's output:\n" + tail
        elif unread:
            # A hub whose host does not see the user's home, for one.
            message += (
                "\nThe job's output could not be read from the hub's host; "
                f"it is in {unread[0]} on the cluster."
            )
        html_message = None
        if self.log_url:
            html_message = (
                "<br>".join(html.escape(line) for line in message.split("\n"))
                + f'<br><a href="{html.escape(self.log_url)}">Job output</a>'
            )
        return JobError(message, reason="job_ended", status_code=500, html_message=html_message)

    # -- output ---------------------------------------------------------------

    async def output_tail(self, job_id: str) -> tuple[str, str | None, list[str]]:
        """The last lines of the job's output (at most ``_TAIL_LINES`` lines,
        ``_TAIL_CHARS`` characters), read as the user, its exit code, and the paths
        tried if none could be read (else an empty list)."""
        stdout, exit_code = await self._job_files(job_id)
        paths = await self._output_candidates(job_id, stdout or "")
        tail = await self._first_tail(job_id, paths)
        if tail is None:
            if paths:
                log.warning(
                    "Could not read any output of job %s (tried %s): the hub's host may not"
                    " see the user's files",
                    job_id,
                    ", ".join(paths),
                )
            return "", exit_code, paths
        lines = tail.lines
        while lines and not lines[-1].strip():
            lines = lines[:-1]
        return "\n".join(lines[-_TAIL_LINES:])[-_TAIL_CHARS:], exit_code, []

    async def _job_files(self, job_id: str) -> tuple[str | None, str | None]:
        """``StdOut`` and ``ExitCode`` of ``scontrol show job`` (None when unknown)."""
        try:
            result = await self.client.run(
                [self.client.path("scontrol"), "--local", "show", "job", job_id, "--oneliner"],
                max_output=OUTPUT_TAIL_BYTES,
            )
        except SlurmCommandError as e:
            log.warning("Could not look up job %s: %s", job_id, e)
            return None, None
        return parse_job_files(result.stdout)

    async def read_output(self, job_id: str, stdout: str | None = None) -> Tail | None:
        """The end of the job's output, read as the user from the first of its paths
        that exists; None if none could be read.

        The paths are ``output_paths(job_id)``; ``stdout`` (Slurm's ``StdOut``, asked
        for here when no path is known and ``stdout`` is None) is tried last. Reads at
        most :data:`OUTPUT_TAIL_BYTES` from a file's end, and nothing from a path that
        is not a regular file (a user may replace the file by a link to
        ``/dev/zero`` or a pipe).
        """
        return await self._first_tail(job_id, await self._output_candidates(job_id, stdout))

    async def output_places(self, job_id: str) -> list[str]:
        """Where the job's output may be on the cluster, the likeliest first (what
        :meth:`read_output` tries)."""
        return await self._output_candidates(job_id, None)

    async def _output_candidates(self, job_id: str, stdout: str | None) -> list[str]:
        paths = list(self.output_paths(job_id)) if self.output_paths is not None else []
        if not paths and stdout is None:
            stdout, _ = await self._job_files(job_id)
        if stdout and stdout not in paths:
            paths.append(stdout)
        return paths

    async def _first_tail(self, job_id: str, paths: list[str]) -> Tail | None:
        # The job may move its output between two reads: the first path is tried again.
        for path in (paths + paths[:1]) if len(paths) > 1 else paths:
            tail = await self._tail(job_id, path)
            if tail is not None:
                return tail
        return None

    async def _tail(self, job_id: str, path: str) -> Tail | None:
        try:
            argv = tail_argv(path, OUTPUT_TAIL_BYTES)
        except ValueError:
            return None
        regular = await _may_be_regular_file_off_loop(path)
        if regular is None:
            regular = await self._regular_file_as_user(path)
        if not regular:
            return None
        try:
            result = await self._run_as_user(
                argv,
                timeout=10,
                max_output=OUTPUT_TAIL_BYTES + 1,
                check=False,
                decode_errors="surrogateescape",
            )
        except SlurmCommandError as e:
            log.warning("Could not read the output of job %s: %s", job_id, e)
            return None
        if result.returncode != 0:
            # No such file is the usual answer for all but one of the paths.
            missing = "No such file" in result.stderr
            log.log(
                logging.DEBUG if missing else logging.WARNING,
                "Could not read the output of job %s at %s: %s",
                job_id,
                path,
                result.stderr.strip()[:300],
            )
            return None
        return split_tail(result.stdout.encode("utf-8", "surrogateescape"), OUTPUT_TAIL_BYTES)

    async def _regular_file_as_user(self, path: str) -> bool:
        """Whether ``path`` is a regular file, asked as the user (the hub may not look
        into the user's folder): a pipe there would hold ``tail`` until its timeout.
        Without a sudo rule for it, the read goes ahead, bounded by its timeout."""
        try:
            result = await self._run_as_user(regular_file_argv(path), timeout=5, check=False)
        except SlurmCommandError as e:
            log.warning("Could not check %s as %s: %s", path, self.username, e)
            return True
        if result.returncode == 0:
            return True
        if result.returncode == 1 and not result.stderr.strip():
            log.info("Not reading %s: it is not a regular file, or not there", path)
            return False
        log.warning(
            "Could not check %s as %s (see 'jupyterhub-moss sudoers' for the rule): %s",
            path,
            self.username,
            result.stderr.strip()[:300],
        )
        return True

    # -- cancel ---------------------------------------------------------------

    async def cancel(self, job_id: str) -> None:
        """``scancel`` as the user, tried three times, then left to the background
        retries (JupyterHub forgets the server either way)."""
        argv = self.client.as_user(self.username, [self.client.path("scancel"), job_id])
        env = self.client.user_environment(self.username, self.home)
        error = None
        for attempt in range(3):
            try:
                await self.client.run(argv, env=env)
                return
            except SlurmCommandError as e:
                if any(text in e.stderr for text in ALREADY_GONE):
                    return
                error = e
                log.warning("scancel %s failed (attempt %i): %s", job_id, attempt + 1, e)
                await asyncio.sleep(1 + 2 * attempt)
        shared_cancel_retries().add(job_id, argv, env=env, client=self.client)
        raise JobError(
            f"Could not cancel Slurm job {job_id}: {error.reason}",
            reason="scancel_failed",
            status_code=500,
            log_message=str(error),
        )

    async def cancel_and_wait(self, job_id: str, stop_timeout: float) -> None:
        """Cancel the job and wait up to ``stop_timeout`` s for Slurm to say it ended."""
        watcher = self.watcher
        if watcher.status(job_id, self.username) is GONE:
            return  # ended, or someone else's job under the same id: nothing to cancel
        try:
            await self.cancel(job_id)
            self.watch(job_id, fast=True)
            deadline = time.monotonic() + stop_timeout
            asked = False
            while time.monotonic() < deadline:
                remaining = max(deadline - time.monotonic(), 0.1)
                if not asked:
                    # Asked at once after scancel, then at the watcher's quick pace.
                    ok = await watcher.refresh(job_id=job_id, timeout=remaining)
                    asked = True
                else:
                    ok = await watcher.next_poll(min(remaining, watcher.refresh_timeout))
                if ok:
                    status = watcher.status(job_id, self.username)
                    # COMPLETING: cancelled, its processes on their way out.
                    if status is GONE or (
                        status is not None and (status.finished or status.state == "COMPLETING")
                    ):
                        log.info("Job %s of %s has ended", job_id, self.log_name)
                        return
            log.warning(
                "Job %s of %s was cancelled but Slurm still lists it after %i s",
                job_id,
                self.log_name,
                stop_timeout,
            )
        finally:
            watcher.set_fast(job_id, False, self.username)


#: Seconds the hub waits for a stat of a job's output path (a hung NFS mount).
STAT_TIMEOUT = 5.0


async def _may_be_regular_file_off_loop(path: str) -> bool | None:
    """:func:`_may_be_regular_file`, in a thread: the path is the job's, and may sit
    on a network file system that hangs. Past :data:`STAT_TIMEOUT` the path is not
    read (a read as the user would hang the same way)."""
    loop = asyncio.get_running_loop()
    try:
        return await asyncio.wait_for(
            loop.run_in_executor(None, _may_be_regular_file, path), STAT_TIMEOUT
        )
    except asyncio.TimeoutError:
        log.warning("Not reading %s: looking at it took over %.0f s", path, STAT_TIMEOUT)
        return False


def _may_be_regular_file(path: str) -> bool | None:
    """False if the hub can see that ``path`` is not a regular file (a link to a
    device, a pipe); True if it is, or cannot be found from here (the read as the
    user says why); None if the hub may not look (a folder closed to it)."""
    try:
        mode = os.stat(path).st_mode
    except PermissionError:
        return None
    except OSError:
        return True
    if not stat.S_ISREG(mode):
        log.warning("Not reading %s: it is not a regular file", path)
        return False
    return True
