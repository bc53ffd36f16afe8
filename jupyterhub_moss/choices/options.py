"""The user's choices: read from the form, a query string or a REST body, and
checked against the admin's partitions before anything is submitted.

Everything here treats its input as hostile: unknown fields are refused, every
value is checked for type, form and range, and a refusal names the field and
what it accepts.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import OptionError
from ..site.environments import Environment, user_environment
from ..site.partitions import PartitionView
from ..slurm.text import CONTROL
from ..slurm.timefmt import format_duration
from .fields import CHECKS, Choice, chosen_partition, encodable

__all__ = [
    "OPTION_NAMES",
    "OptionError",
    "UserOptions",
    "flatten_form",
    "unwrap_user_options",
    "validate_options",
]

#: The option names, as jupyterhub-moss has them, so that links and REST calls keep working.
OPTION_NAMES = (
    "partition",
    "nprocs",
    "ngpus",
    "runtime",
    "memory",
    "reservation",
    "account",
    "qos",
    "gpu_type",
    "default_url",
    "root_dir",
    "environment_id",
    "environment_path",
    "environment_modules",
    "options",
    # jupyterhub-moss 10.x's other spellings.
    "mem",
    "output",
)

# Sent by browsers or JupyterHub along with the form; never options.
_IGNORED_FORM_FIELDS = frozenset({"_xsrf"})


@dataclass(frozen=True)
class UserOptions:
    """Validated options for one job."""

    partition: str
    nprocs: int
    ngpus: int
    runtime: int  # seconds
    memory_mb: int | None = None
    reservation: str | None = None
    default_url: str | None = None
    root_dir: str | None = None
    sbatch_options: tuple[str, ...] = ()
    environment_id: str | None = None
    environment_path: str | None = None  # the user's own environment (admin opt-in)
    environment_modules: str | None = None
    account: str | None = None  # checked against Slurm's associations by accounts.py
    qos: str | None = None
    gpu_type: str | None = None  # checked against the partition's GPU types by gpus.py
    runtime_chosen: bool = True  # False: the partition's default run time, not the user's

    @property
    def time_limit(self) -> str:
        """The run time as ``sbatch --time`` takes it."""
        return format_duration(self.runtime)

    @property
    def memory(self) -> str | None:
        """The memory as ``sbatch --mem`` takes it."""
        return f"{self.memory_mb}M" if self.memory_mb else None

    def environment(self, partition: PartitionView) -> Environment:
        """The environment the job starts its server from."""
        if self.environment_path or self.environment_modules:
            return user_environment(self.environment_path, self.environment_modules)
        environments = partition.environments
        return environments.get(self.environment_id or "") or next(iter(environments.values()))

    def to_user_options(self) -> dict:
        """The normalised form JupyterHub stores and hands back on the next spawn."""
        data = {
            "partition": self.partition,
            "nprocs": self.nprocs,
            "ngpus": self.ngpus,
            "runtime": self.time_limit,
        }
        if self.memory_mb:
            data["memory"] = (
                f"{self.memory_mb // 1024}G" if self.memory_mb % 1024 == 0 else self.memory
            )
        for name in (
            "reservation",
            "account",
            "qos",
            "gpu_type",
            "default_url",
            "root_dir",
            "environment_id",
            "environment_path",
            "environment_modules",
        ):
            value = getattr(self, name)
            if value:
                data[name] = value
        if self.sbatch_options:
            data["options"] = " ".join(self.sbatch_options)
        return data


def unwrap_user_options(raw):
    """The options of a REST body: JupyterHub 6's ``{"user_options": {...}}`` (which
    JupyterHub 5 passes on whole, so that the same call works with both), or the
    options themselves. Anything else is returned as it is, for the checks to refuse."""
    if isinstance(raw, dict) and set(raw) == {"user_options"}:
        inner = raw["user_options"]
        if isinstance(inner, dict):
            return inner
    return raw


def flatten_form(formdata: dict) -> dict[str, str]:
    """Turn JupyterHub's form data (a dict of lists of strings) into one string per field.

    Empty fields are dropped; a field given twice with different values is refused.
    """
    flat: dict[str, str] = {}
    for key, values in formdata.items():
        if key in _IGNORED_FORM_FIELDS:
            continue
        if not isinstance(values, (list, tuple)):
            values = [values]
        values = [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in values]
        distinct = {v for v in values if isinstance(v, str) and v != ""}
        if any(not isinstance(v, str) for v in values):
            raise OptionError(_shown_name(str(key)), "must be text")
        if len(distinct) > 1:
            raise OptionError(_shown_name(str(key)), "was given more than one value")
        if distinct:
            flat[key] = distinct.pop()
    return flat


def _shown_name(key) -> str:
    """An option name as a refusal may show it: escaped if it holds control characters or
    cannot be encoded, at most 40 characters."""
    shown = key if isinstance(key, str) else repr(key)
    if CONTROL.search(shown) or not encodable(shown):
        shown = repr(shown)
    return shown[:40]


def default_partition(partitions: dict[str, PartitionView]) -> PartitionView | None:
    """The partition used when none is chosen: the first available simple one."""
    for candidates in (
        [p for p in partitions.values() if p.simple and p.available],
        [p for p in partitions.values() if p.available],
        list(partitions.values()),
    ):
        if candidates:
            return candidates[0]
    return None


def validate_options(
    raw: dict,
    partitions: dict[str, PartitionView],
    *,
    allowed_partitions: set[str] | None = None,
    sbatch_options: dict[str, str] | None = None,
    user_environments: bool = False,
) -> UserOptions:
    """Check ``raw`` user options against the partitions and return them validated.

    ``raw`` maps option names to strings (form, query) or JSON values (REST), or is
    JupyterHub 6's ``{"user_options": {...}}``: unwrapped here, the one place.
    ``allowed_partitions`` restricts what this user may choose (default: all).
    ``sbatch_options`` maps the free-form sbatch options the admin allows to a
    regular expression their value must match; empty or None turns them off.
    ``user_environments`` accepts ``environment_path`` and ``environment_modules``.
    Raises :class:`OptionError` on the first value that is refused, in the order of
    :data:`~jupyterhub_moss.choices.fields.CHECKS`.
    """
    if not isinstance(raw, dict):
        raise OptionError("user_options", "must be an object of option names to values")
    raw = unwrap_user_options(raw)
    for key in raw:
        if not isinstance(key, str) or key not in OPTION_NAMES:
            raise OptionError(
                _shown_name(key), f"is not a known option; known options: {', '.join(OPTION_NAMES)}"
            )
    usable = {
        name: view
        for name, view in partitions.items()
        if allowed_partitions is None or name in allowed_partitions
    }
    partition = chosen_partition(raw.get("partition"), usable, default_partition(usable))
    choice = Choice(raw, partition, sbatch_options or {}, user_environments)
    fields: dict = {"partition": partition.name}
    for check in CHECKS:
        fields.update(check(choice, fields))
    return UserOptions(**fields)
