"""Prometheus metrics, served with JupyterHub's own at ``/hub/metrics``.

They let an admin see what the hub costs the Slurm controller (every command this
package runs, by program and outcome; how long each watcher poll took and how many
jobs it covered; how often the shared caches spared a query) and what researchers
get (spawns by partition and outcome, and how long jobs queue and then take to
bring their server up).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

from prometheus_client import Counter, Histogram

__all__ = [
    "FACTS_CACHE",
    "READY_CALLS",
    "RUNNING_TO_READY",
    "SINFO_CACHE",
    "SLURM_COMMANDS",
    "SLURM_COMMAND_DURATION",
    "SPAWNS",
    "SUBMIT_TO_RUNNING",
    "WATCHER_POLL_DURATION",
    "WATCHER_POLL_JOBS",
    "SpawnCount",
    "counted_spawn",
]

SLURM_COMMANDS = Counter(
    "jupyterhub_moss_slurm_commands",
    "Slurm commands run by the hub, by program and outcome (ok, error, timeout)",
    ["command", "outcome"],
)

SLURM_COMMAND_DURATION = Histogram(
    "jupyterhub_moss_slurm_command_duration_seconds",
    "Time Slurm commands took to answer",
    ["command"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)

SINFO_CACHE = Counter(
    "jupyterhub_moss_sinfo_cache",
    "Reads of the shared sinfo cache, by result (hit, miss, joined)",
    ["result"],
)

FACTS_CACHE = Counter(
    "jupyterhub_moss_facts_cache",
    "Reads of the shared caches of Slurm facts (accounts, QOS, partitions, reservations), "
    "by cache and result (hit, miss, joined)",
    ["cache", "result"],
)

#: The outcomes of a spawn, as the ``outcome`` label of ``SPAWNS``.
OUTCOMES = ("ready", "failed", "timeout", "cancelled", "refused")

SPAWNS = Counter(
    "jupyterhub_moss_spawns",
    "Server starts by partition and outcome: ready (the job's server is listening), "
    "failed (the job ended or misbehaved first), timeout (start_timeout passed), "
    "cancelled (stopped before it was ready), refused (options not allowed; "
    "nothing was submitted)",
    ["partition", "outcome"],
)

_QUEUE_BUCKETS = (1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600)

SUBMIT_TO_RUNNING = Histogram(
    "jupyterhub_moss_submit_to_running_seconds",
    "Time from sbatch's answer to Slurm reporting the job running, by partition",
    ["partition"],
    buckets=_QUEUE_BUCKETS,
)

RUNNING_TO_READY = Histogram(
    "jupyterhub_moss_running_to_ready_seconds",
    "Time from Slurm reporting the job running to its server listening, by partition",
    ["partition"],
    buckets=(1, 2, 5, 10, 20, 30, 60, 120, 300, 600),
)

READY_CALLS = Counter(
    "jupyterhub_moss_ready_calls",
    "Calls of starting servers' jobs saying their server answers, by outcome: accepted "
    "(Slurm confirmed the job and its port), late (a poll had found the port first), "
    "refused (the server was not starting, the port was outside the range, or Slurm did "
    "not confirm it), forbidden (not the server's own token)",
    ["outcome"],
)

WATCHER_POLL_JOBS = Histogram(
    "jupyterhub_moss_watcher_poll_jobs",
    "The number of jobs each poll of the hub-wide job watcher asked Slurm about",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000),
)

WATCHER_POLL_DURATION = Histogram(
    "jupyterhub_moss_watcher_poll_duration_seconds",
    "How long each poll of the hub-wide job watcher took (its Slurm commands included)",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


class SpawnCount:
    """One spawn being counted: its partition once the options are valid."""

    def __init__(self) -> None:
        #: the partition label; empty until the options passed validation, so that
        #: a user's made-up partition names never become label values
        self.partition = ""


def outcome_of(error: BaseException) -> str:
    """The ``outcome`` label for a start that raised ``error``."""
    if isinstance(error, asyncio.CancelledError):
        return "cancelled"
    reason = getattr(error, "reason", None)
    if reason == "timeout":
        return "timeout"
    if getattr(error, "status_code", 500) < 500:
        return "refused"
    return "failed"


@contextlib.contextmanager
def counted_spawn() -> Iterator[SpawnCount]:
    """Count the spawn run inside the block in ``SPAWNS``, by how it ended."""
    count = SpawnCount()
    try:
        yield count
    except BaseException as e:
        SPAWNS.labels(count.partition, outcome_of(e)).inc()
        raise
    SPAWNS.labels(count.partition, "ready").inc()
