"""What Slurm knows about a user, for the spawn page and the checks of a start:
the accounts and QOS that slurmdbd lets the user combine, the partitions' access
lists, the reservations open to the user, and the user's Unix groups.

Every fact comes from a cache shared by the whole hub (:mod:`.slurm.cache`): a
page view with warm caches runs no Slurm command. A fact the cluster lacks (no
slurmdbd, no reservation) or that cannot be read is ``None``, and the part of the
page that uses it is left out; nothing else changes.

A mixin of :class:`~jupyterhub_moss.spawner.lifecycle.MOSlurmSpawner`: its traits are set as
``c.MOSlurmSpawner.NAME`` like the spawner's own.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from traitlets import CaselessStrEnum, Float, Integer
from traitlets.config import LoggingConfigurable

from ..errors import OptionError, user_error
from ..metrics import FACTS_CACHE
from ..slurm.accounting import (
    assoc_argv,
    default_account_argv,
    parse_associations,
    parse_default_account,
    parse_qos,
    qos_argv,
)
from ..slurm.cache import TimedCache, metric_counter, shared_cache
from ..slurm.clusterinfo import (
    ClusterConfig,
    PartitionInfo,
    config_argv,
    parse_config,
    parse_partitions,
    partition_refusal,
    partitions_argv,
)
from ..slurm.reservations import (
    Reservation,
    describe_reservation,
    parse_reservations,
    reservations_argv,
    usable_reservations,
)
from ..slurm.text import NAME
from .accounts import AccountView, allowed_choices, check_account_qos, refuse_without_accounting
from .system_accounts import SystemAccount, cached_account, read_home, system_account

__all__ = ["SlurmFacts", "UserFacts"]

#: Slurm prints times as this asks: ISO 8601, whatever the site's default.
TIME_ENV = {"SLURM_TIME_FORMAT": "standard"}


@dataclass(frozen=True)
class UserFacts:
    """What Slurm lets one user choose; ``None`` where the cluster lacks the fact."""

    user: str
    accounting: bool  # the cluster keeps associations (slurmdbd) and the hub uses them
    accounts: AccountView | None  # None: no accounting, or slurmdbd could not be read
    partitions: dict[str, PartitionInfo] | None  # the controller's partitions
    reservations: tuple[Reservation, ...] | None
    groups: frozenset[str]
    set_by_admin: bool = False  # the admin's #SBATCH options fix the account or QOS

    def account_names(self) -> list[str] | None:
        return list(self.accounts.accounts) if self.accounts is not None else None

    def refusal(self, partition: str) -> str | None:
        """Why Slurm would not let this user use ``partition`` at all (None: it would)."""
        if self.accounts is not None:
            choices = [c for c in self.accounts.accounts.values()]
            if not any(partition in c.partitions for c in choices):
                reasons = [c.refusals[partition] for c in choices if partition in c.refusals]
                return reasons[0] if reasons else "none of your Slurm accounts may use it"
            return None
        if self.partitions is not None:
            return partition_refusal(self.partitions.get(partition), self.groups, None, None)
        return None

    def reservations_for(self, partition: str, now: datetime | None = None) -> list[Reservation]:
        if not self.reservations:
            return []
        now = now or datetime.now(timezone.utc)
        info = self.partitions.get(partition) if self.partitions else None
        return usable_reservations(
            self.reservations,
            self.user,
            self.groups,
            self.account_names(),
            partition,
            info.nodes if info is not None and info.nodes else None,
            now,
        )

    def page_data(self, partitions) -> dict:
        """The facts the spawn page's script needs, as JSON-able values."""
        now = datetime.now(timezone.utc)
        reservations = {}
        for name in partitions:
            usable = self.reservations_for(name, now)
            if usable:
                reservations[name] = [
                    {"name": r.name, "label": describe_reservation(r, now)} for r in usable
                ]
        return {
            "accounts": self.accounts.as_dict() if self.accounts is not None else None,
            "reservations": reservations if self.reservations is not None else None,
        }

    def check(self, options):
        """``options`` (validated for form and the partitions' caps) checked against
        Slurm's facts: the account and QOS, the run time under the QOS, the reservation.

        Returns the options with the account and QOS filled in (the defaults when
        none was chosen); raises :class:`~jupyterhub_moss.errors.OptionError`.
        """
        if self.accounting:
            account, qos = check_account_qos(
                options.account, options.qos, options.partition, None, self.accounts
            )
            if self.accounts is not None and not options.runtime_chosen:
                # No run time chosen: the default one, lowered to what the QOS allows.
                choice = self.accounts.accounts[account].partitions[options.partition]
                cap = choice.max_runtime(qos)
                if cap is not None and cap < options.runtime:
                    options = dataclasses.replace(options, runtime=cap)
            check_account_qos(account, qos, options.partition, options.runtime, self.accounts)
        else:
            if self.set_by_admin:
                for field in ("account", "qos"):
                    if getattr(options, field):
                        raise OptionError(field, "is set by the administrators of this hub")
            refuse_without_accounting(options.account, options.qos)
            account, qos = None, None
        reservation = options.reservation
        if reservation and self.reservations is not None:
            reservation = check_reservation(
                reservation, self.reservations_for(options.partition), options.partition
            )
        return dataclasses.replace(options, account=account, qos=qos, reservation=reservation)


class SlurmFacts(LoggingConfigurable):
    """The shared caches of Slurm's facts, and a user's view of them."""

    slurm_accounting = CaselessStrEnum(
        ["auto", "off"],
        default_value="auto",
        help="""
        Whether users choose their Slurm account and QOS on the spawn page. With
        ``"auto"`` (the default) the page offers them when the cluster keeps
        accounting in slurmdbd (``AccountingStorageType=accounting_storage/slurmdbd``),
        from the user's associations (``sacctmgr show assoc``), and a start with an
        account or QOS the associations do not allow is refused before ``sbatch``
        runs. ``"off"`` leaves accounts to Slurm's defaults and the admin's
        ``sbatch_directives``. Example::

            c.MOSlurmSpawner.slurm_accounting = "off"
        """,
    ).tag(config=True)

    accounts_cache_ttl = Float(
        300.0,
        help="""
        Seconds a user's associations and the QOS table are reused for, by every page
        view and start of the hub (``sacctmgr`` asks slurmdbd, about 0.3 s a call).
        A change made with ``sacctmgr`` shows on the spawn page after at most this
        long; Slurm enforces it at once. Example::

            c.MOSlurmSpawner.accounts_cache_ttl = 60
        """,
    ).tag(config=True)

    minimum_uid = Integer(
        1000,
        help="""
        The lowest Unix user id the hub starts servers for. Whatever this says, no
        job is ever submitted for root (uid 0) nor for the account Slurm runs as
        (``SlurmUser``); accounts under this id (system and service accounts) are
        refused too, with a message that says why. Example::

            c.MOSlurmSpawner.minimum_uid = 5000
        """,
    ).tag(config=True)

    async def load_account(self) -> SystemAccount | None:
        """This user's system account (None if there is none), looked up off the event
        loop and kept a while for the whole hub (:mod:`..system_accounts`). Every
        async step that goes on to read the home (:meth:`_home`) calls it first."""
        return await system_account(self.slurm_username)

    def home_folder(self, required: bool = True) -> str | None:
        """The user's home folder on the hub's machine (None if there is no such
        account and it is not ``required``), from the account :meth:`load_account`
        looked up; looked up here, blocking, only if nothing has looked it up yet."""
        entry = cached_account(self.slurm_username)
        if entry is not None and entry.value is not None:
            return entry.value.home
        home = read_home(self.slurm_username)
        if home is not None:
            return home
        if not required:
            return None
        raise user_error(
            f"There is no system account named {self.slurm_username!r} on the hub machine, "
            "so no Slurm job can be submitted for it.",
            reason="no_account",
        )

    async def account_refusal(self) -> str | None:
        """Why no server may be started for this user's system account (None: one
        may)."""
        account = await self.load_account()
        if account is None:
            return None  # no such account: submitting says so in its own words
        config = await self.cluster_config()
        slurm_user = config.slurm_user if config is not None else ""
        return refuse_account(account.name, account.uid, self.minimum_uid, slurm_user)

    def _facts_settings(self) -> tuple:
        return (self.slurm_bin_dir, float(self.slurm_command_timeout))

    async def _run_for_facts(self, argv) -> str:
        result = await self.slurm_client().run(argv, env={**os.environ, **TIME_ENV})
        return result.stdout

    def _facts_cache(self, name: str, fetch, ttl: float, error_ttl: float) -> TimedCache:
        return shared_cache(
            name,
            (*self._facts_settings(), float(ttl)),
            lambda: TimedCache(
                name,
                fetch,
                ttl=ttl,
                error_ttl=error_ttl,
                count=metric_counter(FACTS_CACHE, cache=name),
            ),
        )

    async def cluster_config(self) -> ClusterConfig | None:
        async def fetch(_key):
            return parse_config(
                await self._run_for_facts(config_argv(self.slurm_client().path("scontrol")))
            )

        entry = await self._facts_cache("config", fetch, 600.0, 60.0).get()
        return entry.value

    async def slurm_partitions(self) -> dict[str, PartitionInfo] | None:
        async def fetch(_key):
            argv = partitions_argv(self.slurm_client().path("scontrol"))
            return parse_partitions(await self._run_for_facts(argv))

        entry = await self._facts_cache("partitions", fetch, 60.0, 10.0).get()
        return entry.value

    async def slurm_reservations(self) -> tuple[Reservation, ...] | None:
        async def fetch(_key):
            argv = reservations_argv(self.slurm_client().path("scontrol"))
            return parse_reservations(await self._run_for_facts(argv))

        entry = await self._facts_cache("reservations", fetch, 60.0, 10.0).get()
        return entry.value

    async def qos_table(self):
        async def fetch(_key):
            return parse_qos(
                await self._run_for_facts(qos_argv(self.slurm_client().path("sacctmgr")))
            )

        ttl = self.accounts_cache_ttl
        entry = await self._facts_cache("qos", fetch, ttl, min(30.0, ttl)).get()
        return entry.value

    async def user_accounts(self, user: str, cluster: str | None):
        sacctmgr = self.slurm_client().path("sacctmgr")

        async def fetch(key):
            name, cluster_name = key
            assoc, default = await asyncio.gather(
                self._run_for_facts(assoc_argv(name, cluster_name or None, sacctmgr)),
                self._run_for_facts(default_account_argv(name, sacctmgr)),
            )
            return parse_associations(assoc, parse_default_account(default))

        ttl = self.accounts_cache_ttl
        cache = self._facts_cache("associations", fetch, ttl, min(30.0, ttl))
        entry = await cache.get((user, cluster or ""))
        return entry.value

    async def user_facts(self, configured=None) -> UserFacts:
        """This user's facts, from the shared caches (a Slurm call only when one is stale)."""
        user = self.slurm_username
        account = await self.load_account()
        groups = account.groups if account is not None else frozenset()
        if configured is None:
            configured = list(self.configured_partitions())
        config, partitions, reservations = await asyncio.gather(
            self.cluster_config(), self.slurm_partitions(), self.slurm_reservations()
        )
        set_by_admin = self._admin_sets_account()
        accounting = (
            self.slurm_accounting != "off"
            and not set_by_admin
            and config is not None
            and config.accounting
        )
        view = None
        if accounting:
            user_accounts, qos = await asyncio.gather(
                self.user_accounts(user, config.cluster), self.qos_table()
            )
            if user_accounts is not None and user_accounts.associations:
                view = allowed_choices(
                    user_accounts,
                    qos,
                    partitions,
                    groups,
                    configured,
                    enforce_limits="limits" in config.enforce or "qos" in config.enforce,
                )
        return UserFacts(
            user=user,
            accounting=accounting,
            accounts=view,
            partitions=partitions,
            reservations=reservations,
            groups=groups,
            set_by_admin=set_by_admin,
        )

    def _admin_sets_account(self) -> bool:
        """Whether the admin's ``#SBATCH`` options (``sbatch_directives``, batchspawner's
        ``req_account``/``req_qos``) fix the account or the QOS: users then keep them."""
        words = []
        for directive in [*self.sbatch_directives, *self.peer_directives()]:
            words += str(directive).split()
        return any(
            word.split("=", 1)[0] in ("--account", "--qos", "-A", "-q")
            or word.startswith(("-A", "-q"))
            and len(word) > 2
            for word in words
        )


def refuse_account(name: str, uid: int, minimum_uid: int, slurm_user: str) -> str | None:
    """Why no server is started for the account ``name`` (uid ``uid``), or None."""
    if uid == 0:
        return f"No server is started for {name!r}: it is the superuser's account."
    if slurm_user and name == slurm_user:
        return f"No server is started for {name!r}: it is the account Slurm itself runs as."
    if uid < minimum_uid:
        return (
            f"No server is started for {name!r}: its user id {uid} is under {minimum_uid}, "
            "the lowest this hub starts servers for (system and service accounts)."
        )
    return None


def check_reservation(raw, usable: Sequence[Reservation] | None, partition_name: str) -> str | None:
    """The reservation chosen (``raw``), checked: its name, or None when none is chosen.

    ``usable`` is what :func:`usable_reservations` gives for this user and partition;
    None when the reservations could not be read, and then the name is checked for
    form only (Slurm decides). Raises
    :class:`~jupyterhub_moss.errors.OptionError` for ``reservation``.
    """
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise OptionError("reservation", f"must be a string, not {type(raw).__name__}")
    name = raw.strip()
    if not NAME.match(name):
        raise OptionError("reservation", "must be a reservation name (letters, digits, _.-)")
    if usable is None:
        return name
    names = [res.name for res in usable]
    if name in names:
        return name
    choices = f"choose one of: {', '.join(names)}" if names else "none is open to you now"
    raise OptionError(
        "reservation",
        f"{name!r} is not a reservation you may use on partition {partition_name!r}; {choices}",
    )
