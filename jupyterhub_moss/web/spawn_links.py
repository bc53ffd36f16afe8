"""Spawn links (``/hub/spawn?partition=...``): when one may start a server at once.

JupyterHub starts a server as soon as ``options_from_query`` returns, for a GET
that any web page can make the browser send, with the hub's login cookie. So a
link starts a server only when the request shows it comes from the hub's own
pages; any other link opens the spawn page filled in from the link, and nothing
starts until the user presses Start (a POST, which JupyterHub checks for XSRF).
"""

from __future__ import annotations

import hmac

__all__ = [
    "LinkNeedsConfirmation",
    "LINK_NOTICE",
    "from_hub_pages",
    "link_options",
    "query_options",
]

#: What the spawn page says above a link's options that did not start a server.
LINK_NOTICE = (
    "This link asks to start a server with the options below. "
    "Nothing has started yet: check them, then press Start."
)

#: Query arguments that JupyterHub keeps for itself on /hub/spawn.
_RESERVED = ("next", "display_name")


class LinkNeedsConfirmation(Exception):
    """Raised by ``options_from_query`` for a link that must not start a server by
    itself. JupyterHub then shows the spawn form, with no error message of its own
    (``jupyterhub_message`` is empty) and status 200; the form says why."""

    jupyterhub_message = ""

    def __init__(self):
        super().__init__("a spawn link from outside the hub's pages: shown for confirmation")


def query_options(query: dict) -> dict:
    """The user options in a spawn link's query (a dict of lists of strings).

    JupyterHub 6 strips the ``opt-`` prefix itself; JupyterHub 5 does not. When some
    names carry it, only those count, as in JupyterHub 6. ``_xsrf`` is never an option.
    """
    query = {k: v for k, v in query.items() if k not in _RESERVED and k != "_xsrf"}
    if any(key.startswith("opt-") for key in query):
        query = {key[len("opt-") :]: v for key, v in query.items() if key.startswith("opt-")}
    return query


def _query(handler) -> dict:
    return {
        key: [v.decode("utf-8", "replace") for v in values]
        for key, values in handler.request.query_arguments.items()
    }


def from_hub_pages(handler) -> bool:
    """Whether a GET on /hub/spawn shows that it comes from the hub's own pages.

    - it carries the user's own ``_xsrf`` token (only the hub's pages know it);
    - or the browser says the request was made by a page of the hub's own origin
      (``Sec-Fetch-Site: same-origin``, which a page cannot forge);
    - or it is authenticated by an API token, which a browser never adds by itself.

    A request with none of these (another site's link or redirect, a link typed or
    pasted into the address bar, a browser that sends no ``Sec-Fetch-*``) does not.
    """
    if handler is None:
        return False
    if getattr(handler, "_token_authenticated", False):
        return True
    if handler.request.headers.get("Sec-Fetch-Site", "") == "same-origin":
        return True
    sent = handler.get_query_argument("_xsrf", "")
    if not sent:
        return False
    try:
        expected = handler.xsrf_token
    except Exception:  # no session to tie a token to
        return False
    if isinstance(expected, str):
        expected = expected.encode("utf-8")
    return hmac.compare_digest(sent.encode("utf-8", "replace"), expected)


def link_options(handler) -> dict | None:
    """The options of the spawn link this request is, for the form to show filled
    in; None when the request is not a spawn link (a plain GET, or a POST)."""
    request = getattr(handler, "request", None)
    if request is None or request.method != "GET":
        return None
    return query_options(_query(handler)) or None
