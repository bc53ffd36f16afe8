"""What the hub keeps about a server's job besides its id, in the server's state.

- the job's details, as the watcher last saw them (no Slurm call of their own):
  ``job_partition``, ``job_cpus``, ``job_gres`` (``TresPerNode``) and ``job_end``
  (ISO 8601 with its offset). Admins read them through the REST API
  (``admin:server_state``); the home page shows them.
- where the job's output is: ``job_output`` (the paths, the likeliest first) and
  ``job_output_of`` (the job they belong to). They are kept when the server stops,
  so that the output of a job that failed to start can still be read.

Pure functions: the spawner's ``get_state``/``load_state``/``clear_state`` call them.
"""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import quote

from ..slurm.output import output_paths
from ..slurm.text import JOB_ID

__all__ = [
    "DETAIL_KEYS",
    "details_from_state",
    "details_from_status",
    "gpu_count",
    "iso",
    "log_url",
    "output_from_state",
    "parse_end",
    "spawner_output_paths",
]

#: The state keys of a job's details (and the spawner's attributes of the same names).
DETAIL_KEYS = ("job_partition", "job_cpus", "job_gres", "job_end")

_WORD = re.compile(r"^[A-Za-z0-9_.:,=/+@()-]{1,200}\Z")
#: the most paths kept for one job's output
_MAX_PATHS = 4


def details_from_status(status) -> dict:
    """The details a :class:`~jupyterhub_moss.slurm.squeue.JobStatus` knows, by state key
    (what it does not know is left out)."""
    if status is None:
        return {}
    details = {
        "job_partition": getattr(status, "partition", None),
        "job_cpus": getattr(status, "cpus", None),
        "job_gres": getattr(status, "gres", None),
    }
    end = getattr(status, "end_time", None)
    if isinstance(end, datetime):
        details["job_end"] = iso(end)
    return {key: value for key, value in details.items() if value is not None}


def details_from_state(state: dict) -> dict:
    """The details stored in a state, checked (anything malformed is left out)."""
    details = {}
    for key in ("job_partition", "job_gres"):
        value = state.get(key)
        if isinstance(value, str) and _WORD.match(value):
            details[key] = value
    cpus = state.get("job_cpus")
    if isinstance(cpus, int) and not isinstance(cpus, bool) and 0 < cpus < 10**7:
        details["job_cpus"] = cpus
    if parse_end(state.get("job_end")) is not None:
        details["job_end"] = state["job_end"]
    return details


def output_from_state(state: dict) -> tuple[str | None, list[str]]:
    """``(job_id, paths)`` of the last job's output in a state, or ``(None, [])``."""
    job_id = state.get("job_output_of")
    paths = state.get("job_output")
    if not isinstance(job_id, str) or not JOB_ID.match(job_id) or not isinstance(paths, list):
        return None, []
    paths = [
        p
        for p in paths[:_MAX_PATHS]
        if isinstance(p, str) and p.startswith("/") and not re.search(r"[\x00-\x1f\x7f]", p)
    ]
    return job_id, paths


def iso(value: datetime) -> str:
    """ISO 8601 with the offset, to the second (a naive time is taken as the hub's)."""
    return value.astimezone().isoformat(timespec="seconds")


def parse_end(value) -> datetime | None:
    """An aware datetime from an ISO 8601 string with an offset; None otherwise."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def gpu_count(gres: str | None) -> int:
    """The GPUs in a ``TresPerNode`` value: ``gres:gpu:V100:2`` (or ``gres/gpu:2``,
    ``gpu:2``, ``gres:gpu``) -> 2 (1 when no count is given)."""
    if not gres:
        return 0
    total = 0
    for item in gres.split(","):
        item = item.strip()
        for prefix in ("gres:", "gres/"):
            if item.startswith(prefix):
                item = item[len(prefix) :]
        parts = item.split("(", 1)[0].split(":")
        if parts[0] != "gpu":
            continue
        last = parts[-1] if len(parts) > 1 else ""
        total += int(last) if last.isdigit() else 1
    return total


def log_url(hub_base_url: str, user_name: str, server_name: str = "", api: bool = False) -> str:
    """The page of a server's job output: ``{hub}moss/log/USER`` (``/SERVER`` for a
    named server); with ``api``, its JSON: ``{hub}api/moss/log/...``."""
    base = hub_base_url if hub_base_url.endswith("/") else hub_base_url + "/"
    kind = "api/moss/log" if api else "moss/log"
    url = f"{base}{kind}/{quote(user_name, safe='@~')}"
    if server_name:
        url += f"/{quote(server_name, safe='@~')}"
    return url


def spawner_output_paths(spawner, job_id: str, home: str | None) -> list[str]:
    """Where a spawner's job ``job_id`` writes its output (see
    :func:`~jupyterhub_moss.slurm.output.output_paths`), from its configuration."""
    if home is None:
        return []
    name = spawner.name or ""
    fields = {
        "username": spawner.user.name,
        "servername": name,
        "servername_suffix": f"-{name}" if name else "",
        "home": home,
    }
    try:
        workdir = spawner.job_workdir.format(**fields)
        return output_paths(
            spawner.job_output, job_id, home=home, username=spawner.user.name, workdir=workdir
        )
    except (KeyError, IndexError, ValueError):
        return []
