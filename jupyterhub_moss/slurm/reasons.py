"""Slurm's pending reasons, in words a researcher understands."""

from __future__ import annotations

from datetime import datetime

__all__ = ["describe_pending"]

_EXACT = {
    "None": "waiting to be scheduled",
    "Resources": "waiting for free resources",
    "Priority": "waiting behind higher-priority jobs",
    "Dependency": "waiting for another job to finish",
    "DependencyNeverSatisfied": "its dependency can never be met: cancel and start again",
    "BeginTime": "waiting for its start time",
    "PartitionTimeLimit": "partition limit reached: lower the run time",
    "PartitionNodeLimit": "partition limit reached: ask for fewer nodes or cores",
    "PartitionDown": "the partition is down",
    "PartitionInactive": "the partition is not accepting jobs",
    "PartitionConfig": "the request does not fit the partition: change cores, memory or run time",
    "ReqNodeNotAvail": "the nodes it needs are not available (maintenance or reserved)",
    "NodeDown": "a node it needs is down",
    "Reservation": "waiting for its reservation to start",
    "ReservationDeleted": "its reservation was deleted",
    "InvalidQOS": "the quality of service (QOS) is not valid",
    "InvalidAccount": "the account is not valid",
    "JobHeldUser": "held by you (release it with scontrol release)",
    "JobHeldAdmin": "held by an administrator",
    "Licenses": "waiting for licenses",
    "Cleaning": "waiting for a previous run of this job to clean up",
    "Prolog": "the node is running its start-up script",
    "BadConstraints": "the request cannot be met by any node",
    "FrontEndDown": "no front-end node is available",
    "SystemFailure": "a Slurm system failure",
    "launch failed requeued held": "the start failed and the job is held",
    # A run time over a QOS's or an association's MaxWall, without DenyOnLimit:
    # Slurm takes the job but never starts it.
    "QOSMaxWallDurationPerJobLimit": (
        "the run time is longer than your QOS allows: this job will never start; "
        "stop it and choose a shorter run time or another QOS"
    ),
    "AssocMaxWallDurationPerJobLimit": (
        "the run time is longer than your account allows: this job will never start; "
        "stop it and choose a shorter run time"
    ),
    "AccountNotAllowed": "this account may not use this partition: stop it and choose another",
    "QOSNotAllowed": "this QOS may not be used on this partition: stop it and choose another",
}

_PREFIXES = (
    ("QOSMaxJobsPerUser", "you have reached your limit of running jobs"),
    ("QOSMaxSubmitJob", "you have reached your limit of queued jobs"),
    ("AssocMaxJobs", "your account has reached its limit of running jobs"),
    ("AssocGrp", "your group's share of the cluster is in use: waiting for it to free up"),
    ("AssocMax", "your account's limit is reached: ask for fewer resources"),
    ("QOSGrp", "the limit of your quality of service is reached: waiting for it to free up"),
    ("QOSMax", "the request exceeds your quality of service's limit: ask for fewer resources"),
    ("QOS", "a quality-of-service limit applies: waiting"),
    ("MaxCpuPerAccount", "your account's CPU limit is reached"),
)


def describe_reason(reason: str | None) -> str:
    """A plain-words description of a Slurm pending reason."""
    if not reason:
        return _EXACT["None"]
    if reason in _EXACT:
        return _EXACT[reason]
    for prefix, words in _PREFIXES:
        if reason.startswith(prefix):
            return words
    return f"waiting ({reason})"


def describe_pending(
    reason: str | None,
    start_time: datetime | None = None,
    estimated_before: datetime | None = None,
) -> str:
    """``Pending: waiting for free resources (Resources), expected to start at 14:05``.

    ``estimated_before`` is the start ``sbatch --test-only`` gave before the job was
    submitted: shown until the scheduler has an estimate of its own (``start_time``).
    """
    text = f"Pending: {describe_reason(reason)}"
    if reason and reason != "None":
        text += f" ({reason})"
    if start_time is not None:
        text += f", expected to start at {start_time:%Y-%m-%d %H:%M}"
    elif estimated_before is not None:
        when = estimated_before.astimezone() if estimated_before.tzinfo else estimated_before
        text += f", expected to start around {when:%Y-%m-%d %H:%M} (Slurm's estimate)"
    return text
