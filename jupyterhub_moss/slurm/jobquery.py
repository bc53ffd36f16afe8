"""The look-ups of jobs by id that the job watcher makes: one ``scontrol`` process
for the details of its jobs (one request each), ``squeue --only-job-state`` for
their states alone where Slurm has it (>= 23.02), ``squeue`` for one job whose
``scontrol`` record is ambiguous, and one ``squeue`` for many jobs (one request)
where the per-user rate limit of Slurm >= 23.02 leaves no room for one each."""

from __future__ import annotations

import logging
import os
import time

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

__all__ = ["JobQuery", "RequestBudget", "time_env"]

log = logging.getLogger(__name__)

#: The requests one squeue makes (the jobs, and the partitions it prints them with).
SQUEUE_REQUESTS = 2


class RequestBudget:
    """What the hub's account may still ask slurmctld, as slurmctld's per-user rate
    limit reckons it (``SlurmctldParameters=rl_enable``, Slurm >= 23.02): a bucket of
    ``size`` requests, refilled ``rate`` a second (slurmctld's defaults are 30 and
    2; these are kept below them, for the hub's other commands)."""

    def __init__(self, size: float = 20, rate: float = 1.5, clock=time.monotonic):
        self.size = size
        self.rate = rate
        self._clock = clock
        self._tokens = size
        self._at = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.size, self._tokens + (now - self._at) * self.rate)
        self._at = now

    def take(self, requests: int) -> bool:
        """Spend ``requests`` if the bucket holds them; False (nothing spent) if not."""
        self._refill()
        if self._tokens < requests:
            return False
        self._tokens -= requests
        return True

    def wait_time(self, requests: float) -> float:
        """Seconds until the bucket holds ``requests``."""
        self._refill()
        return max(0.0, (requests - self._tokens) / self.rate)

    def spend(self, requests: int) -> None:
        """Spend ``requests`` whatever the bucket holds (a request that must be made)."""
        self._refill()
        self._tokens -= requests


class JobQuery:
    """Asks Slurm about jobs by id. ``runner`` runs an argument list (see
    :func:`.runner.run_command`)."""

    def __init__(self, squeue: str, scontrol: str, timeout: float, runner=run_command):
        self.squeue = squeue
        self.scontrol = scontrol
        self.timeout = timeout
        self.runner = runner
        #: whether this Slurm answers ``squeue --only-job-state`` (None: not asked yet)
        self._states_supported: bool | None = None
        #: the hub's requests, as a rate-limiting slurmctld counts them
        self.budget = RequestBudget()

    async def can_ask_states(self) -> bool:
        if self._states_supported is None:
            result = await self.runner([self.squeue, "--version"], timeout=self.timeout)
            version = parse_slurm_version(result.stdout)
            self._states_supported = version is not None and version >= (23, 2)
            log.info(
                "Slurm %s: running jobs are followed %s",
                ".".join(map(str, version)) if version else "(version unknown)",
                "by their state alone" if self._states_supported else "in detail",
            )
        return self._states_supported

    def pause_for_budget(self) -> float:
        """Seconds the next query should wait so that the hub's account stays within
        the rate limit (0 where Slurm has none, or when there is room)."""
        if not self._states_supported:  # < 23.02, or not known yet
            return 0.0
        return self.budget.wait_time(SQUEUE_REQUESTS)

    async def states(self, job_ids: list[str]) -> dict[str, str]:
        argv = squeue_states_argv(job_ids, self.squeue)
        self.budget.spend(1)
        result = await self.runner(argv, timeout=self.timeout, check=False)
        if result.returncode != 0 and "Invalid job id" not in result.stderr:
            raise SlurmCommandError(
                argv,
                f"squeue exited with status {result.returncode}",
                returncode=result.returncode,
                stderr=result.stderr,
            )
        return parse_job_states(result.stdout)

    async def details(
        self, job_ids: list[str], together: bool = False
    ) -> dict[str, JobStatus | None]:
        """Each job's details (None: Slurm no longer knows it).

        One scontrol process, one request each: the cheapest for slurmctld, and a
        cost that does not grow with its queue; then squeue for each job whose
        record is ambiguous. On Slurm >= 23.02, when :attr:`budget` has no room
        for one request each: one squeue, one request for them all (whose cost
        grows with the queue), so that the hub's account stays within
        slurmctld's per-user rate limit (which 23.02 brought) however many
        servers start or wait at once. ``together``: one squeue for all, whatever
        the version.
        """
        if together:
            return await self._squeue(job_ids)
        if not self.budget.take(len(job_ids)) and await self.can_ask_states():
            # Slurm >= 23.02, which may limit the rate, and no room for one each.
            return await self._squeue(job_ids)
        marker = new_scontrol_marker()
        result = await self.runner(
            show_jobs_argv(self.scontrol),
            input=show_jobs_input(job_ids, marker),
            timeout=self.timeout,
            check=False,
            env=time_env(),
        )
        answers = parse_show_jobs(result.stdout, result.stderr, job_ids, marker)
        statuses: dict[str, JobStatus | None] = {}
        for job_id, answer in answers.items():
            if answer == AMBIGUOUS:
                answer = (await self._squeue([job_id]))[job_id]
            statuses[job_id] = answer
        return statuses

    async def _squeue(self, job_ids: list[str]) -> dict[str, JobStatus | None]:
        marker = new_marker()
        argv = squeue_argv(job_ids, marker, self.squeue)
        self.budget.spend(SQUEUE_REQUESTS)
        result = await self.runner(argv, timeout=self.timeout, check=False, env=time_env())
        if result.returncode != 0:
            if "Invalid job id specified" in result.stderr:
                return dict.fromkeys(job_ids)  # squeue's way of saying "no such job"
            raise SlurmCommandError(
                argv,
                f"squeue exited with status {result.returncode}",
                returncode=result.returncode,
                stderr=result.stderr,
            )
        found = parse_squeue(result.stdout, marker)
        return {job_id: found.get(job_id) for job_id in job_ids}


def time_env() -> dict[str, str]:
    """The hub's environment, with times printed in ISO 8601 whatever the site's default."""
    return {**os.environ, "SLURM_TIME_FORMAT": "standard"}
