"""The call a starting server's job makes when its server answers.

``POST {hub}/api/moss/ready/USER[/SERVER]`` with ``{"port": N}``, authorised by
the server's own token (``JUPYTERHUB_API_TOKEN``, which the job holds anyway).
It tells the hub to look at the job now instead of waiting for its next poll:
the hub learns a server is up within a fraction of a second, and slurmctld is
not asked again and again while servers boot.

What it trusts, and why (see docs/security.md):

- The token must be the very token the hub made for that server at this start
  (compared in constant time): not another server's of the same user, not the
  user's own API token, not an admin's. A job holds only its own server's token.
- The call is accepted only while that server is starting, and only for a port in
  ``server_port_range``.
- The call itself sets nothing. The hub then asks Slurm about the job, once: it
  must be running, be the user's, and carry that port in its comment (which only
  the job's owner, or Slurm's operators, may set). The address the hub routes to
  is the node Slurm names and the port the comment gives, never anything the call
  says. A false call costs one Slurm look-up, and is answered 409.
"""

from __future__ import annotations

import hmac
import json
import logging

from tornado import web

from ..metrics import READY_CALLS
from .base import MossAPIHandler

__all__ = ["ReadyHandler", "ready_routes"]

log = logging.getLogger(__name__)

#: The largest body the call may have (``{"port": 65535}`` is 15 bytes).
MAX_BODY = 200


class ReadyHandler(MossAPIHandler):
    """A starting server's job says its server answers on a port."""

    async def post(self, user_name, server_name=""):
        spawner = self._callers_spawner(user_name, server_name or "")
        port = self._port()
        low, high = spawner.server_port_range
        if not low <= port <= high:
            READY_CALLS.labels("refused").inc()
            raise web.HTTPError(400, f"Port {port} is outside the servers' range {low}-{high}")
        if spawner.job_port == port and spawner.job_node:
            # A poll found the port in the job's comment before the call came: the
            # hub has it already (job_port is set once Slurm confirmed it). Nothing
            # is done, and nothing is wrong.
            READY_CALLS.labels("late").inc()
            self._answer(spawner, port, already=True)
            return
        refusal = await spawner.server_reported(port)
        if refusal is not None:
            READY_CALLS.labels("refused").inc()
            log.warning(
                "The ready call of %s's server %r was refused: %s", user_name, server_name, refusal
            )
            raise web.HTTPError(409, refusal)
        READY_CALLS.labels("accepted").inc()
        self._answer(spawner, port)

    def _answer(self, spawner, port: int, already: bool = False) -> None:
        self.write_json({"ready": True, "job_id": spawner.job_id, "port": port, "already": already})

    def _callers_spawner(self, user_name: str, server_name: str):
        """The named server's spawner, if the caller's token is that server's own."""
        token = self.get_auth_token()
        user = self.find_user(user_name)
        spawner = user.spawners.get(server_name) if user is not None else None
        expected = getattr(spawner, "api_token", None)
        if (
            not token
            or not expected
            or not hmac.compare_digest(token.encode(), expected.encode())
            or self.current_user is None
            or self.current_user.name != user_name
        ):
            READY_CALLS.labels("forbidden").inc()
            raise web.HTTPError(403, "Only the server's own token may say that it is ready")
        if not hasattr(spawner, "server_reported"):
            raise web.HTTPError(404, "The hub's spawner is not MOSlurmSpawner")
        return spawner

    def _port(self) -> int:
        body = self.request.body or b""
        if len(body) > MAX_BODY:
            raise web.HTTPError(400, "The body is too long")
        try:
            port = json.loads(body or b"{}").get("port")
        except (ValueError, AttributeError):
            raise web.HTTPError(400, 'The body must be {"port": N}') from None
        if not isinstance(port, int) or isinstance(port, bool):
            raise web.HTTPError(400, 'The body must be {"port": N}')
        return port


def ready_routes() -> list[tuple]:
    return [
        (r"/api/moss/ready/([^/]+)/?", ReadyHandler),
        (r"/api/moss/ready/([^/]+)/([^/]+)/?", ReadyHandler),
    ]
