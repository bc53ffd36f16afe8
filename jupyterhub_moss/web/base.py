"""The base of every JSON endpoint of ``{hub}/api/moss/``: one way to find the caller's
spawner, one way to answer, and one way to fail.

Handlers raise :class:`tornado.web.HTTPError` (with ``.headers``, such as
``Retry-After``, where needed) or :func:`refused` for an option, and
:meth:`MossAPIHandler.write_error` writes every error as JupyterHub's API does:
``{"status": N, "message": "..."}``, with ``"field"`` naming the option refused.
No answer or error of these endpoints is kept by a cache.
"""

from __future__ import annotations

import json

from jupyterhub.apihandlers.base import APIHandler
from tornado import web

__all__ = ["MossAPIHandler", "refused"]


def refused(field: str | None, message: str) -> web.HTTPError:
    """A 400 for an option that is refused: ``message`` for the user, ``field`` the
    option's name (None when it is not known)."""
    error = web.HTTPError(400, "%s", message)
    error.jupyterhub_message = message
    error.field = field
    return error


class MossAPIHandler(APIHandler):
    """A JSON endpoint of jupyterhub_moss."""

    def logged_in_spawner(self, *, may: str, scope: str, scope_refusal: str, uses: tuple[str, ...]):
        """The logged-in user's default spawner, for a request that ``may`` do
        something ("see the resources"): only a user (not a service), whose token
        has ``scope`` (``{user}`` is their name), and whose spawner has ``uses``."""
        user = self.current_user
        if user is None or getattr(user, "kind", None) != "user":
            raise web.HTTPError(403, f"Only logged-in users can {may}")
        if not self.has_scope(scope.format(user=user.name)):
            raise web.HTTPError(403, scope_refusal)
        spawner = user.spawner
        if not all(hasattr(spawner, name) for name in uses):
            raise web.HTTPError(404, "The hub's spawner is not MOSlurmSpawner")
        return user, spawner

    def write_json(self, data) -> None:
        """``data`` as the JSON answer, never cached by the browser."""
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.write(json.dumps(data))

    def write_error(self, status_code, **kwargs):
        exception = (kwargs.get("exc_info") or (None, None, None))[1]
        # Tornado clears the headers before it calls this: set them again.
        self.set_header("Cache-Control", "no-store")
        field = getattr(exception, "field", None)
        if not field:
            return super().write_error(status_code, **kwargs)
        self.set_header("Content-Type", "application/json")
        message = getattr(exception, "jupyterhub_message", None) or str(exception)
        self.write(json.dumps({"status": status_code, "message": message, "field": field}))
