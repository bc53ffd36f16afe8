"""When would a job start? ``sbatch --test-only``, its answer, and its wording.

Pure functions, and a token bucket to bound how often a user may ask. The hub runs
:func:`test_only_argv` as the user (the batch script on stdin) and hands the exit
status and standard error to :func:`parse_test_only`.

``sbatch --test-only`` answers on standard error: on success with one line,
``sbatch: Job 1234 to start at 2026-11-26T13:23:04 using 2 processors on nodes node1
in partition cpu``; on a refusal with exit status 1 and a last line that carries
the reason, ``allocation failure: ...`` (with or without a ``sbatch: error:``
prefix), after ``sbatch: error: ...`` lines. Before Slurm's generic refusal "Job
violates accounting/QOS policy" such a line names the limit
(``sbatch: error: QOSMaxWallDurationPerJobLimit``).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

from .text import CONTROL
from .timefmt import describe_duration

__all__ = [
    "Estimate",
    "TokenBucket",
    "describe_estimate",
    "describe_refusal",
    "parse_test_only",
    "test_only_argv",
]

#: A start this close (or in the past) is "now".
NOW_WITHIN = timedelta(seconds=60)
#: The most characters of Slurm's own words shown or kept.
MAX_REASON = 200

_START = re.compile(
    r"\bJob (?P<job>[0-9]+) to start at (?P<time>.+?)"
    r"(?: using (?P<cpus>[0-9]+) processors?)?"
    r"(?: on nodes (?P<nodes>\S+))?"
    r"(?: in partition (?P<partition>\S+))?\s*\Z"
)
_ERROR = re.compile(r"^\s*(?:[A-Za-z0-9_.-]+: )?error: ?(?P<text>.*)\Z")
#: What Slurm puts before the reason of a refusal.
_REFUSAL_PREFIXES = ("allocation failure:", "Batch job submission failed:")
#: A refusal printed without ``error:`` (``slurm_perror``): ``allocation failure: ...``.
_REFUSAL_LINE = re.compile(
    r"^\s*(?:[A-Za-z0-9_.-]+: )?(?P<text>(?:allocation failure|Batch job submission failed):.*)\Z"
)
#: Slurm's generic refusal, after which an earlier line names the limit.
_POLICY = "Job violates accounting/QOS policy"
#: Such a name: one word of letters (``QOSMaxWallDurationPerJobLimit``).
_CODE = re.compile(r"^[A-Z][A-Za-z]{2,63}\Z")
#: The limits Slurm names, in the user's words.
_CODES = {
    "QOSMaxWallDurationPerJobLimit": "the run time is longer than your QOS allows",
    "AssocMaxWallDurationPerJobLimit": "the run time is longer than your account allows",
    "QOSMaxSubmitJobPerUserLimit": "you have reached your QOS's limit of queued jobs",
    "AssocMaxSubmitJobLimit": "you have reached your account's limit of queued jobs",
}
#: Refusals that say nothing of the request: the controller could not answer.
_TRANSIENT = (
    "Unable to contact slurm controller",
    "Socket timed out",
    "backup controller in standby mode",
    "Zero Bytes were transmitted or received",
    "Communication connection failure",
    "Resource temporarily unavailable",
    "Slurm temporarily unable to accept job",
    "Slurmctld is busy",
)
#: Slurm's refusals, in the user's words (matched anywhere, ignoring case).
_PLAIN = (
    (
        "Requested node configuration is not available",
        "no node of this partition has that many cores, that much memory or those GPUs",
    ),
    ("Job violates accounting/QOS policy", "your account or QOS does not allow this request"),
    (
        "Invalid account or account/partition combination specified",
        "this account cannot be used on this partition",
    ),
    ("Invalid qos specification", "this QOS cannot be used with this account"),
    ("Access denied to requested reservation", "you may not use this reservation"),
)


@dataclass(frozen=True)
class Estimate:
    """What ``sbatch --test-only`` said of a job.

    ``state``: ``now`` (it would start within a minute), ``later`` (at ``start``),
    ``never`` (Slurm refuses it: ``reason``) or ``unknown`` (no answer that says:
    ``reason`` holds what was said instead). ``code``: the limit Slurm named on an
    earlier line of a refusal for its accounting/QOS policy
    (``QOSMaxWallDurationPerJobLimit``).
    """

    state: str
    start: datetime | None = None
    nodes: str | None = None
    partition: str | None = None
    reason: str | None = None
    processors: int | None = None
    code: str | None = None


def test_only_argv(sbatch: str = "sbatch") -> list[str]:
    """The command line of the estimate; the batch script goes on its stdin."""
    return [sbatch, "--test-only"]


# pytest would otherwise take this function for a test when a test module imports it.
test_only_argv.__test__ = False  # type: ignore[attr-defined]


def _plain_text(text: str) -> str:
    """Slurm's words made safe to show: control characters out, at most 200 characters."""
    text = CONTROL.sub(" ", text)
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) > MAX_REASON:
        text = text[: MAX_REASON - 1] + "…"
    return text


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.astimezone()


def _start_time(text: str) -> datetime | None:
    try:
        return _aware(datetime.fromisoformat(text.strip()))
    except ValueError:
        return None


def parse_test_only(
    returncode: int | None, stderr: str, *, now: datetime | None = None
) -> Estimate:
    """The :class:`Estimate` in the exit status and standard error of ``sbatch --test-only``.

    ``now`` (default: the clock) tells ``now`` from ``later``. A refusal is
    ``never`` when Slurm refused the request (``allocation failure: ...``,
    ``Batch job submission failed: ...``, the last error line giving the reason),
    ``unknown`` when it could not answer (controller unreachable, ``sudo`` refusing,
    a time it printed in another format).
    """
    lines = [line.strip() for line in (stderr or "").splitlines() if line.strip()]
    if returncode == 0:
        for line in reversed(lines):
            match = _START.search(line)
            if not match:
                continue
            start = _start_time(match.group("time"))
            cpus = match.group("cpus")
            found = {
                "nodes": match.group("nodes"),
                "partition": match.group("partition"),
                "processors": int(cpus) if cpus else None,
            }
            if start is None:
                reason = _plain_text(f"start time not understood: {match.group('time')}")
                return Estimate("unknown", reason=reason, **found)
            now = _aware(now) if now is not None else datetime.now().astimezone()
            state = "now" if start <= now + NOW_WITHIN else "later"
            return Estimate(state, start=start, **found)
        return Estimate("unknown", reason="sbatch gave no estimate")

    errors = []
    for line in lines:
        match = _ERROR.match(line) or _REFUSAL_LINE.match(line)
        if match:
            errors.append(match.group("text").strip())
    last = errors[-1] if errors else (lines[-1] if lines else "")
    refused = any(e.startswith(_REFUSAL_PREFIXES) for e in errors)
    for prefix in _REFUSAL_PREFIXES:
        if last.startswith(prefix):
            last = last[len(prefix) :]
            break
    reason = _plain_text(last) or f"sbatch exited with status {returncode}"
    if not refused or any(t.lower() in reason.lower() for t in _TRANSIENT):
        return Estimate("unknown", reason=reason)
    code = None
    if reason.startswith(_POLICY):
        codes = [e for e in errors[:-1] if _CODE.match(e)]
        code = codes[-1] if codes else None
    return Estimate("never", reason=reason, code=code)


def describe_refusal(text: str, code: str | None = None) -> str:
    """Slurm's refusal in plain words; Slurm's own words (made safe, at most 200
    characters) when it is not one this module knows. ``code``: the limit Slurm
    named before it (:attr:`Estimate.code`), which says more when it is known."""
    if code in _CODES:
        return _CODES[code]
    folded = (text or "").casefold()
    for slurm_says, words in [*_CODES.items(), *_PLAIN]:
        if slurm_says.casefold() in folded:
            return words
    return _plain_text(text or "") or "Slurm gave no reason"


def _clock(when: datetime, now: datetime) -> str:
    """``14:05`` today, ``2026-11-27 09:00`` on another day, in the hub's local time."""
    when, today = when.astimezone(), now.astimezone().date()
    return f"{when:%H:%M}" if when.date() == today else f"{when:%Y-%m-%d %H:%M}"


def describe_estimate(estimate: Estimate, now: datetime) -> str:
    """``starts now``, ``expected around 14:05 (in 25 min)`` (with the date when not
    today; in the hub's local time, Slurm's), ``cannot start: <plain words>``; empty
    when there is nothing to say (``unknown``)."""
    if estimate.state == "never":
        return f"cannot start: {describe_refusal(estimate.reason or '', estimate.code)}"
    if estimate.state not in ("now", "later"):
        return ""
    if estimate.start is None:
        return "starts now" if estimate.state == "now" else ""
    now = _aware(now)
    start = _aware(estimate.start)
    if start <= now + NOW_WITHIN:
        return "starts now"
    minutes = round((start - now).total_seconds() / 60)
    return f"expected around {_clock(start, now)} (in {describe_duration(minutes * 60)})"


class TokenBucket:
    """Per-key rate limit: ``capacity`` requests at once, one more every
    ``refill_seconds``.

    ``take(key, now)`` spends a token and returns 0, or returns the seconds to wait
    for the next one (nothing spent). ``now`` is a monotonic clock in seconds. At
    most ``max_keys`` keys are remembered; full buckets are forgotten first, then
    the least recently used.
    """

    def __init__(self, capacity: int = 4, refill_seconds: float = 3.0, max_keys: int = 10000):
        if capacity < 1 or refill_seconds <= 0 or max_keys < 1:
            raise ValueError("capacity and max_keys must be >= 1, refill_seconds > 0")
        self.capacity = capacity
        self.refill_seconds = refill_seconds
        self.max_keys = max_keys
        self._buckets: OrderedDict[object, tuple[float, float]] = OrderedDict()

    def _level(self, key, now: float) -> float:
        tokens, last = self._buckets.get(key, (float(self.capacity), now))
        elapsed = max(now - last, 0.0)
        return min(float(self.capacity), tokens + elapsed / self.refill_seconds)

    def take(self, key, now: float) -> float:
        tokens = self._level(key, now)
        if tokens >= 1:
            self._buckets[key] = (tokens - 1, now)
            wait = 0.0
        else:
            self._buckets[key] = (tokens, now)
            wait = (1 - tokens) * self.refill_seconds
        self._buckets.move_to_end(key)
        if len(self._buckets) > self.max_keys:
            self._prune(now)
        return wait

    def _prune(self, now: float) -> None:
        for key in [k for k in self._buckets if self._level(k, now) >= self.capacity]:
            del self._buckets[key]
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)

    def __len__(self) -> int:
        return len(self._buckets)
