"""The HTTP endpoints the spawn page uses.

- ``GET {hub}/api/moss/resources``: the partitions the logged-in user may use,
  with what ``sinfo`` reports, from the shared cache (JSON). It changes nothing.
- ``POST {hub}/api/moss/estimate``: when Slurm would start the logged-in user's
  server with the options given (``sbatch --test-only``, see :mod:`.estimate`).
- ``GET {hub}/moss/static/...``: the page's script and style sheet.
- ``GET {hub}/api/moss/servers``: the logged-in user's servers and their jobs, for
  the home page (see :mod:`.home`).
- ``GET {hub}/moss/log/USER[/SERVER]`` and ``{hub}/api/moss/log/...``: a server's
  job output, for its owner and admins (see :mod:`.joblog`).
- ``POST {hub}/api/moss/ready/USER[/SERVER]``: a starting server's job saying that
  its server answers, with the server's own token (see :mod:`.ready`).
"""

from __future__ import annotations

from importlib.resources import files

from tornado import web

from .base import MossAPIHandler
from .estimate import EstimateHandler
from .home import ServersHandler
from .joblog import log_routes
from .ready import ready_routes
from .simple_tab import simple_choices

__all__ = ["ResourcesHandler", "StaticHandler", "handlers"]


class ResourcesHandler(MossAPIHandler):
    """What the resource table shows, for the logged-in user."""

    async def get(self):
        _, spawner = self.logged_in_spawner(
            may="see the resources",
            # What the spawn page shows to start a server: not for a token that may not
            # start one (a server's own, or one limited to reading the user's name).
            scope="servers!user={user}",
            scope_refusal="This token may not start servers",
            uses=("choices",),
        )
        views, user_facts = await spawner.choices().views_and_facts()
        facts = user_facts.page_data(views)
        partitions = []
        for view in views.values():
            partition = view.as_dict()
            # The Simple tab's choices follow the limits sinfo reports.
            partition["simple_choices"] = simple_choices(partition, facts)
            partitions.append(partition)
        snapshot = spawner.sinfo_snapshot()
        self.write_json(
            {"partitions": partitions, "error": snapshot.error if snapshot is not None else None}
        )


class StaticHandler(web.StaticFileHandler):
    """The page's script and style; versioned URLs, so they may be cached."""

    def set_extra_headers(self, path):
        if self.get_argument("v", None):
            self.set_header("Cache-Control", "public, max-age=31536000, immutable")


def handlers() -> list[tuple]:
    """Routes for ``c.JupyterHub.extra_handlers`` (JupyterHub prefixes them with the hub's URL)."""
    static = str(files("jupyterhub_moss").joinpath("static"))
    return [
        (r"/api/moss/resources", ResourcesHandler),
        (r"/api/moss/estimate", EstimateHandler),
        (r"/moss/static/(.*)", StaticHandler, {"path": static}),
        # The home page's line about each server's job (home.py), the job output (joblog.py).
        (r"/api/moss/servers", ServersHandler),
        *log_routes(),
        # A starting server's job saying that its server answers (ready.py).
        *ready_routes(),
    ]
