"""``jupyterhub-moss script``: the batch script the hub would submit for a user's
options, after the same checks as a start from the spawn page or the REST API.

The options are ``key=value`` words with the names of the form and the REST API
(``partition=cpu nprocs=2 runtime=01:00:00 ngpus=1 memory=4G account=proj1 ...``).
They are checked against the partitions merged with ``sinfo`` and against the
user's Slurm associations (read-only queries); a refused value prints the same
message as the spawn page and nothing else. Nothing is submitted.

The API token and every variable of the job's environment whose name looks secret
(``TOKEN``, ``SECRET``, ``PASSWORD``, ``KEY``) are shown as ``********``, and so is
the random mark the hub puts in the job's comment. Values only the running hub
knows (the API token, its OAuth client) are stand-ins; the hub's API address comes
from ``c.JupyterHub.hub_connect_url``, else ``hub_connect_ip``/``hub_ip`` and
``hub_port``, with ``base_url``, and is ``https`` with ``internal_ssl``. The
user has no JupyterHub groups here: a ``user_partitions`` callable that looks at
them sees none.
"""

from __future__ import annotations

import asyncio
import re
import secrets

from jupyterhub.objects import Server
from jupyterhub.utils import url_path_join
from tornado import web

from ..choices.options import OPTION_NAMES
from ..spawner.lifecycle import MOSlurmSpawner
from .config import CliError, hub_for_jobs

__all__ = [
    "MASK",
    "OfflineSpawner",
    "OptionRefused",
    "batch_script",
    "mask_environment",
    "parse_assignments",
]

MASK = "********"
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSW|KEY|CREDENTIAL", re.IGNORECASE)


class OptionRefused(Exception):
    """The hub would refuse these options; the message names the field."""


class OfflineSpawner(MOSlurmSpawner):
    """The spawner outside a hub: JupyterHub's ``name`` and ``server`` come from its
    database rows; here they are plain attributes. Configured as MOSlurmSpawner."""

    offline_name = ""
    offline_server = None

    @property
    def name(self):
        return self.offline_name

    @property
    def server(self):
        return self.offline_server


def parse_assignments(words: list[str]) -> dict[str, str]:
    """``["partition=cpu", "nprocs=2"]`` -> ``{"partition": "cpu", "nprocs": "2"}``.

    Raises :class:`CliError` on a word without ``=`` or a name given twice. Unknown
    names are left to the hub's own check (which refuses them).
    """
    options: dict[str, str] = {}
    for word in words:
        name, sep, value = word.partition("=")
        if not sep or not name:
            raise CliError(f"{word!r} is not key=value (option names: {', '.join(OPTION_NAMES)})")
        if name in options:
            raise CliError(f"option {name!r} is given twice")
        options[name] = value
    return options


def mask_environment(env: dict[str, str]) -> dict[str, str]:
    """``env`` with the values of secret-looking names replaced by :data:`MASK`."""
    return {name: MASK if _SECRET_NAME.search(name) else value for name, value in env.items()}


def _prepare(spawner, config, server_name: str) -> None:
    """Give the spawner what JupyterHub would before ``start()``."""
    user = spawner.user
    spawner.hub = hub_for_jobs(config)
    spawner.api_token = secrets.token_hex(16)
    spawner.oauth_client_id = (
        "jupyterhub-user-" + user.escaped_name + (f"-{server_name}" if server_name else "")
    )
    base = url_path_join(config.get("JupyterHub", {}).get("base_url", "/"), "user", user.name)
    spawner.offline_name = server_name
    spawner.offline_server = Server(base_url=url_path_join(base, server_name) + "/")
    hub_env = spawner.get_env
    spawner.get_env = lambda: mask_environment(hub_env())


async def _render(spawner, raw: dict[str, str]) -> tuple[str, str]:
    try:
        options, views = await spawner.choices().validated_options_and_views(raw)
        token = secrets.token_hex(8)
        script = spawner.batch_script_for(options, views[options.partition], token)
    except web.HTTPError as e:
        message = getattr(e, "jupyterhub_message", None) or e.log_message or str(e)
        raise OptionRefused(message) from None
    return script, token


def batch_script(spawner, config, raw: dict[str, str], server_name: str = "") -> str:
    """The batch script ``spawner`` (built for the user) would submit for ``raw``.

    Raises :class:`OptionRefused` with the hub's message on a refused option.
    """
    _prepare(spawner, config, server_name)
    token = spawner.api_token
    script, mark = asyncio.run(_render(spawner, raw))
    return script.replace(token, MASK).replace(mark, MASK)
