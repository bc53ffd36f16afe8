"""Several jobs' details from one ``scontrol`` process, at a cost that does not grow
with the cluster's queue.

``scontrol`` reads commands from its standard input. ``show job ID`` asks
slurmctld about that one job (REQUEST_JOB_INFO_SINGLE, and with ``--local`` no
federation look-up), so one process answers for every job the hub follows with
one small request each, whatever the size of the queue. (``squeue --jobs a,b``
with several ids asks for the whole job table instead.)

The output needs care: a job's owner can set its name and its comment to any
text, spaces and line breaks included, and so could try to pass off a record of
its own as another job's. Two defences:

- after each ``show job``, a ``show hostnames MARKER`` prints a random marker
  chosen for this one call (scontrol expands it locally, without asking
  slurmctld): what comes between two markers belongs to one job, and a record
  cannot spill into the next job's part.
- a record is believed only if each field read from it appears in it exactly
  once. A name or comment that repeats a field name (``x UserId=root(0)``) makes
  the record ambiguous: that job is then asked about again through ``squeue``,
  whose output has no such ambiguity (:func:`.squeue.squeue_argv`).
"""

from __future__ import annotations

import re
import secrets

from .squeue import JobStatus, cpu_count, name_like, none_if_empty, parse_aware_time, parse_time

__all__ = [
    "AMBIGUOUS",
    "exact_field",
    "parse_job_files",
    "parse_show_jobs",
    "show_jobs_argv",
    "show_jobs_input",
]

#: What :func:`parse_show_jobs` gives for a job whose record cannot be trusted.
AMBIGUOUS = "ambiguous"

_NOT_FOUND = "Invalid job id specified"
# Fields read from a record, each required to appear exactly once ...
_REQUIRED = ("JobName", "UserId", "JobState", "Reason", "StartTime")
# ... or at most once (the details shown on the home page: absent, they are unknown).
_OPTIONAL = ("BatchHost", "Comment", "EndTime", "Partition", "NumCPUs", "TresPerNode")
_USER = re.compile(r"([A-Za-z0-9_][A-Za-z0-9_.@-]*)\(([0-9]+)\)\Z")


def new_marker() -> str:
    """A marker that scontrol prints back as it is, and nobody can guess.

    It ends with a letter: scontrol reads a host name's trailing digits as a number.
    """
    return f"mossend{secrets.token_hex(12)}z"


def show_jobs_argv(scontrol: str = "scontrol") -> list[str]:
    """The command line; the jobs go on its standard input (:func:`show_jobs_input`)."""
    return [scontrol, "--local", "--all", "--oneliner"]


def show_jobs_input(job_ids, marker: str) -> str:
    """``show job ID`` for each job, each followed by the marker."""
    lines = []
    for job_id in job_ids:
        if not re.fullmatch(r"[0-9]+", str(job_id)):
            raise ValueError(f"not a job id: {job_id!r}")
        lines.append(f"show job {job_id}\nshow hostnames {marker}\n")
    return "".join(lines)


def _field(line: str, name: str) -> str | None:
    """The one-word value of `` NAME=`` in ``line``, or None if absent."""
    start = line.find(f" {name}=")
    if start < 0:
        return None
    value = line[start + len(name) + 2 :]
    return value.split(" ", 1)[0]


def exact_field(record: str, name: str) -> str | None:
    """The one-word value of `` NAME=`` in a ``scontrol --oneliner`` record, only when
    the field appears exactly once: a job's owner may write ``NAME=...`` into its
    name or comment, and such a record tells nothing about that field."""
    if record.count(f" {name}=") != 1:
        return None
    return _field(record, name) or None


def parse_job_files(stdout: str) -> tuple[str | None, str | None]:
    """``StdOut`` and ``ExitCode`` of one ``scontrol --oneliner show job ID`` (None
    when absent, ambiguous, or not of their form)."""
    record = " " + stdout.replace("\n", " ")
    path = exact_field(record, "StdOut")
    exit_code = exact_field(record, "ExitCode")
    if exit_code is not None and not re.fullmatch(r"[0-9]+:[0-9]+", exit_code):
        exit_code = None
    return path, exit_code


def _parse_record(job_id: str, part: str) -> JobStatus | str | None:
    """One job's part of the output: a status, None if Slurm does not know the job,
    or :data:`AMBIGUOUS`."""
    record = None
    for line in part.splitlines():
        if line.startswith("JobId="):
            record = line
            break
        if line.strip() and not line.startswith("scontrol:"):
            return AMBIGUOUS  # something before the record that scontrol did not print
    if record is None:
        return None
    if not record.startswith(f"JobId={job_id} "):
        return AMBIGUOUS
    for name in _REQUIRED:
        if record.count(f" {name}=") != 1:
            return AMBIGUOUS
    for name in _OPTIONAL:
        if record.count(f" {name}=") > 1:
            return AMBIGUOUS
    user = _USER.match(_field(record, "UserId") or "")
    state = _field(record, "JobState") or ""
    if user is None or not re.fullmatch(r"[A-Z_]+", state):
        return AMBIGUOUS
    return JobStatus(
        job_id=job_id,
        state=state,
        node=none_if_empty(_field(record, "BatchHost") or ""),
        reason=none_if_empty(_field(record, "Reason") or ""),
        start_time=parse_time(_field(record, "StartTime") or ""),
        comment=(_field(record, "Comment") or "").strip(),
        user=user.group(1),
        end_time=parse_aware_time(_field(record, "EndTime") or ""),
        partition=name_like(_field(record, "Partition")),
        cpus=cpu_count(_field(record, "NumCPUs")),
        gres=name_like(_field(record, "TresPerNode")),
    )


def parse_show_jobs(
    stdout: str, stderr: str, job_ids, marker: str
) -> dict[str, JobStatus | str | None]:
    """Each job's status from the output of one :func:`show_jobs_argv` run.

    Gives ``{job_id: JobStatus}``, with None for a job Slurm does not know (gone)
    and :data:`AMBIGUOUS` for one whose record cannot be trusted. Raises
    ``ValueError`` when the output does not have the expected shape, or scontrol
    reported anything but unknown jobs (the controller not answering, ...): then
    nothing can be concluded, least of all that a job is gone.
    """
    job_ids = [str(j) for j in job_ids]
    errors = [line.strip() for line in stderr.splitlines() if line.strip()]
    unknown = sum(1 for line in errors if _NOT_FOUND in line)
    if unknown != len(errors):
        other = next(line for line in errors if _NOT_FOUND not in line)
        raise ValueError(f"scontrol: {other[:300]}")
    # The marker's own line, exactly: the command's echo ("scontrol: show hostnames
    # MARKER") holds it too, but not alone.
    parts = re.split(rf"^{re.escape(marker)}$", stdout, flags=re.MULTILINE)
    if len(parts) != len(job_ids) + 1:
        raise ValueError(
            f"scontrol answered for {len(parts) - 1} of {len(job_ids)} jobs; "
            "it may have stopped early"
        )
    answered = zip(job_ids, parts[:-1], strict=True)
    result = {job_id: _parse_record(job_id, part) for job_id, part in answered}
    if sum(1 for status in result.values() if status is None) != unknown:
        raise ValueError("scontrol's errors do not match the jobs it did not show")
    return result
