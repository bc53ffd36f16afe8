"""The user's choices: read from the form, a query string or a REST body, and
checked against the admin's partitions before anything is submitted.

Everything here treats its input as hostile: unknown fields are refused, every
value is checked for type, form and range, and a refusal names the field and
what it accepts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .environments import Environment, check_user_modules, check_user_path, user_environment
from .gpus import check_gpu_type
from .partitions import PartitionView
from .sbatch_options import reserved_for, value_allowed
from .slurm.timefmt import UNLIMITED, describe_duration, format_duration, parse_duration

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

_SBATCH_OPTION = re.compile(r"^(--[a-z][a-z0-9-]{0,40})=([A-Za-z0-9_.:,=/+@%~-]{1,64})\Z")
# Sent by browsers or JupyterHub along with the form; never options.
_IGNORED_FORM_FIELDS = frozenset({"_xsrf"})

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]")
_INT = re.compile(r"^\+?[0-9]{1,9}\Z")
_MEMORY = re.compile(r"^([0-9]{1,12})([KMGTkmgt]?)[Bb]?\Z")
_RESERVATION = re.compile(r"^[A-Za-z0-9_.-]{1,64}\Z")
_URL_PATH = re.compile(r"^/[A-Za-z0-9_./@:+-]{0,255}\Z")
_MEMORY_UNITS_MB = {"K": 1 / 1024, "": 1, "M": 1, "G": 1024, "T": 1024 * 1024}


class OptionError(ValueError):
    """A user option that is refused, with the field it concerns."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


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


def _encodable(text: str) -> bool:
    """Whether ``text`` can be written as UTF-8: a lone surrogate (JSON's "\\udc80") cannot."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _shown_name(key) -> str:
    """An option name as a refusal may show it: escaped if it holds control characters or
    cannot be encoded, at most 40 characters."""
    shown = key if isinstance(key, str) else repr(key)
    if _CONTROL.search(shown) or not _encodable(shown):
        shown = repr(shown)
    return shown[:40]


def _text(field: str, value, *, max_length: int = 256) -> str:
    if not isinstance(value, str):
        raise OptionError(field, f"must be a string, not {type(value).__name__}")
    if not _encodable(value):
        raise OptionError(field, "must be text that can be encoded as UTF-8 (no lone surrogates)")
    if _CONTROL.search(value):
        raise OptionError(field, "must not contain line breaks or control characters")
    if len(value) > max_length:
        raise OptionError(field, f"must be at most {max_length} characters long")
    return value.strip()


def _integer(field: str, value, low: int, high: int, what: str) -> int:
    if isinstance(value, bool):
        raise OptionError(field, f"must be a whole number from {low} to {high}")
    if isinstance(value, int):
        number = value
    else:
        text = _text(field, value, max_length=16)
        if not _INT.match(text):
            raise OptionError(field, f"must be a whole number from {low} to {high}")
        number = int(text)
    if not low <= number <= high:
        raise OptionError(field, f"{number} is out of range: {what} allows {low} to {high}")
    return number


def _runtime(value, partition: PartitionView) -> int:
    limit = partition.max_runtime
    allowed = f"1 min to {describe_duration(limit)} ({format_duration(limit)})"
    if isinstance(value, bool):
        raise OptionError(
            "runtime", f"must be a Slurm time; partition {partition.name!r} allows {allowed}"
        )
    if isinstance(value, int):
        # A bare number is minutes, as in Slurm.
        text = str(value)
    else:
        text = _text("runtime", value, max_length=32)
    try:
        seconds = parse_duration(text)
    except ValueError as e:
        raise OptionError("runtime", str(e)) from None
    if seconds == UNLIMITED:
        raise OptionError(
            "runtime", f"cannot be unlimited; partition {partition.name!r} allows {allowed}"
        )
    if seconds < 60 or seconds > limit:
        raise OptionError(
            "runtime",
            f"{format_duration(seconds)} is out of range: "
            f"partition {partition.name!r} allows {allowed}",
        )
    return seconds


def _memory(value, partition: PartitionView, field: str = "memory") -> int | None:
    text = _text(field, value, max_length=16) if not isinstance(value, int) else str(value)
    if isinstance(value, bool):
        raise OptionError(field, "must be an amount such as 4G or 500M")
    if not text:
        return None
    match = _MEMORY.match(text)
    if not match:
        raise OptionError(
            field, f"{text!r} is not an amount of memory; use a form such as 4G or 500M"
        )
    amount = int(match.group(1)) * _MEMORY_UNITS_MB[match.group(2).upper()]
    megabytes = int(amount)
    if megabytes < 1:
        raise OptionError(field, "must be at least 1M")
    limit = partition.max_memory_mb
    if limit and megabytes > limit:
        raise OptionError(
            field,
            f"{text} is more than a node of partition {partition.name!r} has "
            f"(at most {limit // 1024}G, that is {limit}M)",
        )
    return megabytes


def _url_path(value) -> str | None:
    text = _text("default_url", value)
    if not text:
        return None
    if not _URL_PATH.match(text) or ".." in text or "//" in text:
        raise OptionError(
            "default_url",
            "must be a path on the server such as /lab or /tree (letters, digits, _./-)",
        )
    return text


def _root_dir(value) -> str | None:
    text = _text("root_dir", value, max_length=1024)
    if not text:
        return None
    if not (text.startswith("/") or text == "~" or text.startswith("~/")):
        raise OptionError(
            "root_dir", "must be an absolute path, or start with ~/ for your home folder"
        )
    return text


def _sbatch_options(value, allowed: dict[str, str]) -> tuple[str, ...]:
    """Free-form sbatch options, each one the admin allows, as ``--name=value`` words."""
    if not allowed:
        raise OptionError("options", "free-form Slurm options are not enabled on this hub")
    text = _text("options", value, max_length=512)
    names = ", ".join(sorted(allowed))
    result: list[str] = []
    seen: set[str] = set()
    for word in text.split():
        match = _SBATCH_OPTION.match(word)
        if not match:
            raise OptionError(
                "options", f"{word[:40]!r} is not of the form --name=value; allowed: {names}"
            )
        name, option_value = match.groups()
        # Exact names only: sbatch would take "--part" for "--partition".
        if name not in allowed or reserved_for(name):
            raise OptionError("options", f"{name} is not allowed; allowed: {names}")
        if name in seen:
            raise OptionError("options", f"{name} is given twice")
        if not value_allowed(allowed[name], option_value):
            raise OptionError("options", f"{option_value[:40]!r} is not a value allowed for {name}")
        seen.add(name)
        result.append(f"{name}={option_value}")
    return tuple(result)


def _output(value) -> None:
    """jupyterhub-moss 10.x's ``output``: "true" asked for a log file. The job's
    output is always kept here (the hub shows its end when a start fails)."""
    if value in (None, "") or value is True or value is False:
        return
    text = _text("output", value).lower()
    if text not in ("true", "false"):
        raise OptionError("output", "must be true or false")


def _environment(raw, partition: PartitionView, user_environments: bool):
    """The environment chosen: one of the partition's (``environment_id``), or the
    user's own path and modules when the admin allows them."""
    path = raw.get("environment_path")
    modules = raw.get("environment_modules")
    path = None if path in (None, "") else _text("environment_path", path, max_length=1024)
    modules = (
        None if modules in (None, "") else _text("environment_modules", modules, max_length=512)
    )
    if path or modules:
        field = "environment_path" if path else "environment_modules"
        if not user_environments:
            raise OptionError(field, "your own environments are not enabled on this hub")
        if raw.get("environment_id") not in (None, ""):
            raise OptionError(
                "environment_id", "give either environment_id or your own environment, not both"
            )
        try:
            path = check_user_path(path) if path else None
        except ValueError as e:
            raise OptionError("environment_path", str(e)) from None
        try:
            modules = check_user_modules(modules) if modules else None
        except ValueError as e:
            raise OptionError("environment_modules", str(e)) from None
        return None, path, modules

    environments = partition.environments
    value = raw.get("environment_id")
    if value in (None, ""):
        return None, None, None  # the partition's first
    text = _text("environment_id", value, max_length=64)
    if text not in environments:
        shown = text if re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", text) else "this value"
        raise OptionError(
            "environment_id",
            f"{shown!r} is not an environment of partition {partition.name!r}; "
            f"choose one of: {', '.join(environments)}",
        )
    return text, None, None


def _slurm_name(field: str, value, what: str) -> str | None:
    """A name Slurm knows (account, QOS, GPU type), checked for its form only here:
    whether it is one this user may choose is checked against Slurm's facts."""
    if value in (None, ""):
        return None
    text = _text(field, value, max_length=64)
    if not _RESERVATION.match(text):
        raise OptionError(field, f"must be {what} (letters, digits, _.-)")
    return text


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

    ``raw`` maps option names to strings (form, query) or JSON values (REST).
    ``allowed_partitions`` restricts what this user may choose (default: all).
    ``sbatch_options`` maps the free-form sbatch options the admin allows to a
    regular expression their value must match; empty or None turns them off.
    ``user_environments`` accepts ``environment_path`` and ``environment_modules``.
    Raises :class:`OptionError` on the first value that is refused.
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
    choices = ", ".join(usable) or "none"

    value = raw.get("partition")
    if value is None or value == "":
        partition = default_partition(usable)
        if partition is None:
            raise OptionError("partition", "no partition is configured for you")
    else:
        name = _text("partition", value, max_length=64)
        partition = usable.get(name)
        if partition is None:
            shown = name if re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", name) else "this value"
            raise OptionError(
                "partition", f"{shown!r} is not one you can use; choose one of: {choices}"
            )
    if not partition.available:
        raise OptionError(
            "partition", f"{partition.name!r} is unavailable: {partition.unavailable_reason}"
        )

    nprocs = raw.get("nprocs")
    nprocs = (
        1
        if nprocs in (None, "")
        else _integer("nprocs", nprocs, 1, partition.max_nprocs, f"partition {partition.name!r}")
    )

    ngpus = raw.get("ngpus")
    if ngpus in (None, ""):
        ngpus = 0
    elif partition.max_ngpus == 0:
        ngpus = _integer("ngpus", ngpus, 0, 0, f"partition {partition.name!r} has no GPUs and")
    else:
        ngpus = _integer("ngpus", ngpus, 0, partition.max_ngpus, f"partition {partition.name!r}")

    runtime = raw.get("runtime")
    if runtime in (None, ""):
        runtime = min(3600, partition.max_runtime)
    else:
        runtime = _runtime(runtime, partition)

    memory = raw.get("memory")
    memory_field = "memory"
    mem = raw.get("mem")  # jupyterhub-moss 10.x's older name
    if mem not in (None, ""):
        if memory not in (None, "") and memory != mem:
            raise OptionError("mem", "is the older name of memory; give only one of them")
        memory, memory_field = mem, "mem"
    memory_mb = None if memory in (None, "") else _memory(memory, partition, memory_field)
    _output(raw.get("output"))

    reservation = raw.get("reservation")
    if reservation not in (None, ""):
        reservation = _text("reservation", reservation, max_length=64)
        if not _RESERVATION.match(reservation):
            raise OptionError("reservation", "must be a reservation name (letters, digits, _.-)")
    else:
        reservation = None

    names = {
        field: _slurm_name(field, raw.get(field), what)
        for field, what in (
            ("account", "a Slurm account name"),
            ("qos", "a QOS name"),
            ("gpu_type", "a GPU type"),
        )
    }
    names["gpu_type"] = check_gpu_type(
        names["gpu_type"], partition.name, partition.gpu_types, ngpus, max_ngpus=partition.max_ngpus
    )

    environment_id, environment_path, environment_modules = _environment(
        raw, partition, user_environments
    )

    default_url = raw.get("default_url")
    default_url = None if default_url in (None, "") else _url_path(default_url)
    root_dir = raw.get("root_dir")
    root_dir = None if root_dir in (None, "") else _root_dir(root_dir)

    extra = raw.get("options")
    extra = () if extra in (None, "") else _sbatch_options(extra, sbatch_options or {})

    return UserOptions(
        partition=partition.name,
        nprocs=nprocs,
        ngpus=ngpus,
        runtime=runtime,
        memory_mb=memory_mb,
        reservation=reservation,
        default_url=default_url,
        root_dir=root_dir,
        sbatch_options=extra,
        environment_id=environment_id,
        environment_path=environment_path,
        environment_modules=environment_modules,
        **names,
    )
