"""What Slurm knows about a user, for the spawn page and the checks of a start:
the accounts and QOS that slurmdbd lets the user combine, the partitions' access
lists, the reservations open to the user, and the user's Unix groups.

Every fact comes from a cache shared by the whole hub (:mod:`.slurm.cache`): a
page view with warm caches runs no Slurm command. A fact the cluster lacks (no
slurmdbd, no reservation) or that cannot be read is ``None``, and the part of the
page that uses it is left out; nothing else changes.

The spawner builds a :class:`SlurmFacts` for its user from its settings.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from ..errors import OptionError
from ..metrics import FACTS_CACHE
from ..slurm.accounting import (
    assoc_argv,
    default_account_argv,
    parse_associations,
    parse_default_account,
    parse_qos,
    qos_argv,
)
from ..slurm.cache import CacheEntry, TimedCache, metric_counter, shared_cache
from ..slurm.client import SlurmClient
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
from .system_accounts import system_account

__all__ = ["SlurmFacts", "UserFacts", "check_reservation", "refuse_account", "sets_account"]

#: Slurm prints times as this asks: ISO 8601, whatever the site's default.
TIME_ENV = {"SLURM_TIME_FORMAT": "standard"}

#: The facts of the whole cluster that :meth:`SlurmFacts.read` keeps: the program,
#: its argument list, the parser of its answer, the answer's lifetime (None:
#: ``accounts_cache_ttl``) and the lifetime of a failure, in seconds.
CLUSTER_FACTS = {
    "config": ("scontrol", config_argv, parse_config, 600.0, 60.0),
    "partitions": ("scontrol", partitions_argv, parse_partitions, 60.0, 10.0),
    "reservations": ("scontrol", reservations_argv, parse_reservations, 60.0, 10.0),
    "qos": ("sacctmgr", qos_argv, parse_qos, None, 30.0),
}


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


class SlurmFacts:
    """What Slurm knows about one user, from the hub's shared caches: built by the
    spawner from its settings (``slurm_accounting``, ``accounts_cache_ttl``,
    ``minimum_uid`` and the admin's ``#SBATCH`` options)."""

    def __init__(
        self,
        client: SlurmClient,
        username: str,
        *,
        accounting: str = "auto",
        accounts_ttl: float = 300.0,
        minimum_uid: int = 1000,
        admin_directives: Sequence[str] = (),
    ):
        self.client = client
        self.username = username
        self.accounting = accounting
        self.accounts_ttl = float(accounts_ttl)
        self.minimum_uid = minimum_uid
        self.admin_sets_account = sets_account(admin_directives)

    async def account_refusal(self) -> str | None:
        """Why no server may be started for the user's system account (None: one may)."""
        account = await system_account(self.username)
        if account is None:
            return None  # no such account: submitting says so in its own words
        config = await self.cluster_config()
        slurm_user = config.slurm_user if config is not None else ""
        return refuse_account(account.name, account.uid, self.minimum_uid, slurm_user)

    # -- the hub's shared caches -----------------------------------------------

    async def _run(self, argv) -> str:
        result = await self.client.run(argv, env={**os.environ, **TIME_ENV})
        return result.stdout

    def _cache(self, name: str, fetch, ttl: float, error_ttl: float) -> TimedCache:
        return shared_cache(
            name,
            (self.client.for_hub(), float(ttl)),
            lambda: TimedCache(
                name,
                fetch,
                ttl=ttl,
                error_ttl=error_ttl,
                count=metric_counter(FACTS_CACHE, cache=name),
            ),
        )

    async def read(self, fact: str) -> CacheEntry:
        """The hub's shared answer about ``fact``, a key of :data:`CLUSTER_FACTS`. Its
        ``error`` says why it could not be read (its ``value`` is then the last good
        one, or None)."""
        program, argv_of, parse, ttl, error_ttl = CLUSTER_FACTS[fact]
        if ttl is None:  # read from slurmdbd: kept as long as the user's associations
            ttl, error_ttl = self.accounts_ttl, min(error_ttl, self.accounts_ttl)
        argv = argv_of(self.client.path(program))

        async def fetch(_key):
            return parse(await self._run(argv))

        return await self._cache(fact, fetch, ttl, error_ttl).get()

    async def cluster_config(self) -> ClusterConfig | None:
        return (await self.read("config")).value

    async def slurm_partitions(self) -> dict[str, PartitionInfo] | None:
        return (await self.read("partitions")).value

    async def slurm_reservations(self) -> tuple[Reservation, ...] | None:
        return (await self.read("reservations")).value

    async def qos_table(self):
        return (await self.read("qos")).value

    async def user_accounts(self, user: str, cluster: str | None):
        sacctmgr = self.client.path("sacctmgr")

        async def fetch(key):
            name, cluster_name = key
            assoc, default = await asyncio.gather(
                self._run(assoc_argv(name, cluster_name or None, sacctmgr)),
                self._run(default_account_argv(name, sacctmgr)),
            )
            return parse_associations(assoc, parse_default_account(default))

        ttl = self.accounts_ttl
        cache = self._cache("associations", fetch, ttl, min(30.0, ttl))
        return (await cache.get((user, cluster or ""))).value

    # -- the user's view -------------------------------------------------------

    async def user_facts(self, configured: Sequence[str]) -> UserFacts:
        """The user's facts for the admin's partitions named ``configured``, from the
        shared caches (a Slurm call only when one is stale)."""
        user = self.username
        account = await system_account(user)
        groups = account.groups if account is not None else frozenset()
        config, partitions, reservations = await asyncio.gather(
            self.cluster_config(), self.slurm_partitions(), self.slurm_reservations()
        )
        accounting = (
            self.accounting != "off"
            and not self.admin_sets_account
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
                    list(configured),
                    enforce_limits="limits" in config.enforce or "qos" in config.enforce,
                )
        return UserFacts(
            user=user,
            accounting=accounting,
            accounts=view,
            partitions=partitions,
            reservations=reservations,
            groups=groups,
            set_by_admin=self.admin_sets_account,
        )


def sets_account(directives: Sequence[str]) -> bool:
    """Whether the admin's ``#SBATCH`` options fix the account or the QOS: users then
    keep them."""
    words = []
    for directive in directives:
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
