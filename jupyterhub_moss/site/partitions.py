"""The admin's partitions: their schema, their validation, and what they become
once merged with what ``sinfo`` reports."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..slurm.sinfo import PartitionResources
from ..slurm.text import NAME
from ..slurm.timefmt import UNLIMITED
from .environments import ENVIRONMENT_ID, Environment, venv_environment
from .gpus import (
    GpuTypeChoice,
    check_gpu_template,
    check_gpu_type_labels,
    gpu_type_choices,
    gres_for,
)

__all__ = [
    "Partition",
    "PartitionConfigError",
    "PartitionView",
    "merge_partitions",
    "validate_partitions",
]

_GRES = re.compile(r"^[A-Za-z0-9_.:,-]+\Z")


class PartitionConfigError(ValueError):
    """``c.MOSlurmSpawner.partitions`` is not usable; the message says where and why."""


class Partition(BaseModel):
    """One entry of ``c.MOSlurmSpawner.partitions``."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    architecture: str = ""
    description: str = ""
    gpu: str | None = None
    gpu_types: dict[str, str] | None = None
    max_ngpus: int | None = Field(default=None, ge=0)
    max_nprocs: int | None = Field(default=None, ge=1)
    max_runtime: int | None = Field(default=None, ge=60)
    simple: bool = True
    venv: str | None = None
    jupyter_environments: dict[str, Environment] | None = None

    @field_validator("gpu")
    @classmethod
    def _gpu_template(cls, value):
        if value is None:
            return value
        if value.count("{}") != 1:
            raise ValueError(
                "must be a --gres template with one {} for the number of GPUs, "
                "such as 'gpu:{}' or 'gpu:V100:{}'"
            )
        check_gpu_template(value)
        if not _GRES.match(value.replace("{type}", "x").replace("{}", "1")):
            raise ValueError("may only hold letters, digits and _.:,- besides {} and {type}")
        return value

    @field_validator("venv")
    @classmethod
    def _venv_path(cls, value):
        if value is None:
            return value
        if not value.startswith("/"):
            raise ValueError("must be an absolute path to the bin/ folder of a Python environment")
        if any(ch in value for ch in "\n\r\x00"):
            raise ValueError("must not hold line breaks")
        return value

    @field_validator("jupyter_environments")
    @classmethod
    def _environment_ids(cls, value):
        if value is None:
            return value
        if not value:
            raise ValueError("must hold at least one environment")
        bad = [key for key in value if not ENVIRONMENT_ID.match(key)]
        if bad:
            raise ValueError(f"{bad[0]!r} is not an environment id (letters, digits and _.- only)")
        return value

    def environments(self) -> dict[str, Environment]:
        """The environments users may pick, by id; the first is the default."""
        if self.jupyter_environments is not None:
            return dict(self.jupyter_environments)
        return {"default": venv_environment(self.venv or "/")}

    def gres(self, ngpus: int) -> str | None:
        """The ``--gres`` value for ``ngpus`` GPUs, or None for none."""
        return gres_for(self.gpu, ngpus, None)


def _where(name: str, loc) -> str:
    path = "".join(f"[{part!r}]" for part in loc)
    return f"c.MOSlurmSpawner.partitions[{name!r}]{path}"


def validate_partitions(raw) -> dict[str, Partition]:
    """Check the admin's partitions and return them as :class:`Partition` objects.

    Raises :class:`PartitionConfigError` naming every partition and field at fault.
    """
    if not isinstance(raw, dict):
        raise PartitionConfigError(
            f"c.MOSlurmSpawner.partitions must be a dict of partition name to settings, "
            f"not {type(raw).__name__}"
        )
    problems: list[str] = []
    partitions: dict[str, Partition] = {}
    for name, settings in raw.items():
        if not isinstance(name, str) or not NAME.match(name):
            problems.append(
                f"c.MOSlurmSpawner.partitions: {name!r} is not a Slurm partition name "
                "(letters, digits and _.- only)"
            )
            continue
        if not isinstance(settings, dict):
            problems.append(f"{_where(name, ())}: must be a dict, not {type(settings).__name__}")
            continue
        has_venv = settings.get("venv") is not None
        has_envs = settings.get("jupyter_environments") is not None
        if has_venv and has_envs:
            problems.append(
                f"{_where(name, ())}: has both 'venv' and 'jupyter_environments'; give one "
                "('venv' stands for a single environment)"
            )
            continue
        if not has_venv and not has_envs:
            problems.append(
                f"{_where(name, ())}: needs 'venv' (the bin/ folder of a Python environment "
                "on the compute nodes) or 'jupyter_environments'"
            )
            continue
        try:
            part = Partition.model_validate(settings)
        except ValidationError as e:
            for err in e.errors():
                loc = err.get("loc", ())
                if err["type"] == "extra_forbidden":
                    model = Environment if loc[:1] == ("jupyter_environments",) else Partition
                    msg = f"unknown field; known fields: {', '.join(model.model_fields)}"
                else:
                    msg = err["msg"].removeprefix("Value error, ")
                problems.append(f"{_where(name, loc)}: {msg}")
            continue
        if part.max_ngpus and part.gpu is None:
            problems.append(
                f"{_where(name, ('max_ngpus',))}: is {part.max_ngpus} but 'gpu' is None; "
                "set 'gpu' to a --gres template such as 'gpu:{}', or max_ngpus to 0"
            )
            continue
        try:
            check_gpu_type_labels(part.gpu, part.gpu_types)
        except ValueError as e:
            problems.append(f"{_where(name, ('gpu_types',))}: {e}")
            continue
        if part.gpu is not None and part.max_ngpus == 0:
            problems.append(
                f"{_where(name, ('gpu',))}: is set but max_ngpus is 0; "
                "set max_ngpus to the number of GPUs a job may use, or gpu to None"
            )
            continue
        partitions[name] = part
    if not raw:
        problems.append("c.MOSlurmSpawner.partitions is empty: configure at least one partition")
    elif not problems and not any(p.simple for p in partitions.values()):
        problems.append(
            "c.MOSlurmSpawner.partitions: no partition has 'simple': True, "
            "so the Simple tab would be empty; mark at least one"
        )
    if problems:
        raise PartitionConfigError("\n".join(problems))
    return partitions


@dataclass(frozen=True)
class PartitionView:
    """A partition as users see it: the admin's settings bounded by the cluster."""

    name: str
    description: str
    architecture: str
    simple: bool
    gpu: str | None
    environments: dict[str, Environment]
    max_nprocs: int
    max_ngpus: int
    max_runtime: int  # seconds
    max_memory_mb: int | None  # per node, from sinfo; None when unknown
    available: bool
    unavailable_reason: str | None
    resources: PartitionResources | None
    gpu_types: tuple[GpuTypeChoice, ...] = ()  # offered when the partition has several

    def as_dict(self) -> dict:
        """What the spawn page needs to know about the partition."""
        res = self.resources
        return {
            "name": self.name,
            "description": self.description,
            "architecture": self.architecture,
            "simple": self.simple,
            "has_gpu": self.gpu is not None and self.max_ngpus > 0,
            "environments": [
                {"id": key, "description": env.description}
                for key, env in self.environments.items()
            ],
            "max_nprocs": self.max_nprocs,
            "max_ngpus": self.max_ngpus,
            "max_runtime": self.max_runtime,
            "max_memory_gb": (self.max_memory_mb // 1024) if self.max_memory_mb else None,
            "available": self.available,
            "unavailable_reason": self.unavailable_reason,
            "resources": res.as_dict() if res else None,
            "gpu_types": [choice.as_dict() for choice in self.gpu_types],
        }


def _bounded(configured: int | None, reported: int | None) -> int | None:
    values = [v for v in (configured, reported) if v is not None and v >= 0]
    return min(values) if values else None


def merge_partitions(
    partitions: dict[str, Partition],
    resources: dict[str, PartitionResources] | None,
    sinfo_error: str | None = None,
) -> dict[str, PartitionView]:
    """Combine the admin's settings with ``sinfo``'s view of the cluster.

    A limit the admin left out is taken from the cluster; one the admin set is
    lowered to what the cluster can give. A partition that ``sinfo`` does not
    report, or that is not up, is marked unavailable, with the reason.
    ``resources`` is None when nothing is known from ``sinfo`` yet.
    """
    views: dict[str, PartitionView] = {}
    for name, part in partitions.items():
        res = resources.get(name) if resources else None
        available = True
        reason = None
        if res is None:
            if resources is None:
                reason = f"the Slurm controller did not answer ({sinfo_error or 'no data yet'})"
            else:
                reason = f"Slurm does not report a partition named {name!r}"
            # Without sinfo, the admin's limits are all there is; keep the partition
            # usable only if they are complete.
            available = resources is None and None not in (part.max_nprocs, part.max_runtime)
        elif not res.available:
            available = False
            reason = f"partition {name!r} is not up in Slurm"
        max_time = res.max_time if res and res.max_time != UNLIMITED else None
        max_nprocs = _bounded(part.max_nprocs, res.max_cpus_per_node if res else None) or 1
        max_runtime = _bounded(part.max_runtime, max_time) or 3600
        if part.gpu is None:
            max_ngpus = 0
        else:
            max_ngpus = _bounded(part.max_ngpus, res.max_gpus_per_node if res else None) or 0
        views[name] = PartitionView(
            name=name,
            description=part.description,
            architecture=part.architecture,
            simple=part.simple,
            gpu=part.gpu,
            environments=part.environments(),
            max_nprocs=max_nprocs,
            max_ngpus=max_ngpus,
            max_runtime=max_runtime,
            max_memory_mb=res.max_memory_mb if res and res.max_memory_mb else None,
            available=available,
            unavailable_reason=None if available else reason,
            resources=res,
            gpu_types=tuple(
                gpu_type_choices(
                    part.gpu,
                    res.gpus_by_type_total if res else None,
                    res.gpus_by_type_used if res else None,
                    part.gpu_types,
                    max_per_node=res.max_gpus_per_node_by_type if res else None,
                    max_ngpus=max_ngpus,
                )
            )
            if part.gpu is not None
            else (),
        )
    return views
