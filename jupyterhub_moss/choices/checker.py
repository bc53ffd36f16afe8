"""The user's choices against the admin's partitions: which partitions a user may
use, merged with what ``sinfo`` reports, and the options from the form, a link or
the REST API checked against them.

A mixin of :class:`~jupyterhub_moss.spawner.lifecycle.MOSlurmSpawner`: its traits are set
as ``c.MOSlurmSpawner.NAME`` like the spawner's own.
"""

from __future__ import annotations

import asyncio
import json

from traitlets import Bool, Callable, Dict, List, TraitError, Unicode, Union, validate
from traitlets.config import LoggingConfigurable

from ..errors import user_error
from ..site.partitions import PartitionConfigError, merge_partitions, validate_partitions
from ..slurm.shared import shared_turnstile
from ..web.spawn_links import LinkNeedsConfirmation, from_hub_pages, query_options
from .options import OptionError, UserOptions, flatten_form, validate_options

__all__ = ["UserChoices"]


class UserChoices(LoggingConfigurable):
    """The partitions a user may choose from, and the checking of their choices."""

    partitions = Dict(
        help="""
        The Slurm partitions users may choose from, by name.

        Each partition is a dict with these fields:

        - ``architecture`` (str): shown as a subtitle on the spawn page.
        - ``description`` (str): shown as the partition's title on the spawn page.
        - ``gpu`` (str or None): the ``--gres`` template for GPUs, with ``{}`` where
          the number goes, e.g. ``"gpu:V100:{}"``; None when the partition has no GPUs.
        - ``max_ngpus`` (int): most GPUs one job may ask for (0 without GPUs).
        - ``max_nprocs`` (int): most CPU cores one job may ask for.
        - ``max_runtime`` (int): longest run time in seconds.
        - ``simple`` (bool): also offer the partition on the Simple tab.
        - ``venv`` (str): the ``bin/`` folder, on the compute nodes, of the Python
          environment whose ``jupyterhub-singleuser`` runs the server.

        Limits left out are taken from what ``sinfo`` reports; limits set are
        lowered to what the cluster can give. Example::

            c.MOSlurmSpawner.partitions = {
                "cpu": {
                    "architecture": "x86_64",
                    "description": "General purpose nodes",
                    "gpu": None,
                    "max_ngpus": 0,
                    "max_nprocs": 28,
                    "max_runtime": 12 * 3600,
                    "simple": True,
                    "venv": "/opt/jupyter/bin/",
                },
            }
        """,
    ).tag(config=True)

    @validate("partitions")
    def _validate_partitions(self, proposal):
        try:
            self._keep_partitions(validate_partitions(proposal.value))
        except PartitionConfigError as e:
            raise TraitError(str(e)) from None
        return proposal.value

    user_partitions = Union(
        [Callable(), List(Unicode())],
        default_value=None,
        allow_none=True,
        help="""
        Which partitions a user may use: a list of names, or a callable taking the
        spawner and returning one (it may be async). Default: all of ``partitions``.

        Partitions not allowed are neither shown nor accepted. Example::

            def gpu_only_for_group(spawner):
                names = ["cpu", "long"]
                if "gpu-users" in [g.name for g in spawner.user.groups]:
                    names.append("gpu")
                return names

            c.MOSlurmSpawner.user_partitions = gpu_only_for_group
        """,
    ).tag(config=True)

    allow_user_environments = Bool(
        False,
        help="""
        Let users start their server from an environment of their own, as in
        jupyterhub-moss 10.x: the options ``environment_path`` (an absolute path to a
        ``bin/`` folder, or to a ``.sif`` image) and ``environment_modules`` (module
        names, space separated). Off by default: with it, a user's job runs
        whatever that folder holds (as the user). Example::

            c.MOSlurmSpawner.allow_user_environments = True
        """,
    ).tag(config=True)

    _validated_partitions = None
    _partitions_fingerprint = ""

    def _keep_partitions(self, validated) -> None:
        self._validated_partitions = validated
        self._partitions_fingerprint = json.dumps(
            {name: p.model_dump() for name, p in validated.items()},
            sort_keys=True,
            default=repr,
        )

    def configured_partitions(self):
        """The admin's partitions, as validated when they were set."""
        if self._validated_partitions is None:  # never set: the default
            self._keep_partitions(validate_partitions(self.partitions))
        return self._validated_partitions

    def partitions_fingerprint(self) -> str:
        """A text that changes whenever the validated partitions do."""
        self.configured_partitions()
        return self._partitions_fingerprint

    async def partition_views(self):
        """The partitions this user may use, merged with the shared ``sinfo`` cache."""
        views, _ = await self.views_and_facts()
        return views

    async def views_and_facts(self):
        """``partition_views()``, with the user's Slurm facts they were chosen by
        (one look at the user's groups and the caches, for the page or the check)."""
        partitions = self.configured_partitions()
        allowed = await self.allowed_partition_names()
        if allowed is not None:
            partitions = {n: p for n, p in partitions.items() if n in allowed}
        # Nor those that Slurm would not let this user use (AllowGroups,
        # AllowAccounts, AllowQos, the associations).
        facts = await self.user_facts(list(partitions))
        partitions = {n: p for n, p in partitions.items() if facts.refusal(n) is None}
        snapshot = await self._sinfo_cache().get()
        resources = snapshot.partitions if (snapshot.ok or snapshot.partitions) else None
        return merge_partitions(partitions, resources, snapshot.error), facts

    async def allowed_partition_names(self) -> set[str] | None:
        """The names of the partitions ``user_partitions`` allows this user (None: all)."""
        if self.user_partitions is None:
            return None
        if callable(self.user_partitions):
            names = self.user_partitions(self)
            if asyncio.iscoroutine(names):
                names = await names
        else:
            names = self.user_partitions
        return {str(n) for n in names}

    async def validated_options(self, raw) -> UserOptions:
        """``raw`` user options checked against this user's partitions.

        Raises an HTTP 400 error naming the field on a refused value.
        """
        options, _ = await self.validated_options_and_views(raw)
        return options

    async def validated_options_and_views(self, raw):
        """``validated_options(raw)``, and the partition views it checked them against."""
        views, facts = await self.views_and_facts()
        try:
            options = validate_options(
                raw,
                views,
                sbatch_options=self.allowed_sbatch_options,
                user_environments=self.allow_user_environments,
            )
            return facts.check(options), views
        except OptionError as e:
            raise user_error(str(e), reason="invalid_options") from None

    async def _options_from_form(self, formdata):
        try:
            raw = flatten_form(formdata)
        except OptionError as e:
            raise user_error(str(e), reason="invalid_options") from None
        options = await self.validated_options(raw)
        # The requests of a class pressing Start together wait for the same facts
        # and wake together: JupyterHub's own work for each spawn that follows
        # (database writes, the server's token) then goes on one request per turn
        # of the loop, and the hub answers other requests in between.
        await shared_turnstile("spawn requests").pass_through()
        return options.to_user_options()

    async def options_from_query(self, query_data):
        """Options from a spawn link (``/hub/spawn?...``): the same fields and checks as
        the form. The link starts the server only when it comes from the hub's own
        pages (see :mod:`jupyterhub_moss.web.spawn_links`); any other link is refused with
        :class:`LinkNeedsConfirmation`, and JupyterHub shows the form filled in from it.

        JupyterHub 6 strips the ``opt-`` prefix of query options itself; JupyterHub 5
        does not, so the same link works with both, the prefix is handled here too.
        """
        options = await self._options_from_form(query_options(query_data))
        if not from_hub_pages(getattr(self, "handler", None)):
            self.log.info(
                "A spawn link for %s came from outside the hub's pages: showing the form",
                getattr(self, "_log_name", "a server"),
            )
            raise LinkNeedsConfirmation()
        return options
