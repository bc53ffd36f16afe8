"""``set_config(c)``: what an admin calls in ``jupyterhub_config.py``."""

from __future__ import annotations

import asyncio
import logging
import os
from importlib.resources import files

from jupyterhub import apihandlers

from ._version import __version__
from .site.partitions import PartitionConfigError, merge_partitions, validate_partitions
from .slurm.client import SlurmClient
from .slurm.sinfo import shared_sinfo_cache, sinfo_argv
from .spawner.lifecycle import MOSlurmSpawner
from .spawner.peers import check_peer_config
from .web.handlers import handlers

__all__ = ["set_config"]

log = logging.getLogger("jupyterhub_moss")

_BATCHSPAWNER_API = r"/api/batchspawner"
_BATCHSPAWNER_WHY = (
    "jupyterhub_moss: the /hub/api/batchspawner endpoint that batchspawner registers "
    "is disabled: it lets the token of a user's server set any attribute of that "
    "user's spawner. MOSlurmSpawner does not use it; remove 'import batchspawner' "
    "from the config."
)


class _HandlersWithoutBatchspawner(list):
    """JupyterHub's API handler list, refusing batchspawner's attribute-setting endpoint."""

    def append(self, item):
        if _is_batchspawner_api(item):
            logging.getLogger("JupyterHub").warning(_BATCHSPAWNER_WHY)
            return
        super().append(item)

    def extend(self, items):
        for item in items:
            self.append(item)


def _is_batchspawner_api(item) -> bool:
    return (
        isinstance(item, (tuple, list))
        and item
        and str(item[0]).rstrip("/").endswith(_BATCHSPAWNER_API)
    )


def _block_batchspawner_api() -> None:
    """Drop batchspawner's handler if it is registered, and keep it from being added later."""
    current = apihandlers.default_handlers
    removed = [item for item in current if _is_batchspawner_api(item)]
    if removed:
        logging.getLogger("JupyterHub").warning(_BATCHSPAWNER_WHY)
    if not isinstance(current, _HandlersWithoutBatchspawner):
        guarded = _HandlersWithoutBatchspawner(i for i in current if not _is_batchspawner_api(i))
        apihandlers.default_handlers = guarded
    else:
        current[:] = [i for i in current if not _is_batchspawner_api(i)]


def _check_at_startup(c) -> None:
    """Refuse a bad partitions config before the hub serves anything.

    The config file is still being read when ``set_config`` runs; the check runs
    when JupyterHub applies it (it sets ``spawner_class`` then).
    """
    try:
        from jupyterhub.app import JupyterHub
    except ImportError:  # pragma: no cover
        return
    if not JupyterHub.initialized():
        return  # not inside a hub being launched (e.g. a test building a config)
    app = JupyterHub.instance()

    def check(change):
        app.unobserve(check, names="spawner_class")
        if change.new is not MOSlurmSpawner:
            return
        _place_templates(app)
        app.log.info("jupyterhub_moss %s: MOSlurmSpawner is the spawner", __version__)
        section = c.MOSlurmSpawner
        if "partitions" not in section:
            message = (
                "c.MOSlurmSpawner.partitions is not set: configure the partitions users may use"
            )
            app.log.critical(message)
            raise PartitionConfigError(message)
        try:
            partitions = validate_partitions(section.partitions)
            check_peer_config(c, app.log)
        except (PartitionConfigError, ValueError) as e:
            app.log.critical("Invalid jupyterhub_moss configuration:\n%s", e)
            raise
        ttl = float(section.get("sinfo_cache_ttl", MOSlurmSpawner.sinfo_cache_ttl.default_value))
        timeout = float(
            section.get("slurm_command_timeout", MOSlurmSpawner.slurm_command_timeout.default_value)
        )
        # As the spawners' own client asks as the hub: the same sinfo cache.
        client = SlurmClient(bin_dir=section.get("slurm_bin_dir", ""), timeout=timeout)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        asyncio.ensure_future(_report_partitions(app.log, partitions, client, ttl))

    app.observe(check, names="spawner_class")


def templates_folder() -> str:
    """The package's templates: ``home.html`` (``moss_home.html``) and ``moss_log.html``."""
    return str(files("jupyterhub_moss").joinpath("templates"))


def _add_templates(c) -> None:
    """Put the package's templates in ``c.JupyterHub.template_paths``, after the
    site's own folders (so that a site's ``home.html`` wins) and before JupyterHub's
    default one (so that the package's ``home.html`` wins over JupyterHub's)."""
    folder = templates_folder()
    paths = c.JupyterHub.template_paths
    if isinstance(paths, list):
        if folder not in paths:
            paths.append(folder)
    else:
        # Not set yet: a lazy value that JupyterHub applies to its default list (its
        # own folder). Before that one; a site folder given later with
        # .insert(0, ...) or .prepend(...) still comes first.
        paths.insert(0, folder)
    c.JupyterHub.template_vars.update({"moss_version": __version__})


def ordered_template_paths(paths: list[str], folder: str, jupyterhub_folder: str) -> list[str]:
    """``paths`` with ``folder`` moved just before ``jupyterhub_folder`` if it came after it."""
    paths = list(paths)
    if folder in paths and jupyterhub_folder in paths:
        if paths.index(folder) > paths.index(jupyterhub_folder):
            paths.remove(folder)
            paths.insert(paths.index(jupyterhub_folder), folder)
    return paths


def _place_templates(app) -> None:
    """At start-up: the package's templates before JupyterHub's own, or a warning."""
    folder = templates_folder()
    paths = list(app.template_paths)
    if folder not in paths:
        app.log.warning(
            "jupyterhub_moss: %s is not in c.JupyterHub.template_paths (set after "
            "jupyterhub_moss.set_config(c)?): the home page shows nothing of the servers' "
            "jobs. Append it, or call set_config(c) after setting template_paths.",
            folder,
        )
        return
    # JupyterHub's own templates (the default of template_paths).
    data_files = getattr(app, "data_files_path", None)
    if not data_files:  # pragma: no cover - another JupyterHub
        return
    default = os.path.join(data_files, "templates")
    ordered = ordered_template_paths(paths, folder, default)
    if ordered != paths:
        app.template_paths = ordered


async def _report_partitions(logger, partitions, client: SlurmClient, ttl: float) -> None:
    """Log, once at start-up, which configured partitions Slurm does not offer."""
    argv = sinfo_argv(client.path("sinfo"))
    snapshot = await shared_sinfo_cache(argv, ttl, client.timeout, client=client).get()
    if not snapshot.ok:
        logger.warning(
            "jupyterhub_moss: sinfo failed at start-up (%s); partitions will be shown as "
            "unavailable until the Slurm controller answers",
            snapshot.error,
        )
        return
    views = merge_partitions(partitions, snapshot.partitions)
    for view in views.values():
        if view.available:
            logger.info(
                "jupyterhub_moss: partition %s: up to %i cores, %i GPUs, %i s",
                view.name,
                view.max_nprocs,
                view.max_ngpus,
                view.max_runtime,
            )
        else:
            logger.warning(
                "jupyterhub_moss: partition %s is configured but unavailable: %s",
                view.name,
                view.unavailable_reason,
            )


def set_config(c) -> None:
    """Make ``MOSlurmSpawner`` the hub's spawner and register what its pages need:
    the spawn page's and the job output's endpoints, and the package's templates
    (appended to ``c.JupyterHub.template_paths``: a site's own ``home.html`` wins;
    extend ``moss_home.html`` in it to keep the servers' job lines).

    Call it in ``jupyterhub_config.py``, then set ``c.MOSlurmSpawner.partitions``::

        import jupyterhub_moss

        c = get_config()
        jupyterhub_moss.set_config(c)
        c.MOSlurmSpawner.partitions = {...}
    """
    c.JupyterHub.spawner_class = MOSlurmSpawner
    registered = [h[0] for h in c.JupyterHub.get("extra_handlers", [])]
    c.JupyterHub.extra_handlers = list(c.JupyterHub.get("extra_handlers", [])) + [
        h for h in handlers() if h[0] not in registered
    ]
    _add_templates(c)
    _block_batchspawner_api()
    _check_at_startup(c)
