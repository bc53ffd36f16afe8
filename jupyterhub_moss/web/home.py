"""The home page's view of each server's job: ``GET {hub}/api/moss/servers``.

For the logged-in user, their own servers only (the default one and the named
ones), each with what the hub already knows of its job: the spawner's state and
the shared watcher's last answer. A view makes no Slurm call::

    {"now": "2026-12-03T16:05:00+01:00",
     "servers": {"": {"job_id": "123", "state": "RUNNING", "partition": "cpu",
                      "cpus": 4, "gpus": 0, "node": "node2",
                      "end": "2026-12-03T17:00:00+01:00",
                      "log_url": "/hub/moss/log/alice"},
                 "gpu-work": {...}}}

The page's script (``static/moss-home.js``, loaded by ``templates/moss_home.html``)
words it: "cpu · 4 cores · node2 · ends at 17:00, in 55 min".
"""

from __future__ import annotations

from datetime import datetime, timezone

from ..spawner.state import gpu_count, iso, log_url, output_from_state, parse_end
from .base import MossAPIHandler

__all__ = ["ServersHandler", "server_view", "servers_view"]

#: States in which a job holds its node and has an end time.
_ON_NODE = frozenset({"RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED"})


def server_view(spawner, status, log_url: str) -> dict:
    """One server's entry: ``spawner`` (a MOSlurmSpawner, or JupyterHub's stored
    record of a server that is not running), the watcher's last status of its job
    (None if unknown) and the page of its output."""
    job_id = getattr(spawner, "job_id", None)
    if not job_id:
        status = None
    gone = status is not None and status.state == "GONE"
    known = status if status is not None and not gone else None
    state = status.state if status is not None else None
    partition = (known.partition if known else None) or getattr(spawner, "job_partition", None)
    cpus = (known.cpus if known else None) or getattr(spawner, "job_cpus", None)
    gres = (known.gres if known else None) or getattr(spawner, "job_gres", None)
    end = known.end_time if known and known.end_time else None
    if end is None and job_id:
        end = parse_end(getattr(spawner, "job_end", None))
    stored_node = getattr(spawner, "job_node", None)
    on_node = bool(job_id) and (state in _ON_NODE or (state is None and bool(stored_node)))
    node = ((known.node if known else None) or stored_node) if on_node else None
    has_output = bool(job_id or getattr(spawner, "job_output_of", None))
    return {
        "job_id": job_id or None,
        "state": state,
        "partition": partition if job_id else None,
        "cpus": cpus if job_id else None,
        "gpus": gpu_count(gres) if job_id else None,
        "node": node,
        "end": iso(end) if end is not None and on_node else None,
        "log_url": log_url if has_output else None,
    }


class _Stopped:
    """A server that is not running, from the state JupyterHub stored for it."""

    job_id = None

    def __init__(self, state):
        self.job_output_of = output_from_state(state or {})[0]


def servers_view(spawners, status_of, log_url_of, now: datetime | None = None) -> dict:
    """The whole answer: ``spawners`` maps server names to spawners (or to stored
    records), ``status_of(spawner)`` gives the watcher's last status of its job (None
    if unknown), ``log_url_of(name)`` the page of a server's output."""
    if now is None:
        now = datetime.now(timezone.utc)
    servers = {}
    for name, spawner in spawners.items():
        if not hasattr(spawner, "job_log_url"):
            spawner = _Stopped(getattr(spawner, "state", None))
        servers[name] = server_view(spawner, status_of(spawner), log_url_of(name))
    return {"now": iso(now), "servers": servers}


def _watcher_status(spawner):
    if not hasattr(spawner, "job_status"):
        return None
    return spawner.job_status()


class ServersHandler(MossAPIHandler):
    """The logged-in user's servers and their jobs (no Slurm call)."""

    async def get(self):
        user, _ = self.logged_in_spawner(
            may="see their servers",
            scope="read:servers!user={user}",
            scope_refusal="This token may not read the user's servers",
            uses=("job_log_url",),
        )
        # Running servers are spawners; the others, JupyterHub's stored records.
        spawners = {spawner.name: spawner for spawner in user.all_spawners()}
        hub_url = self.hub.base_url
        view = servers_view(
            spawners, _watcher_status, lambda name: log_url(hub_url, user.name, name)
        )
        self.write_json(view)
