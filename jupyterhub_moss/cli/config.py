"""Loading a hub's ``jupyterhub_config.py`` the way JupyterHub does, and building
the spawner it configures, for the admin command's subcommands."""

from __future__ import annotations

import logging
import os
from types import SimpleNamespace
from urllib.parse import urlsplit, urlunsplit

from jupyterhub.objects import Hub
from jupyterhub.utils import url_path_join
from traitlets import TraitError
from traitlets.config import Config
from traitlets.config.loader import ConfigFileNotFound, PyFileConfigLoader

from ..site.partitions import PartitionConfigError, validate_partitions
from ..spawner.lifecycle import MOSlurmSpawner
from ..spawner.peers import check_peer_config

__all__ = ["DEFAULT_CONFIG", "CliError", "build_spawner", "hub_for_jobs", "load_hub_config"]

#: The config file read when ``-f`` is not given, in the working directory.
DEFAULT_CONFIG = "jupyterhub_config.py"

#: The spawner's messages (e.g. about ``exec_prefix``) go to standard error.
log = logging.getLogger("jupyterhub_moss.cli")


class CliError(Exception):
    """The command cannot go on (a config that does not load, a wrong argument):
    its message is printed and the command exits with status 2."""


def load_hub_config(path: str) -> Config:
    """The config ``path`` sets, read as JupyterHub reads it: executed by traitlets'
    ``PyFileConfigLoader``, with ``c`` and ``get_config()`` in its namespace.

    Raises :class:`CliError` when the file is missing, fails, or sets no partitions.
    """
    full = os.path.abspath(path)
    loader = PyFileConfigLoader(os.path.basename(full), path=os.path.dirname(full), log=log)
    try:
        config = loader.load_config()
    except ConfigFileNotFound:
        raise CliError(f"{path}: no such config file (give one with -f)") from None
    except SyntaxError as e:
        raise CliError(f"{path}: line {e.lineno}: syntax error: {e.msg}") from None
    except Exception as e:
        raise CliError(f"{path}: the config failed: {type(e).__name__}: {e}") from None
    section = config.get("MOSlurmSpawner", {})
    if "partitions" not in section:
        raise CliError(
            f"{path}: c.MOSlurmSpawner.partitions is not set: configure the partitions "
            "users may use (and call jupyterhub_moss.set_config(c))"
        )
    try:
        validate_partitions(section["partitions"])
        check_peer_config(config, log)
    except (PartitionConfigError, ValueError) as e:
        raise CliError(f"{path}: the hub would refuse this config:\n{e}") from None
    return config


def _fake_user(username: str) -> SimpleNamespace:
    """What the spawner reads of JupyterHub's user object, outside a hub."""
    return SimpleNamespace(
        name=username,
        escaped_name=username,
        url=f"/user/{username}/",
        groups=[],
        admin=False,
        server=None,
    )


def build_spawner(
    config: Config, username: str | None = None, spawner_class: type = MOSlurmSpawner
) -> MOSlurmSpawner:
    """The ``MOSlurmSpawner`` that ``config`` configures, for ``username`` (if given);
    ``spawner_class`` may be a subclass (configured by the same section).

    Raises :class:`CliError` on a setting the spawner refuses.
    """
    try:
        spawner = spawner_class(config=config, log=log)
    except (TraitError, PartitionConfigError, ValueError) as e:
        raise CliError(f"the spawner refuses the config: {e}") from None
    if username is not None:
        spawner.user = _fake_user(username)
    return spawner


def hub_for_jobs(config) -> Hub:
    """The hub as the job reaches it, from the settings JupyterHub reads for that:
    ``hub_connect_url`` (its path replaced by the hub's), else ``hub_connect_ip``
    or ``hub_ip`` and ``hub_port``; ``https`` with ``internal_ssl``."""
    section = config.get("JupyterHub", {})
    base_url = url_path_join(section.get("base_url", "/"), "hub/")
    hub = Hub(
        ip=section.get("hub_ip") or "127.0.0.1",
        port=int(section.get("hub_port", 8081)),
        base_url=base_url,
    )
    if section.get("hub_connect_ip"):
        hub.connect_ip = section["hub_connect_ip"]
    if section.get("internal_ssl"):
        hub.proto = "https"
    if section.get("hub_connect_url"):
        hub.connect_url = urlunsplit(urlsplit(section["hub_connect_url"])._replace(path=base_url))
    return hub
