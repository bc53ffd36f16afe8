"""``POST {hub}/api/moss/estimate``: when would Slurm start this server, before Start?

For the logged-in user only (a token must also have the right to start the user's
servers; services and a server's own token get 403). The user's options
(``{"user_options": {...}}``, or the options alone) go through the same checks as
a start (a refused value is a 400 naming its field); the batch script is rendered
from them with an empty environment and handed, as the user, to
``sbatch --test-only`` on its standard input. The answer::

    {"state": "now" | "later" | "never" | "unknown", "text": "...", "start": ISO | null}

Its cost is bounded: an answer is kept 20 s per user and options (60 s when Slurm
refuses them) and shared by the requests that arrive while it is asked; each user
may make 4 calls to Slurm at once, then one every 3 s (429 with ``Retry-After``);
the hub runs at most 4 at a time, each for at most 10 s.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, Hashable
from datetime import datetime

from tornado import web

from ..choices.facts import TIME_ENV
from ..slurm.cache import TimedCache
from ..slurm.runner import SlurmCommandError
from ..slurm.shared import per_loop
from ..slurm.testonly import (
    NOW_WITHIN,
    Estimate,
    TokenBucket,
    describe_estimate,
    parse_test_only,
    test_only_argv,
)
from .base import MossAPIHandler, refused

__all__ = [
    "EstimateHandler",
    "Estimator",
    "RateLimited",
    "answer",
    "estimated_start",
    "options_key",
]

log = logging.getLogger(__name__)

#: Seconds an answer is kept; a refusal ("never") changes less often.
TTL = 20.0
NEVER_TTL = 60.0
#: Seconds ``sbatch --test-only`` may take, and to wait for a free slot.
TIMEOUT = 10.0
#: ``sbatch --test-only`` calls the hub runs at once.
CONCURRENCY = 4
#: Answers kept (users x options).
MAX_KEYS = 2000

_FIELD = re.compile(r"^([a-z_]{1,32}): ")


class RateLimited(Exception):
    """The user asked too often: ``retry_after`` seconds until the next call."""

    def __init__(self, retry_after: float):
        self.retry_after = retry_after
        super().__init__(f"retry after {retry_after:.1f} s")


def options_key(user: str, options) -> tuple[str, str]:
    """The cache key of an estimate: the user, and the validated options as
    canonical JSON (so that ``"4"`` and ``4``, or another order, are one key)."""
    if dataclasses.is_dataclass(options):
        options = dataclasses.asdict(options)
    return user, json.dumps(options, sort_keys=True, separators=(",", ":"), default=str)


def answer(estimate: Estimate, now: datetime) -> dict:
    """The endpoint's JSON for ``estimate``, worded at ``now`` (a start that has
    come within a minute while kept is ``now``)."""
    state = estimate.state
    start = estimate.start
    if state == "later" and start is not None and start <= now + NOW_WITHIN:
        state = "now"
    if state not in ("now", "later"):
        start = None
    return {
        "state": state,
        "text": describe_estimate(estimate, now),
        "start": start.isoformat() if start is not None else None,
    }


class Estimator:
    """Answers of ``sbatch --test-only`` per key, on the package's one cache: kept,
    shared while asked, rate limited per user, and bounded in number at once, for
    the whole hub."""

    def __init__(
        self,
        *,
        ttl: float = TTL,
        never_ttl: float = NEVER_TTL,
        max_keys: int = MAX_KEYS,
        concurrency: int = CONCURRENCY,
        wait: float = TIMEOUT,
        bucket: TokenBucket | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.wait = wait
        self.bucket = bucket if bucket is not None else TokenBucket(4, 3.0)
        self.clock = clock
        self.calls = 0
        # An unknown answer is not kept: the next view asks again.
        lifetimes = {"now": ttl, "later": ttl, "never": never_ttl}
        self._cache = TimedCache(
            "estimates",
            ttl=ttl,
            max_keys=max_keys,
            clock=clock,
            ttl_of=lambda estimate: lifetimes.get(estimate.state, 0.0),
            keep_errors=False,
        )
        self._semaphore = asyncio.Semaphore(concurrency)
        self._logged: set[str] = set()

    def __len__(self) -> int:
        """How many answers are held (at most ``max_keys``)."""
        return len(self._cache)

    def cached(self, key: Hashable) -> Estimate | None:
        """The kept answer for ``key``, if still fresh."""
        entry = self._cache.fresh(key)
        return entry.value if entry is not None else None

    async def estimate(
        self, key: Hashable, user: str, ask: Callable[[], Awaitable[Estimate]]
    ) -> Estimate:
        """The answer for ``key``: kept, joined, or ``ask()``-ed (one token of
        ``user``'s bucket; :class:`RateLimited` when there is none)."""
        hit = self.cached(key)
        if hit is not None:
            return hit
        if not self._cache.fetching(key):
            wait = self.bucket.take(user, self.clock())
            if wait > 0:
                raise RateLimited(wait)
        return (await self._cache.get(key, lambda _key: self._ask(ask))).value

    async def _ask(self, ask: Callable[[], Awaitable[Estimate]]) -> Estimate:
        try:
            await asyncio.wait_for(self._semaphore.acquire(), self.wait)
        except asyncio.TimeoutError:
            return Estimate("unknown", reason="too many estimates under way")
        try:
            self.calls += 1
            estimate = await ask()
        except Exception as e:  # a bug or an unexpected failure: no estimate, logged
            log.exception("The estimate failed")
            estimate = Estimate("unknown", reason=str(e) or type(e).__name__)
        finally:
            self._semaphore.release()
        if estimate.state not in ("now", "later", "never"):
            self._log_unknown(estimate.reason or "no reason")
        return estimate

    def _log_unknown(self, reason: str) -> None:
        """Each reason of an unknown answer is logged once (sudo refusing the
        command, an old sudoers file, a controller down), then only at debug level."""
        if reason in self._logged or len(self._logged) >= 100:
            log.debug("No estimate from sbatch --test-only: %s", reason)
            return
        self._logged.add(reason)
        log.warning("No estimate from sbatch --test-only: %s (logged once)", reason)


def shared_estimator() -> Estimator:
    """The hub's :class:`Estimator` (one per event loop)."""
    return per_loop("estimator", Estimator)


async def ask_slurm(spawner, script: str) -> Estimate:
    """``sbatch --test-only`` as the spawner's user, ``script`` on its stdin."""
    client = spawner.slurm_client()
    user, home = spawner.slurm_username, spawner.home_folder(required=False)
    env = {**client.user_environment(user, home), **TIME_ENV}
    argv = test_only_argv(client.path("sbatch"))
    try:
        result = await client.run_as(
            user, home, argv, input=script, check=False, env=env, timeout=TIMEOUT
        )
    except SlurmCommandError as e:
        return Estimate("unknown", reason=str(e))
    return parse_test_only(result.returncode, result.stderr)


def estimated_start(user: str, options) -> datetime | None:
    """The start Slurm gave for these options when the page last asked (no call):
    the pending page shows it until the scheduler has an estimate of its own."""
    estimate = shared_estimator().cached(options_key(user, options))
    if estimate is None or estimate.state not in ("now", "later"):
        return None
    return estimate.start


def _message(error: web.HTTPError) -> str:
    text = error.log_message or ""
    if error.args:
        try:
            text = text % error.args
        except (TypeError, ValueError):
            pass
    return text or "invalid options"


class EstimateHandler(MossAPIHandler):
    """When Slurm would start the logged-in user's server with these options."""

    async def post(self):
        user, spawner = self.logged_in_spawner(
            may="ask when their server would start",
            # Not a token without the right to start the user's servers (a server's own).
            scope="servers!user={user}",
            scope_refusal="This token may not start servers",
            uses=("batch_script_for", "choices"),
        )
        body = self.get_json_body()
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise refused("user_options", "user_options: must be an object")
        try:
            options, views = await spawner.choices().validated_options_and_views(body)
            script = spawner.batch_script_for(options, views[options.partition], estimate=True)
        except web.HTTPError as e:
            if e.status_code != 400:
                raise
            message = getattr(e, "jupyterhub_message", None) or _message(e)
            match = _FIELD.match(message)
            raise refused(match.group(1) if match else None, message) from None
        try:
            estimate = await shared_estimator().estimate(
                options_key(user.name, options), user.name, lambda: ask_slurm(spawner, script)
            )
        except RateLimited as e:
            error = web.HTTPError(429, "Too many estimates; ask again later")
            error.headers = {"Retry-After": str(max(1, math.ceil(e.retry_after)))}
            raise error from None
        self.write_json(answer(estimate, datetime.now().astimezone()))
