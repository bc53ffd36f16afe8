"""The checks of each user option, as a table: :data:`CHECKS` lists them in the
order a start's options are checked, and :func:`~.options.validate_options` runs
them. Each check reads the raw options of the :class:`Choice` (and the fields the
checks before it gave) and gives fields of
:class:`~jupyterhub_moss.choices.options.UserOptions`, or raises
:class:`~jupyterhub_moss.errors.OptionError` naming the field refused.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import OptionError
from ..site.environments import check_user_modules, check_user_path
from ..site.gpus import check_gpu_type
from ..site.partitions import PartitionView
from ..site.sbatch_options import reserved_for, value_allowed
from ..slurm.text import CONTROL, NAME
from ..slurm.timefmt import UNLIMITED, describe_duration, format_duration, parse_duration

__all__ = ["CHECKS", "Choice", "chosen_partition", "encodable"]

_SBATCH_OPTION = re.compile(r"^(--[a-z][a-z0-9-]{0,40})=([A-Za-z0-9_.:,=/+@%~-]{1,64})\Z")
_INT = re.compile(r"^\+?[0-9]{1,9}\Z")
_MEMORY = re.compile(r"^([0-9]{1,12})([KMGTkmgt]?)[Bb]?\Z")
_URL_PATH = re.compile(r"^/[A-Za-z0-9_./@:+-]{0,255}\Z")
_MEMORY_UNITS_MB = {"K": 1 / 1024, "": 1, "M": 1, "G": 1024, "T": 1024 * 1024}


@dataclass(frozen=True)
class Choice:
    """What the checks of one start's options see."""

    raw: dict  # the options as they came, unwrapped
    partition: PartitionView  # the partition chosen (checked first)
    sbatch_options: dict[str, str]  # the free-form options the admin allows
    user_environments: bool  # whether users may give their own environment


def _empty(value) -> bool:
    return value is None or value == ""


def encodable(text: str) -> bool:
    """Whether ``text`` can be written as UTF-8: a lone surrogate (JSON's "\\udc80") cannot."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _text(field: str, value, *, max_length: int = 256) -> str:
    if not isinstance(value, str):
        raise OptionError(field, f"must be a string, not {type(value).__name__}")
    if not encodable(value):
        raise OptionError(field, "must be text that can be encoded as UTF-8 (no lone surrogates)")
    if CONTROL.search(value):
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


def _chosen_environment(raw, partition: PartitionView, user_environments: bool):
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
    if not NAME.match(text):
        raise OptionError(field, f"must be {what} (letters, digits, _.-)")
    return text


def chosen_partition(value, usable: dict[str, PartitionView], default) -> PartitionView:
    """The partition chosen (``value``), or the default one, among those ``usable``."""
    if _empty(value):
        if default is None:
            raise OptionError("partition", "no partition is configured for you")
        partition = default
    else:
        name = _text("partition", value, max_length=64)
        partition = usable.get(name)
        if partition is None:
            shown = name if NAME.match(name) else "this value"
            choices = ", ".join(usable) or "none"
            raise OptionError(
                "partition", f"{shown!r} is not one you can use; choose one of: {choices}"
            )
    if not partition.available:
        raise OptionError(
            "partition", f"{partition.name!r} is unavailable: {partition.unavailable_reason}"
        )
    return partition


# -- the table ------------------------------------------------------------------


def _check_nprocs(c: Choice, _) -> dict:
    value = c.raw.get("nprocs")
    if _empty(value):
        return {"nprocs": 1}
    where = f"partition {c.partition.name!r}"
    return {"nprocs": _integer("nprocs", value, 1, c.partition.max_nprocs, where)}


def _check_ngpus(c: Choice, _) -> dict:
    value = c.raw.get("ngpus")
    if _empty(value):
        return {"ngpus": 0}
    where = f"partition {c.partition.name!r}"
    if c.partition.max_ngpus == 0:
        return {"ngpus": _integer("ngpus", value, 0, 0, f"{where} has no GPUs and")}
    return {"ngpus": _integer("ngpus", value, 0, c.partition.max_ngpus, where)}


def _check_runtime(c: Choice, _) -> dict:
    value = c.raw.get("runtime")
    if _empty(value):
        return {"runtime": min(3600, c.partition.max_runtime), "runtime_chosen": False}
    return {"runtime": _runtime(value, c.partition), "runtime_chosen": True}


def _check_memory(c: Choice, _) -> dict:
    memory, field = c.raw.get("memory"), "memory"
    mem = c.raw.get("mem")  # jupyterhub-moss 10.x's older name
    if not _empty(mem):
        if not _empty(memory) and memory != mem:
            raise OptionError("mem", "is the older name of memory; give only one of them")
        memory, field = mem, "mem"
    return {"memory_mb": None if _empty(memory) else _memory(memory, c.partition, field)}


def _check_output(c: Choice, _) -> dict:
    _output(c.raw.get("output"))
    return {}


def _check_reservation(c: Choice, _) -> dict:
    value = c.raw.get("reservation")
    if _empty(value):
        return {"reservation": None}
    name = _text("reservation", value, max_length=64)
    if not NAME.match(name):
        raise OptionError("reservation", "must be a reservation name (letters, digits, _.-)")
    return {"reservation": name}


def _check_names(c: Choice, _) -> dict:
    """Account, QOS and GPU type, for their form: whether this user may choose them
    is checked against Slurm's facts (choices/facts.py)."""
    return {
        field: _slurm_name(field, c.raw.get(field), what)
        for field, what in (
            ("account", "a Slurm account name"),
            ("qos", "a QOS name"),
            ("gpu_type", "a GPU type"),
        )
    }


def _check_gpu_type(c: Choice, fields: dict) -> dict:
    p = c.partition
    gpu_type = check_gpu_type(
        fields["gpu_type"], p.name, p.gpu_types, fields["ngpus"], max_ngpus=p.max_ngpus
    )
    return {"gpu_type": gpu_type}


def _check_environment(c: Choice, _) -> dict:
    environment_id, path, modules = _chosen_environment(c.raw, c.partition, c.user_environments)
    return {
        "environment_id": environment_id,
        "environment_path": path,
        "environment_modules": modules,
    }


def _check_default_url(c: Choice, _) -> dict:
    value = c.raw.get("default_url")
    return {"default_url": None if _empty(value) else _url_path(value)}


def _check_root_dir(c: Choice, _) -> dict:
    value = c.raw.get("root_dir")
    return {"root_dir": None if _empty(value) else _root_dir(value)}


def _check_sbatch_options(c: Choice, _) -> dict:
    value = c.raw.get("options")
    return {"sbatch_options": () if _empty(value) else _sbatch_options(value, c.sbatch_options)}


#: The checks, in the order a start's options are checked (the partition is
#: checked before them all): the first refused value is the one a user is told of.
CHECKS: tuple[Callable[[Choice, dict], dict], ...] = (
    _check_nprocs,
    _check_ngpus,
    _check_runtime,
    _check_memory,
    _check_output,
    _check_reservation,
    _check_names,
    _check_gpu_type,
    _check_environment,
    _check_default_url,
    _check_root_dir,
    _check_sbatch_options,
)
