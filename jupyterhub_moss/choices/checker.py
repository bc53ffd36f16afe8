"""The user's choices against the admin's partitions: which partitions a user may
use, merged with what ``sinfo`` reports, and the options from the form, a link or
the REST API checked against them.

The spawner builds a :class:`UserChoices` from its settings for each check; the
form, the estimate handler and the admin command call its public methods.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from ..errors import user_error
from ..site.partitions import merge_partitions
from ..slurm.shared import shared_turnstile
from ..web.spawn_links import LinkNeedsConfirmation, from_hub_pages, query_options
from .facts import SlurmFacts, UserFacts
from .options import OptionError, UserOptions, flatten_form, validate_options

__all__ = ["UserChoices"]


class UserChoices:
    """The partitions one user may choose from, and the checking of their choices.

    ``partitions`` are the admin's, validated; ``allowed_names`` gives the names
    ``user_partitions`` allows the user (None: all); ``sinfo`` is the hub's shared
    ``sinfo`` cache; ``sbatch_options`` and ``user_environments`` are the settings
    ``allowed_sbatch_options`` and ``allow_user_environments``.
    """

    def __init__(
        self,
        partitions: Mapping,
        facts: SlurmFacts,
        sinfo,
        allowed_names: Callable[[], Awaitable[set[str] | None]],
        *,
        sbatch_options: Mapping[str, str] | None = None,
        user_environments: bool = False,
    ):
        self.partitions = partitions
        self.facts = facts
        self.sinfo = sinfo
        self.allowed_names = allowed_names
        self.sbatch_options = dict(sbatch_options or {})
        self.user_environments = user_environments

    async def views_and_facts(self) -> tuple[dict, UserFacts]:
        """The partitions this user may use, merged with the shared ``sinfo`` cache,
        and the user's Slurm facts they were chosen by (one look at the user's groups
        and the caches, for the page or the check)."""
        partitions = dict(self.partitions)
        allowed = await self.allowed_names()
        if allowed is not None:
            partitions = {n: p for n, p in partitions.items() if n in allowed}
        # Nor those that Slurm would not let this user use (AllowGroups,
        # AllowAccounts, AllowQos, the associations).
        facts = await self.facts.user_facts(list(partitions))
        partitions = {n: p for n, p in partitions.items() if facts.refusal(n) is None}
        snapshot = await self.sinfo.get()
        resources = snapshot.partitions if (snapshot.ok or snapshot.partitions) else None
        return merge_partitions(partitions, resources, snapshot.error), facts

    async def partition_views(self) -> dict:
        """The partitions this user may use (see :meth:`views_and_facts`)."""
        views, _ = await self.views_and_facts()
        return views

    async def validated_options(self, raw) -> UserOptions:
        """``raw`` user options checked against this user's partitions.

        Raises an HTTP 400 error naming the field on a refused value.
        """
        options, _ = await self.validated_options_and_views(raw)
        return options

    async def validated_options_and_views(self, raw) -> tuple[UserOptions, dict]:
        """``validated_options(raw)``, and the partition views it checked them against."""
        views, facts = await self.views_and_facts()
        try:
            options = validate_options(
                raw,
                views,
                sbatch_options=self.sbatch_options,
                user_environments=self.user_environments,
            )
            return facts.check(options), views
        except OptionError as e:
            raise user_error(str(e), reason="invalid_options") from None

    async def options_from_form(self, formdata) -> dict:
        """The user options of a submitted spawn form, checked."""
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

    async def options_from_query(self, query_data, handler) -> dict:
        """Options from a spawn link (``/hub/spawn?...``): the same fields and checks as
        the form. The link starts the server only when it comes from the hub's own
        pages (see :mod:`jupyterhub_moss.web.spawn_links`); any other link raises
        :class:`LinkNeedsConfirmation`, and JupyterHub shows the form filled in from it.

        JupyterHub 6 strips the ``opt-`` prefix of query options itself; JupyterHub 5
        does not, so the same link works with both, the prefix is handled here too.
        """
        options = await self.options_from_form(query_options(query_data))
        if not from_hub_pages(handler):
            raise LinkNeedsConfirmation()
        return options
