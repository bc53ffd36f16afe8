"""The job's output, for its owner and the admins.

- ``GET {hub}/moss/log/USER[/SERVER]``: a page with the last lines of the output of
  the server's job (the current one, or the last one once it has ended), refreshed
  every 5 s by ``static/moss-log.js`` while the job is pending or running.
- ``GET {hub}/api/moss/log/USER[/SERVER]``: the same as JSON,
  ``{"job_id", "state", "lines", "truncated"}``.

Only the server's owner and admins may read it (403 for anyone else, whether the
server exists or not; 404 for an unknown user or server). The output is read as
its owner, through the spawner's ``exec_prefix`` (``tail -c 65536 -- PATH``, see
:mod:`.slurm.output`). Each server's read is kept 3 s, and a viewer causes at most
one read every 2 s: neither the node's file system nor sudo is at the mercy of a
page left open, or of a script.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from functools import lru_cache

import jinja2
from jupyterhub.handlers.base import BaseHandler
from tornado import web

from .._version import __version__
from ..slurm.cache import TimedCache
from ..slurm.output import Tail
from ..slurm.shared import per_loop
from ..spawner.state import log_url
from .base import MossAPIHandler

__all__ = ["JobLogAPIHandler", "JobLogPage", "LogReads", "TooSoon", "log_access", "log_routes"]

#: Job states in which the page keeps refreshing.
ACTIVE_STATES = frozenset(
    {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "UNKNOWN"}
)


def log_access(
    viewer: str | None,
    viewer_is_admin: bool,
    owner: str,
    *,
    allowed_by_token: bool = True,
    owner_exists: bool = True,
    server_exists: bool = True,
) -> int:
    """The HTTP status for ``viewer`` asking for the output of ``owner``'s server.

    200 for the owner and admins (when the request's token or cookie carries the
    right to read that server, ``allowed_by_token``); 403 for anyone else, before
    anything is said about whether the user or server exists; then 404 for an
    unknown user or server.
    """
    if viewer is None or not allowed_by_token:
        return 403
    if viewer != owner and not viewer_is_admin:
        return 403
    if not owner_exists or not server_exists:
        return 404
    return 200


class TooSoon(Exception):
    """The viewer read the output less than the limit ago; ``retry_after`` seconds to wait."""

    def __init__(self, retry_after: float):
        super().__init__(f"retry after {retry_after:.1f} s")
        self.retry_after = retry_after


class LogReads:
    """The reads of job outputs, on the package's one cache: each server's kept
    ``ttl`` seconds and shared by concurrent viewers; a viewer starts at most one read
    every ``per_viewer`` seconds (sooner, they get the last read, or
    :class:`TooSoon` if there is none)."""

    def __init__(
        self,
        ttl: float = 3.0,
        per_viewer: float = 2.0,
        max_keys: int = 2000,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.per_viewer = per_viewer
        self.max_keys = max_keys
        self.clock = clock
        self._cache = TimedCache(
            "job outputs", ttl=ttl, max_keys=max_keys, clock=clock, keep_errors=False
        )
        self._viewers: OrderedDict[str, float] = OrderedDict()

    async def read(
        self, viewer: str, key: Hashable, fetch: Callable[[], Awaitable[Tail | None]]
    ) -> Tail | None:
        kept = self._cache.fresh(key)
        if kept is not None:
            return kept.value
        if not self._cache.fetching(key):
            now = self.clock()
            started = self._viewers.get(viewer)
            if started is not None and now - started < self.per_viewer:
                last = self._cache.peek(key)
                if last is not None:
                    return last.value
                raise TooSoon(self.per_viewer - (now - started))
            self._viewers[viewer] = now
            self._viewers.move_to_end(viewer)
            while len(self._viewers) > self.max_keys:
                self._viewers.popitem(last=False)
        return (await self._cache.get(key, lambda _key: fetch())).value


def shared_log_reads() -> LogReads:
    """The hub's one :class:`LogReads` (one per event loop)."""
    return per_loop("job output reads", LogReads)


def job_state(spawner, job_id: str | None) -> str | None:
    """What the page says of the job: its Slurm state while it is the server's job
    (``UNKNOWN`` before the watcher has answered), ``ENDED`` once it is not."""
    if not job_id:
        return None
    if job_id != spawner.job_id:
        return "ENDED"
    status = spawner.job_status()
    return status.state if status is not None else "UNKNOWN"


class _JobLog:
    """What both handlers share: who may read, and the read itself."""

    async def job_log(self, user_name: str, server_name: str | None) -> dict:
        server_name = server_name or ""
        viewer = self.current_user
        if viewer is not None and getattr(viewer, "kind", None) != "user":
            viewer = None  # services read logs through the owner, not here
        owner = self.find_user(user_name)
        code = log_access(
            viewer.name if viewer is not None else None,
            bool(viewer is not None and viewer.admin),
            user_name,
            allowed_by_token=self.has_scope(f"read:servers!server={user_name}/{server_name}"),
            owner_exists=owner is not None,
            server_exists=owner is not None and server_name in owner.orm_user.orm_spawners,
        )
        if code != 200:
            raise web.HTTPError(code)
        spawner = owner.spawners[server_name]
        if not hasattr(spawner, "job_log_url"):
            raise web.HTTPError(404, "The hub's spawner is not MOSlurmSpawner")
        job_id = spawner.job_id or spawner.job_output_of
        result = {"job_id": job_id, "state": job_state(spawner, job_id)}
        tail = None
        if job_id:
            await spawner.load_account()  # the output is read as the user, in their home
            job = spawner.server_job()
            tail = await shared_log_reads().read(
                viewer.name, (owner.name, server_name, job_id), lambda: job.read_output(job_id)
            )
        result["lines"] = tail.lines if tail is not None else []
        result["truncated"] = tail.truncated if tail is not None else False
        result["found"] = tail is not None
        # Unread (a hub's host that does not see the user's home, for one): where the
        # output is on the cluster, so that its owner can look there.
        result["where"] = None
        if job_id and tail is None:
            places = await job.output_places(job_id)
            result["where"] = places[0] if places else None
        return result


class JobLogAPIHandler(_JobLog, MossAPIHandler):
    """``{"job_id", "state", "lines", "truncated", "found", "where"}`` of a server's job
    output (``where``: the output's path on the cluster, when it could not be read)."""

    async def get(self, user_name, server_name=None):
        try:
            result = await self.job_log(user_name, server_name)
        except TooSoon as e:
            # On the exception: tornado clears the handler's headers before
            # JupyterHub's write_error sets an exception's own.
            error = web.HTTPError(429, "Too many reads of the job output")
            error.headers = {"Retry-After": str(max(1, math.ceil(e.retry_after)))}
            raise error from None
        self.write_json(result)


class JobLogPage(_JobLog, BaseHandler):
    """The page of a server's job output."""

    @web.authenticated
    async def get(self, user_name, server_name=None):
        try:
            result = await self.job_log(user_name, server_name)
        except TooSoon:
            result = None  # the page's script asks again in a moment
        server_name = server_name or ""
        hub = self.hub.base_url
        self.set_header("Cache-Control", "no-store")
        html = await self._render(
            "moss_log.html",
            owner=user_name,
            server_name=server_name,
            log=result,
            active=bool(result is None or result["state"] in ACTIVE_STATES),
            api_url=log_url(hub, user_name, server_name, api=True),
            home_url=f"{hub}home",
            fetch_script_url=f"{hub}moss/static/moss-fetch.js?v={__version__}",
            script_url=f"{hub}moss/static/moss-log.js?v={__version__}",
        )
        self.finish(html)

    async def _render(self, name: str, **ns) -> str:
        """Through JupyterHub's templates; from the package's folder too, should the
        admin's ``template_paths`` have left it out."""
        try:
            return await self.render_template(name, **ns)
        except jinja2.TemplateNotFound:
            namespace = dict(self.template_namespace)
            namespace["xsrf_token"] = self.xsrf_token.decode("ascii")
            namespace.update(ns)
            template = _with_package_templates(self.settings["jinja2_env"]).get_template(name)
            return await template.render_async(**namespace)


@lru_cache(maxsize=4)
def _with_package_templates(env: jinja2.Environment) -> jinja2.Environment:
    loader = jinja2.ChoiceLoader([env.loader, jinja2.PackageLoader("jupyterhub_moss", "templates")])
    return env.overlay(loader=loader)


def log_routes() -> list[tuple]:
    """The routes of the page and its API (JupyterHub puts the hub's URL in front)."""
    return [
        (r"/moss/log/([^/]+)/?", JobLogPage),
        (r"/moss/log/([^/]+)/([^/]+)/?", JobLogPage),
        (r"/api/moss/log/([^/]+)/?", JobLogAPIHandler),
        (r"/api/moss/log/([^/]+)/([^/]+)/?", JobLogAPIHandler),
    ]
