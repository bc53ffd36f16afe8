"""GPU types: the ``{type}`` slot of a partition's ``gpu`` template, the types a
user may choose between, and the checks of that choice. Pure functions only.

A partition's ``gpu`` template (the ``--gres`` value) may hold ``{type}`` once,
where the GPU type goes: ``"gpu:{type}:{}"``. The user then chooses a type, or
"any", which drops the ``:{type}`` segment (``gpu:2``). A template without
``{type}``, such as ``"gpu:V100:{}"``, offers no choice and is used as it is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..errors import OptionError
from ..slurm.text import CONTROL, NAME

__all__ = [
    "ANY",
    "GPU_TYPE_NAME",
    "GpuTypeChoice",
    "check_gpu_template",
    "check_gpu_type",
    "check_gpu_type_labels",
    "gpu_type_choices",
    "gres_for",
    "has_type_slot",
]

#: The value of ``gpu_type`` that leaves the type to Slurm.
ANY = "any"
#: A GPU type as a user may ask for it (what is written after ``gpu:`` on the #SBATCH line).
GPU_TYPE_NAME = NAME

_SLOT = "{type}"
_TEMPLATE_HINT = "may hold {type} once, where the GPU type goes, e.g. 'gpu:{type}:{}'"
# {type} stands between a GRES name and the count: "gpu:{type}:{}", alone or in a list.
_SLOT_PLACE = re.compile(r"(?:^|,)[A-Za-z0-9_.-]+:\{type\}:\{\}(?:,|\Z)")
_BRACED = re.compile(r"\{[^{}]*\}")
_MAX_LABEL = 80


@dataclass(frozen=True)
class GpuTypeChoice:
    """A GPU type a user may choose on a partition.

    ``idle`` and ``total`` are GPUs of the type in the whole partition;
    ``max_per_job`` is the most one job may ask for (a job runs on one node).
    Each is None when unknown (``sinfo`` did not answer).
    """

    type: str
    label: str
    idle: int | None
    total: int | None
    max_per_job: int | None

    def as_dict(self) -> dict:
        return {
            "type": self.type,
            "label": self.label,
            "idle": self.idle,
            "total": self.total,
            "max_per_job": self.max_per_job,
        }


def has_type_slot(template: str | None) -> bool:
    """Whether the ``gpu`` template lets users choose the GPU type."""
    return bool(template) and _SLOT in template


def check_gpu_template(template: str) -> None:
    """Check where ``{type}`` stands in a ``gpu`` template (which may also not hold it).

    Raises ``ValueError`` when ``{type}`` is there more than once, is not a segment
    of its own just before the count, or is misspelt (any other ``{...}`` than
    ``{}`` and ``{type}``). The ``{}`` itself is checked by the partition schema.
    """
    fields = _BRACED.findall(template)
    if any(f not in ("{}", _SLOT) for f in fields):
        raise ValueError(_TEMPLATE_HINT)
    slots = template.count(_SLOT)
    if slots > 1 or (slots == 1 and not _SLOT_PLACE.search(template)):
        raise ValueError(_TEMPLATE_HINT)


def check_gpu_type_labels(template: str | None, labels: Mapping[str, str] | None) -> None:
    """Check a partition's ``gpu_types`` (type -> label) against its ``gpu`` template.

    Raises ``ValueError`` with what is wrong: set without ``{type}`` in ``gpu``,
    empty, a key that is not a GPU type name, or a label that is empty, too long
    or holds control characters.
    """
    if labels is None:
        return
    if not has_type_slot(template):
        raise ValueError(
            "is set but 'gpu' holds no {type}; write 'gpu' as e.g. 'gpu:{type}:{}' "
            "so that users may choose a type, or leave gpu_types out"
        )
    if not labels:
        raise ValueError("must list at least one GPU type, or be left out")
    for name, label in labels.items():
        if not isinstance(name, str) or not GPU_TYPE_NAME.match(name):
            raise ValueError(
                f"{repr(name)[:70]} is not a GPU type name (1 to 64 letters, digits and _.-)"
            )
        if not isinstance(label, str) or not label.strip():
            raise ValueError(f"the label of {name!r} must be a non-empty string")
        if CONTROL.search(label) or len(label) > _MAX_LABEL:
            raise ValueError(
                f"the label of {name!r} must be at most {_MAX_LABEL} characters "
                "without line breaks or control characters"
            )


def gres_for(template: str | None, ngpus: int, gpu_type: str | None) -> str | None:
    """The ``--gres`` value for ``ngpus`` GPUs of ``gpu_type``, or None for no GPUs.

    ``gpu_type`` None or "any" drops the ``:{type}`` segment of the template.
    Raises ``ValueError`` for a type that is not a GPU type name, or that the
    template has no place for (the options are checked before this is called).
    """
    if not template or not ngpus:
        return None
    if gpu_type is None or gpu_type == ANY:
        gres = template.replace(":" + _SLOT, "")
    elif not GPU_TYPE_NAME.match(gpu_type):
        raise ValueError(f"{gpu_type[:80]!r} is not a GPU type name")
    elif _SLOT not in template:
        raise ValueError(f"the gpu template {template!r} has no {_SLOT} for GPU type {gpu_type!r}")
    else:
        gres = template.replace(_SLOT, gpu_type)
    return gres.replace("{}", str(int(ngpus)))


def _type_order(name: str) -> tuple[str, str]:
    return name.casefold(), name


def gpu_type_choices(
    template: str | None,
    types_total: Mapping[str | None, int] | None,
    types_used: Mapping[str | None, int] | None = None,
    labels: Mapping[str, str] | None = None,
    *,
    max_per_node: Mapping[str | None, int] | None = None,
    max_ngpus: int | None = None,
) -> list[GpuTypeChoice]:
    """The GPU types a user may choose on a partition, "any" not included.

    ``types_total``/``types_used``/``max_per_node`` are ``sinfo``'s counts by type
    (:class:`~jupyterhub_moss.slurm.sinfo.PartitionResources`); ``types_total`` None
    means ``sinfo`` has not answered. ``labels`` is the partition's ``gpu_types``:
    it restricts the types offered to those it lists (in its order) and names them;
    without it every type ``sinfo`` reports is offered, sorted. ``max_ngpus`` is the
    partition's GPU limit. A choice is offered only when the template has ``{type}``
    and more than one type is known; otherwise the list is empty.
    """
    if not has_type_slot(template) or max_ngpus == 0:
        return []
    known = None
    if types_total is not None:
        known = {
            name: count
            for name, count in types_total.items()
            if isinstance(name, str) and GPU_TYPE_NAME.match(name) and count > 0
        }
    if labels:
        names = [n for n in labels if GPU_TYPE_NAME.match(n) and (known is None or n in known)]
    else:
        names = sorted(known or (), key=_type_order)
    if len(names) < 2:
        return []
    choices = []
    for name in names:
        total = known[name] if known is not None else None
        idle = None
        if total is not None:
            idle = max(total - ((types_used or {}).get(name) or 0), 0)
        per_node = (max_per_node or {}).get(name, total)
        bounds = [b for b in (per_node, max_ngpus) if b is not None]
        label = (labels or {}).get(name) or name
        choices.append(
            GpuTypeChoice(
                type=name,
                label=label,
                idle=idle,
                total=total,
                max_per_job=min(bounds) if bounds else None,
            )
        )
    return choices


def check_gpu_type(
    raw,
    partition_name: str,
    choices: Sequence[GpuTypeChoice],
    ngpus: int,
    *,
    max_ngpus: int | None = None,
) -> str | None:
    """The GPU type asked for in ``raw`` (the ``gpu_type`` option), or None for any.

    ``choices`` are the partition's (:func:`gpu_type_choices`), ``ngpus`` the
    validated GPU count, ``max_ngpus`` the partition's limit (0: it has no GPUs;
    None: unknown). Empty and "any" are accepted everywhere. Raises
    :class:`~jupyterhub_moss.errors.OptionError` naming ``gpu_type``, or
    ``ngpus`` when the count is more than the chosen type allows.
    """
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise OptionError("gpu_type", f"must be a GPU type name or {ANY!r}")
    text = raw.strip()
    if text in ("", ANY):
        return None
    if max_ngpus == 0:
        raise OptionError("gpu_type", f"partition {partition_name!r} has no GPUs")
    by_type = {choice.type: choice for choice in choices}
    choice = by_type.get(text)
    if choice is None:
        shown = repr(text) if GPU_TYPE_NAME.match(text) else "this value"
        names = ", ".join([ANY, *by_type])
        raise OptionError(
            "gpu_type",
            f"{shown} is not a GPU type of partition {partition_name!r}; choose one of: {names}",
        )
    if ngpus < 1:
        raise OptionError("gpu_type", "needs ngpus of 1 or more")
    if choice.max_per_job is not None and ngpus > choice.max_per_job:
        raise OptionError(
            "ngpus",
            f"{ngpus} is out of range: GPU type {choice.type!r} allows 0 to {choice.max_per_job}",
        )
    return choice.type
