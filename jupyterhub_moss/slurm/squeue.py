"""Reading job states from ``squeue``.

Job comments are set by the job's owner and may hold anything, newlines
included, so every record of the output starts with a random marker chosen for
that one call: a comment cannot fake another job's line.

Every call here names its jobs (``--jobs``) or its user (``--user``): with one job
id, or one user, slurmctld looks up just those jobs. A list of several ids is
different: squeue then asks for the whole job table and filters it itself, which
costs the controller time in proportion to its queue; the watcher does not do
that (see :mod:`.scontrol` and :func:`squeue_states_argv`).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime

__all__ = [
    "FINISHED_STATES",
    "JobStatus",
    "PORT_COMMENT",
    "new_marker",
    "parse_job_states",
    "parse_slurm_version",
    "parse_squeue",
    "squeue_argv",
    "squeue_states_argv",
    "squeue_user_argv",
]

#: States after which the job will not run again.
FINISHED_STATES = frozenset(
    {
        "BOOT_FAIL",
        "CANCELLED",
        "COMPLETED",
        "DEADLINE",
        "FAILED",
        "NODE_FAIL",
        "OUT_OF_MEMORY",
        "PREEMPTED",
        "REVOKED",
        "SPECIAL_EXIT",
        "TIMEOUT",
    }
)
#: States of a job that has not started yet.
WAITING_STATES = frozenset({"PENDING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "RESV_DEL_HOLD"})

#: What the job writes into its own comment once its server listens.
PORT_COMMENT = "moss:port="
#: The comment a job is submitted with, until its server listens.
SUBMIT_COMMENT = "moss:submit="
#: ``moss:port=N``, or ``moss:port=N;moss:submit=TOKEN`` (the submission's mark kept)
_PORT_RE = re.compile(r"^moss:port=([0-9]{1,5})(?:;moss:submit=([0-9a-f]{1,64}))?\Z")

#: id, state, node, reason, start, user, end, partition, CPUs, TRES per node, comment
_FIELDS = "%i|%T|%B|%r|%S|%u|%e|%P|%C|%b|%k"  # comment last: it is the only free-form field
_FIELD_COUNT = _FIELDS.count("|") + 1


@dataclass(frozen=True)
class JobStatus:
    """One job as ``squeue`` reports it."""

    job_id: str
    state: str
    node: str | None
    reason: str | None
    start_time: datetime | None
    comment: str
    #: the owner's user name (None where the query does not say, e.g. state-only)
    user: str | None = None
    #: when the job will end at the latest (aware, in the hub's time zone), if known
    end_time: datetime | None = None
    #: the partition, the CPUs and the generic resources (``TresPerNode``) it holds
    partition: str | None = None
    cpus: int | None = None
    gres: str | None = None

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_STATES

    @property
    def waiting(self) -> bool:
        return self.state in WAITING_STATES

    @property
    def running(self) -> bool:
        return self.state == "RUNNING"

    @property
    def port(self) -> int | None:
        """The port the job's server listens on, once the job has said so."""
        match = _PORT_RE.match(self.comment.strip())
        if not match:
            return None
        port = int(match.group(1))
        return port if 0 < port < 65536 else None

    def submitted_with(self, token: str) -> bool:
        """Whether the job carries the mark ``token`` it was submitted with, in its
        first comment or next to the port its server reported."""
        comment = self.comment.strip()
        if comment == f"{SUBMIT_COMMENT}{token}":
            return True
        match = _PORT_RE.match(comment)
        return bool(match and match.group(2) == token)


def new_marker() -> str:
    """A record marker nobody can guess in advance."""
    return f"@moss{secrets.token_hex(12)}@"


def squeue_argv(job_ids, marker: str, squeue: str = "squeue") -> list[str]:
    """The command line asking for the details of one job or several (whatever their
    state or owner). With one id, slurmctld answers from that job alone
    (REQUEST_JOB_INFO_SINGLE); with several, it sends its whole job table, which
    squeue filters (REQUEST_JOB_INFO): one request, whose cost grows with the queue.
    """
    if isinstance(job_ids, str | int):
        job_ids = [job_ids]
    ids = ",".join(sorted({str(j) for j in job_ids}, key=lambda j: (len(j), j)))
    return [
        squeue, "--local", "--noheader", "--all", "--states=all", "--jobs", ids,
        "--format", marker + _FIELDS,
    ]  # fmt: skip


def squeue_states_argv(job_ids, squeue: str = "squeue") -> list[str]:
    """The command line asking for the states alone of ``job_ids`` (Slurm >= 23.02).

    ``--only-job-state`` makes slurmctld look up just these ids (REQUEST_JOB_STATE)
    and send their state and nothing else: no comment, node or owner.
    """
    ids = ",".join(sorted({str(j) for j in job_ids}, key=lambda j: (len(j), j)))
    return [squeue, "--only-job-state", "--noheader", "--jobs", ids, "--format", "%i|%T"]


def parse_job_states(text: str) -> dict[str, str]:
    """``{job_id: state}`` from the output of :func:`squeue_states_argv`."""
    states: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        job_id, sep, state = line.strip().partition("|")
        if not sep or not re.fullmatch(r"[0-9]+", job_id) or not re.fullmatch(r"[A-Z_]+", state):
            raise ValueError(f"unexpected squeue --only-job-state line: {line[:200]!r}")
        states[job_id] = state
    return states


def parse_slurm_version(text: str) -> tuple[int, int] | None:
    """``(major, minor)`` from ``squeue --version`` ("slurm 22.05.8"), None if unknown."""
    match = re.search(r"\b(\d{2})\.(\d{2})(?:\.\d+)?", text)
    return (int(match.group(1)), int(match.group(2))) if match else None


def squeue_user_argv(user: str, marker: str, squeue: str = "squeue") -> list[str]:
    """The command line asking for a user's jobs that have not ended, in hidden
    partitions too (without ``--all``, squeue leaves out even the user's own jobs
    there)."""
    return [
        squeue, "--noheader", "--all", "--user", user,
        "--states=PENDING,CONFIGURING,RUNNING,SUSPENDED", "--format", marker + _FIELDS,
    ]  # fmt: skip


def parse_time(text: str) -> datetime | None:
    if not text or text in ("N/A", "Unknown", "None"):
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def parse_aware_time(text: str) -> datetime | None:
    """A time Slurm printed (local time of the machine that ran the command, which is
    the hub's), as an aware datetime; None for ``Unknown``, ``N/A`` or anything
    unparsable."""
    value = parse_time(text)
    if value is None:
        return None
    try:
        return value.astimezone() if value.tzinfo is None else value
    except (OverflowError, OSError, ValueError):
        return None


def name_like(value: str | None) -> str | None:
    """A name-like value (partition, TRES list), None if empty, unset or odd."""
    value = none_if_empty(value or "")
    if value is None or not re.fullmatch(r"[A-Za-z0-9_.:,=/+@()-]{1,200}", value):
        return None
    return value


def cpu_count(value: str | None) -> int | None:
    """``4``, or the lower bound of a pending job's ``4-4``."""
    match = re.match(r"([0-9]{1,9})(?:-[0-9]{1,9})?\Z", value or "")
    return int(match.group(1)) if match else None


def none_if_empty(text: str) -> str | None:
    text = text.strip()
    return None if text in ("", "(null)", "None", "n/a", "N/A") else text


def parse_squeue(text: str, marker: str) -> dict[str, JobStatus]:
    """Parse the output of :func:`squeue_argv` into ``{job_id: JobStatus}``.

    Raises ``ValueError`` on output that does not have the expected shape.
    """
    jobs: dict[str, JobStatus] = {}
    if not text.strip():
        return jobs
    if not text.startswith(marker):
        raise ValueError("squeue output does not start with the record marker")
    for record in text[len(marker) :].split(marker):
        fields = record.rstrip("\n").split("|", _FIELD_COUNT - 1)
        if len(fields) != _FIELD_COUNT:
            raise ValueError(f"unexpected squeue record: {record[:200]!r}")
        job_id, state, node, reason, start, user, end, partition, cpus, gres, comment = fields
        job_id = job_id.strip()
        if not re.fullmatch(r"[0-9]+(_[0-9]+)?", job_id):
            raise ValueError(f"unexpected job id in squeue output: {job_id[:50]!r}")
        # "CANCELLED by 1000" -> "CANCELLED"
        state = state.strip().split(" ", 1)[0]
        jobs[job_id] = JobStatus(
            job_id=job_id,
            state=state,
            node=none_if_empty(node),
            reason=none_if_empty(reason),
            start_time=parse_time(start.strip()),
            comment=comment.strip(),
            user=none_if_empty(user),
            end_time=parse_aware_time(end.strip()),
            partition=name_like(partition),
            cpus=cpu_count(cpus.strip()),
            gres=name_like(gres),
        )
    return jobs
