"""Which Slurm accounts and QOS a user may choose, on which partitions and for how
long, and the check of a chosen account and QOS.

:func:`allowed_choices` combines what ``sacctmgr`` says of the user (associations,
QOS) with what ``scontrol`` says of the partitions (allow and deny lists, MaxTime)
into an :class:`AccountView`; :func:`check_account_qos` checks the user's choice
against it, with a refusal (:class:`~jupyterhub_moss.errors.OptionError`) that
names the field and what it accepts. Nothing here runs a command.

Run-time limits follow Slurm's order (its "Resource Limits" page): the first
MaxWall set among the partition's QOS, the job's QOS (these two swap when the
job's QOS has ``OverPartQOS``) and the association is the one used, and the
partition's MaxTime bounds it unless the job's QOS has ``PartitionTimeLimit``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import OptionError
from ..slurm.accounting import Association, Qos, UserAccounts
from ..slurm.clusterinfo import PartitionInfo, partition_refusal
from ..slurm.text import NAME
from ..slurm.timefmt import describe_duration, format_duration

__all__ = [
    "AccountChoice",
    "AccountView",
    "PartitionChoice",
    "RuntimeCap",
    "allowed_choices",
    "check_account_qos",
    "check_name",
    "refuse_without_accounting",
    "usable_partitions",
]

# Not starting with "-": the name is written after "--account=" or "--qos=".
_NOUNS = {"account": "account", "qos": "QOS"}


@dataclass(frozen=True)
class RuntimeCap:
    """The longest run time allowed, and what sets it, in words ("QOS 'short'")."""

    seconds: int
    source: str


@dataclass(frozen=True)
class PartitionChoice:
    """What one account may choose on one partition."""

    partition: str
    qos: tuple[str, ...]  # () when the association lists none: Slurm then picks
    default_qos: str | None
    caps: dict[str, RuntimeCap | None]  # by QOS name ("" when qos is ()); None: no limit

    def cap(self, qos: str | None) -> RuntimeCap | None:
        """The run-time limit with ``qos`` (None: the default QOS)."""
        key = qos if qos is not None else (self.default_qos or "")
        if key in self.caps:
            return self.caps[key]
        return self.caps.get(self.default_qos or "")

    def max_runtime(self, qos: str | None = None) -> int | None:
        """The longest run time in seconds with ``qos`` (None: the default QOS);
        None when nothing known limits it."""
        cap = self.cap(qos)
        return cap.seconds if cap else None


@dataclass(frozen=True)
class AccountChoice:
    """One of the user's accounts: the partitions it may use, and why not the others."""

    account: str
    partitions: dict[str, PartitionChoice]
    refusals: dict[str, str]  # configured partition -> why Slurm would refuse it


@dataclass(frozen=True)
class AccountView:
    """A user's accounts as the spawn page offers them."""

    default_account: str | None
    accounts: dict[str, AccountChoice]
    configured: tuple[str, ...]  # the hub's partitions, in the admin's order

    def accounts_for(self, partition: str) -> list[str]:
        """The accounts that may be used on ``partition``, default account first."""
        names = [a for a, choice in self.accounts.items() if partition in choice.partitions]
        if self.default_account in names:
            names.remove(self.default_account)
            names.insert(0, self.default_account)
        return names

    def as_dict(self) -> dict:
        """What the spawn page needs, as JSON-able values."""
        accounts = {}
        for name, choice in self.accounts.items():
            partitions = {}
            for part, pc in choice.partitions.items():
                partitions[part] = {
                    "qos": list(pc.qos),
                    "default_qos": pc.default_qos,
                    "max_runtime": pc.max_runtime(),
                    "max_runtime_by_qos": {q: pc.max_runtime(q) for q in pc.qos},
                }
            accounts[name] = {"partitions": partitions}
        return {"default_account": self.default_account, "accounts": accounts}


def _default_qos(assoc: Association, allowed: tuple[str, ...]) -> str | None:
    """Slurm's choice when a job names no QOS: the association's DefaultQOS, else
    its only QOS, else ``normal``; limited here to the QOS the partition allows."""
    if not allowed:
        return None
    if assoc.default_qos in allowed:
        return assoc.default_qos
    if len(allowed) == 1:
        return allowed[0]
    if "normal" in allowed:
        return "normal"
    return allowed[0]


def _runtime_cap(
    assoc: Association,
    qos_name: str | None,
    info: PartitionInfo | None,
    qos_table: dict[str, Qos],
    enforce_limits: bool,
) -> RuntimeCap | None:
    job_qos = qos_table.get(qos_name) if qos_name else None
    cap = None
    if enforce_limits:
        part_qos = qos_table.get(info.qos) if info is not None and info.qos else None
        order = [(part_qos, "partition QOS"), (job_qos, "QOS")]
        if job_qos is not None and job_qos.has_flag("OverPartQOS"):
            order.reverse()
        for qos, label in order:
            if qos is not None and qos.max_wall is not None:
                cap = RuntimeCap(qos.max_wall, f"{label} {qos.name!r}")
                break
        if cap is None and assoc.max_wall is not None:
            cap = RuntimeCap(assoc.max_wall, f"account {assoc.account!r}")
    beyond_partition = job_qos is not None and job_qos.has_flag("PartitionTimeLimit")
    if (
        info is not None
        and info.max_time is not None
        and not beyond_partition
        and (cap is None or info.max_time < cap.seconds)
    ):
        cap = RuntimeCap(info.max_time, f"partition {info.name!r}")
    return cap


def _choice(
    assoc: Association,
    name: str,
    info: PartitionInfo | None,
    groups: frozenset[str],
    qos_table: dict[str, Qos],
    enforce_limits: bool,
) -> PartitionChoice | str:
    """What ``assoc`` allows on partition ``name``, or why it allows nothing."""
    refusal = partition_refusal(info, groups, assoc.account, None)
    if refusal:
        return refusal
    allowed = tuple(q for q in assoc.qos if partition_refusal(info, groups, None, q) is None)
    if assoc.qos and not allowed:
        return f"partition {name!r} is closed to all of its QOS ({', '.join(assoc.qos)})"
    keys = allowed or ("",)
    return PartitionChoice(
        partition=name,
        qos=allowed,
        default_qos=_default_qos(assoc, allowed),
        caps={q: _runtime_cap(assoc, q or None, info, qos_table, enforce_limits) for q in keys},
    )


def allowed_choices(
    user_accounts: UserAccounts,
    qos_table: dict[str, Qos] | None,
    partitions: dict[str, PartitionInfo] | None,
    groups: Iterable[str],
    configured: Iterable[str],
    *,
    enforce_limits: bool = True,
) -> AccountView:
    """The accounts, partitions and QOS this user may combine.

    ``configured`` are the hub's partition names; only they are looked at. An
    association without a partition covers every partition, one with a partition
    covers only that one (and takes precedence there). ``partitions`` (None: not
    known) adds the partitions' allow and deny lists and MaxTime; ``groups`` are
    the user's Unix groups, for AllowGroups. ``qos_table`` (None: not known) gives
    the QOS MaxWall. ``enforce_limits`` False (AccountingStorageEnforce without
    ``limits``) leaves QOS and association MaxWall out.
    """
    groups = frozenset(groups or ())
    qos_table = qos_table or {}
    configured = tuple(dict.fromkeys(configured))
    by_key: dict[tuple[str, str | None], Association] = {}
    for assoc in user_accounts.associations:
        by_key.setdefault((assoc.account, assoc.partition), assoc)

    accounts: dict[str, AccountChoice] = {}
    for account in user_accounts.accounts:
        choices: dict[str, PartitionChoice] = {}
        refusals: dict[str, str] = {}
        for name in configured:
            assoc = by_key.get((account, name)) or by_key.get((account, None))
            if assoc is None:
                continue
            info = partitions.get(name) if partitions is not None else None
            result = _choice(assoc, name, info, groups, qos_table, enforce_limits)
            if isinstance(result, str):
                refusals[name] = result
            else:
                choices[name] = result
        accounts[account] = AccountChoice(account, choices, refusals)

    default = user_accounts.default_account
    if default not in accounts:
        default = next(iter(accounts), None)
    return AccountView(default_account=default, accounts=accounts, configured=configured)


def usable_partitions(view: AccountView) -> set[str]:
    """The partitions at least one of the user's accounts may use."""
    return {part for choice in view.accounts.values() for part in choice.partitions}


def check_name(field: str, value) -> str | None:
    """``value`` as an account or QOS name (None when empty), checked for form only.

    Raises :class:`OptionError` on anything but a name of letters, digits and _.-.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise OptionError(field, f"must be a string, not {type(value).__name__}")
    text = value.strip(" ")  # spaces only: a line break or tab is refused below
    if not text:
        return None
    if not NAME.match(text):
        noun = _NOUNS.get(field, field)
        raise OptionError(field, f"must be a Slurm {noun} name (letters, digits, _.-)")
    return text


def refuse_without_accounting(raw_account, raw_qos) -> None:
    """Refuse an account or QOS on a cluster without Slurm accounting."""
    for field, value in (("account", raw_account), ("qos", raw_qos)):
        if value not in (None, ""):
            noun = _NOUNS[field]
            raise OptionError(
                field, f"this cluster has no Slurm accounting, so no {noun} can be chosen"
            )


def _ordered(view: AccountView, names: Iterable[str]) -> list[str]:
    wanted = set(names)
    return [name for name in view.configured if name in wanted]


def _pick_account(raw_account, partition: str, view: AccountView) -> AccountChoice:
    name = check_name("account", raw_account)
    if name is not None and name not in view.accounts:
        names = view.accounts_for(partition) or list(view.accounts)
        listed = f"choose one of: {', '.join(names)}" if names else "you have none"
        raise OptionError("account", f"{name!r} is not one of your Slurm accounts; {listed}")
    candidates = view.accounts_for(partition)
    if not candidates:
        if not view.accounts:
            raise OptionError(
                "account", "you have no Slurm account on this cluster, so no job can be submitted"
            )
        others = _ordered(view, usable_partitions(view))
        listed = f"choose one of: {', '.join(others)}" if others else "nor any other partition"
        raise OptionError(
            "partition", f"your Slurm accounts cannot use partition {partition!r}; {listed}"
        )
    if name is None:
        return view.accounts[candidates[0]]
    choice = view.accounts[name]
    if partition not in choice.partitions:
        why = choice.refusals.get(partition)
        usable = _ordered(view, choice.partitions)
        where = (
            f"it can be used on: {', '.join(usable)}"
            if usable
            else "it cannot be used on any partition here"
        )
        raise OptionError(
            "account",
            f"{name!r} cannot be used on partition {partition!r}"
            + (f" ({why})" if why else "")
            + f"; {where}",
        )
    return choice


def check_account_qos(
    raw_account,
    raw_qos,
    partition_name: str,
    runtime_seconds: int | None,
    view: AccountView | None,
) -> tuple[str | None, str | None]:
    """The account and QOS for a job on ``partition_name`` of ``runtime_seconds``.

    An empty account is the user's default account if it may use the partition,
    else the first that may; an empty QOS is the default QOS of that account on
    that partition. ``view`` None (accounting not readable) checks the names for
    form only and returns them as given (None when empty): Slurm decides.
    The QOS is None when the association lists none. Raises :class:`OptionError`
    naming ``account``, ``qos``, ``runtime`` or ``partition``.
    """
    if view is None:
        return check_name("account", raw_account), check_name("qos", raw_qos)
    choice = _pick_account(raw_account, partition_name, view)
    options = choice.partitions[partition_name]
    qos = check_name("qos", raw_qos)
    if qos is None:
        qos = options.default_qos
    elif options.qos and qos not in options.qos:
        raise OptionError(
            "qos",
            f"{qos!r} is not allowed for account {choice.account!r} on partition "
            f"{partition_name!r}; choose one of: {', '.join(options.qos)}",
        )
    cap = options.cap(qos)
    if runtime_seconds is not None and cap is not None and runtime_seconds > cap.seconds:
        raise OptionError(
            "runtime",
            f"{format_duration(runtime_seconds)} is out of range: {cap.source} allows "
            f"1 min to {describe_duration(cap.seconds)} ({format_duration(cap.seconds)})",
        )
    return choice.account, qos
