"""The errors of the package a user is shown: a message for people, the technical
detail in the log. A leaf: it imports nothing of the package."""

from __future__ import annotations

from tornado import web

try:  # JupyterHub >= 6
    from jupyterhub.spawner import SpawnException as _SpawnException
except ImportError:  # JupyterHub 5
    _SpawnException = None

__all__ = ["OptionError", "user_error"]


class OptionError(ValueError):
    """A user option that is refused, with the field it concerns."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


def user_error(
    message: str,
    *,
    reason: str,
    status_code: int = 400,
    log_message: str | None = None,
    html_message: str | None = None,
) -> web.HTTPError:
    """An exception JupyterHub shows to the user as ``message``.

    On JupyterHub 6 this is its ``SpawnException``; on 5.x a ``tornado.web.HTTPError``.
    Both carry ``jupyterhub_message``, which the spawn form, the pending page and the
    REST API show on either version. ``html_message`` (already escaped HTML, e.g.
    with a link) is what pages show instead, as ``jupyterhub_html_message``.
    """
    if _SpawnException is not None:
        exc = _SpawnException(
            message, reason=reason, status_code=status_code, log_message=log_message or message
        )
    else:
        # JupyterHub 5's REST API shows an HTTPError's log message: make it the user's.
        # (The spawner logs the technical detail itself.)
        exc = web.HTTPError(status_code, "%s", message)
        exc.reason = reason
    exc.jupyterhub_message = message
    if html_message:
        exc.jupyterhub_html_message = html_message
    return exc
