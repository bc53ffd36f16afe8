"""The launches of each server, kept in its state for the spawn page's "Start again".

A mixin of :class:`~jupyterhub_moss.spawner.lifecycle.MOSlurmSpawner`: it adds
``moss_launches`` to the state JupyterHub stores for each server, and keeps it
when the state is cleared as a server stops (the list is about past launches).
"""

from __future__ import annotations

import time

from traitlets import Integer, List
from traitlets.config import LoggingConfigurable

from .presets import merge_histories, record_launch

__all__ = ["LaunchHistory"]


class LaunchHistory(LoggingConfigurable):
    """The last distinct launches of a server, newest first."""

    start_again_presets = Integer(
        3,
        help="""
        How many of a user's last distinct launches the spawn page offers again, as
        one-click "Start again" links (each is checked like a new start, and shown
        disabled, with the reason, once it is no longer allowed). 0 turns them off.
        Example::

            c.MOSlurmSpawner.start_again_presets = 5
        """,
    ).tag(config=True)

    moss_launches = List(help="This server's last launches (state, not configuration).")

    def record_launch(self, options: dict) -> None:
        """Remember a launch with these normalised options."""
        keep = max(0, int(self.start_again_presets))
        self.moss_launches = record_launch(self.moss_launches, options, time.time(), keep=keep)

    def load_state(self, state):
        super().load_state(state)
        launches = state.get("moss_launches")
        # Read back from the database: malformed entries are dropped.
        self.moss_launches = merge_histories([launches], keep=10) if launches else []

    def get_state(self):
        state = super().get_state()
        if self.moss_launches:
            state["moss_launches"] = list(self.moss_launches)
        return state

    def clear_state(self):
        launches = list(self.moss_launches)
        super().clear_state()
        self.moss_launches = launches
