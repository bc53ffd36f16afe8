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
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from datetime import datetime

from jupyterhub.apihandlers.base import APIHandler
from tornado import web

from .facts import TIME_ENV
from .options import unwrap_user_options
from .slurm.job import command_environment
from .slurm.runner import SlurmCommandError, run_command
from .slurm.testonly import (
    NOW_WITHIN,
    Estimate,
    TokenBucket,
    describe_estimate,
    parse_test_only,
    test_only_argv,
)

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
    """Answers of ``sbatch --test-only`` per key: kept, shared while asked, rate
    limited per user, and bounded in number at once, for the whole hub."""

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
        self.ttl = ttl
        self.never_ttl = never_ttl
        self.max_keys = max_keys
        self.wait = wait
        self.bucket = bucket if bucket is not None else TokenBucket(4, 3.0)
        self.clock = clock
        self.calls = 0
        self._semaphore = asyncio.Semaphore(concurrency)
        self._entries: OrderedDict[Hashable, tuple[Estimate, float]] = OrderedDict()
        self._inflight: dict[Hashable, asyncio.Future] = {}
        self._logged: set[str] = set()

    def cached(self, key: Hashable) -> Estimate | None:
        """The kept answer for ``key``, if still fresh."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self.clock() >= entry[1]:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry[0]

    async def estimate(
        self, key: Hashable, user: str, ask: Callable[[], Awaitable[Estimate]]
    ) -> Estimate:
        """The answer for ``key``: kept, joined, or ``ask()``-ed (one token of
        ``user``'s bucket; :class:`RateLimited` when there is none)."""
        hit = self.cached(key)
        if hit is not None:
            return hit
        pending = self._inflight.get(key)
        if pending is not None and not pending.done():
            return await asyncio.shield(pending)
        wait = self.bucket.take(user, self.clock())
        if wait > 0:
            raise RateLimited(wait)
        future = asyncio.ensure_future(self._ask(key, ask))
        self._inflight[key] = future
        return await asyncio.shield(future)

    async def _ask(self, key: Hashable, ask: Callable[[], Awaitable[Estimate]]) -> Estimate:
        try:
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
        finally:
            self._inflight.pop(key, None)
        ttl = {"now": self.ttl, "later": self.ttl, "never": self.never_ttl}.get(estimate.state)
        if ttl:
            self._entries[key] = (estimate, self.clock() + ttl)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_keys:
                self._entries.popitem(last=False)
        else:
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


_shared: dict[int | None, Estimator] = {}


def shared_estimator() -> Estimator:
    """The hub's :class:`Estimator` (one per event loop)."""
    try:
        loop_id = id(asyncio.get_running_loop())
    except RuntimeError:
        loop_id = None
    estimator = _shared.get(loop_id)
    if estimator is None:
        _shared.clear()
        estimator = _shared[loop_id] = Estimator()
    return estimator


async def ask_slurm(spawner, script: str) -> Estimate:
    """``sbatch --test-only`` as the spawner's user, ``script`` on its stdin."""
    env = {
        **command_environment(
            spawner._home(required=False), spawner._username, spawner.slurm_bin_dir
        ),
        **TIME_ENV,
    }
    argv = spawner._as_user(test_only_argv(spawner._slurm("sbatch")))
    try:
        result = await run_command(argv, input=script, check=False, env=env, timeout=TIMEOUT)
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


class EstimateHandler(APIHandler):
    """When Slurm would start the logged-in user's server with these options."""

    async def post(self):
        user = self.current_user
        if user is None or getattr(user, "kind", None) != "user":
            raise web.HTTPError(403, "Only logged-in users can ask when their server would start")
        if not self.has_scope(f"servers!user={user.name}"):
            # A token without the right to start the user's servers (a server's own).
            raise web.HTTPError(403, "This token may not start servers")
        spawner = user.spawner
        uses = ("batch_script_for", "validated_options_and_views")
        if not all(hasattr(spawner, name) for name in uses):
            raise web.HTTPError(404, "The hub's spawner is not MOSlurmSpawner")
        body = self.get_json_body()
        if body is None:
            body = {}
        if not isinstance(body, dict):
            return self._refuse("user_options", "user_options: must be an object")
        raw = unwrap_user_options(body)
        try:
            options, views = await spawner.validated_options_and_views(raw)
            script = spawner.batch_script_for(options, views[options.partition], estimate=True)
        except web.HTTPError as e:
            if e.status_code != 400:
                raise
            message = getattr(e, "jupyterhub_message", None) or _message(e)
            match = _FIELD.match(message)
            return self._refuse(match.group(1) if match else None, message)
        try:
            estimate = await shared_estimator().estimate(
                options_key(user.name, options), user.name, lambda: ask_slurm(spawner, script)
            )
        except RateLimited as e:
            error = web.HTTPError(429, "Too many estimates; ask again later")
            error.headers = {"Retry-After": str(max(1, math.ceil(e.retry_after)))}
            raise error from None
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.write(json.dumps(answer(estimate, datetime.now().astimezone())))

    def _refuse(self, field: str | None, message: str) -> None:
        """A 400 as JupyterHub writes errors, with the field refused when known."""
        self.set_status(400)
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        body = {"status": 400, "message": message}
        if field:
            body["field"] = field
        self.write(json.dumps(body))
