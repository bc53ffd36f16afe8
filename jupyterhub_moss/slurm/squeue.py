"""Reading job states from ``squeue``.

Job comments are set by the job's owner and may hold anything, newlines
included, so every record of the output starts with a random marker chosen for
that one call: a comment cannot fake another job's line.
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
    "parse_squeue",
    "squeue_argv",
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
_PORT_RE = re.compile(r"^moss:port=([0-9]{1,5})\Z")

_FIELDS = "%i|%T|%B|%r|%S|%k"  # comment last: it is the only free-form field


@dataclass(frozen=True)
class JobStatus:
    """One job as ``squeue`` reports it."""

    job_id: str
    state: str
    node: str | None
    reason: str | None
    start_time: datetime | None
    comment: str

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


def new_marker() -> str:
    """A record marker nobody can guess in advance."""
    return f"@moss{secrets.token_hex(12)}@"


def squeue_argv(job_ids, marker: str, squeue: str = "squeue") -> list[str]:
    """The command line asking for the state of ``job_ids`` (all states, all users)."""
    ids = ",".join(sorted({str(j) for j in job_ids}, key=lambda j: (len(j), j)))
    return [
        squeue,
        "--noheader",
        "--all",
        "--states=all",
        "--jobs",
        ids,
        "--format",
        marker + _FIELDS,
    ]


def squeue_user_argv(user: str, marker: str, squeue: str = "squeue") -> list[str]:
    """The command line asking for a user's jobs that have not ended."""
    return [
        squeue, "--noheader", "--user", user, "--states=PENDING,CONFIGURING,RUNNING,SUSPENDED",
        "--format", marker + _FIELDS,
    ]  # fmt: skip


def _parse_time(text: str) -> datetime | None:
    if not text or text in ("N/A", "Unknown", "None"):
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _none_if_empty(text: str) -> str | None:
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
        fields = record.rstrip("\n").split("|", 5)
        if len(fields) != 6:
            raise ValueError(f"unexpected squeue record: {record[:200]!r}")
        job_id, state, node, reason, start, comment = fields
        job_id = job_id.strip()
        if not re.fullmatch(r"[0-9]+(_[0-9]+)?", job_id):
            raise ValueError(f"unexpected job id in squeue output: {job_id[:50]!r}")
        # "CANCELLED by 1000" -> "CANCELLED"
        state = state.strip().split(" ", 1)[0]
        jobs[job_id] = JobStatus(
            job_id=job_id,
            state=state,
            node=_none_if_empty(node),
            reason=_none_if_empty(reason),
            start_time=_parse_time(start.strip()),
            comment=comment.strip(),
        )
    return jobs
