"""``jupyterhub-moss check``: a hub's config against the live cluster.

Loads the config as JupyterHub would and asks Slurm (read-only: ``sinfo``,
``scontrol show``, ``sacctmgr show``) what it has. Reports partitions Slurm lacks,
limits above Slurm's (cores and GPUs of the partition's nodes, its MaxTime, the
MaxWall of its QOS), GPU types Slurm does not know there, environments missing on
this host, sudo rules the spawner needs and does not have, and an ``exec_prefix``
that keeps the hub's environment. See :mod:`.hostchecks` for the last three.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass

from ..choices.facts import SlurmFacts
from ..site.partitions import Partition
from ..slurm.accounting import Qos
from ..slurm.clusterinfo import ClusterConfig, PartitionInfo
from ..slurm.sinfo import PartitionResources
from ..slurm.timefmt import format_duration
from .config import hub_for_jobs
from .findings import ERROR, INFO, WARNING, Finding
from .hostchecks import (
    check_environments,
    check_exec_prefix,
    check_group_members,
    check_hub_address,
    check_hub_certificate,
    check_sudo,
    hub_certificate_names,
)

__all__ = ["Cluster", "check_config", "check_partitions", "read_cluster"]


@dataclass(frozen=True)
class Cluster:
    """What Slurm answered; ``None`` where the command failed (see ``errors``)."""

    resources: dict[str, PartitionResources] | None
    partitions: dict[str, PartitionInfo] | None
    config: ClusterConfig | None
    qos: dict[str, Qos] | None
    errors: tuple[Finding, ...] = ()


async def read_cluster(spawner) -> Cluster:
    """What Slurm has, read as the hub reads it: through the spawner's shared
    ``sinfo`` cache and the facts it builds (its client, ``slurm_bin_dir`` and
    timeout)."""
    # The facts of the cluster, not of a user.
    facts = SlurmFacts(spawner.slurm_client(), "", accounts_ttl=spawner.accounts_cache_ttl)
    errors: list[Finding] = []

    def answer(value, error: str | None, said_by: str):
        if error is None:
            return value
        name = said_by.split()[0]
        errors.append(Finding(ERROR, "slurm-unreachable", name, f"{said_by} failed: {error}"))
        return None

    snapshot, partitions, config = await asyncio.gather(
        spawner.sinfo_cache().get(), facts.read("partitions"), facts.read("config")
    )
    resources = answer(snapshot.partitions, snapshot.error, "sinfo")
    partitions = answer(partitions.value, partitions.error, "scontrol show partition")
    config = answer(config.value, config.error, "scontrol show config")
    qos = None
    if config is not None and config.accounting and spawner.slurm_accounting != "off":
        entry = await facts.read("qos")
        qos = answer(entry.value, entry.error, "sacctmgr show qos")
    return Cluster(resources, partitions, config, qos, tuple(errors))


def _key(name: str, field: str | None = None) -> str:
    key = f"c.MOSlurmSpawner.partitions[{name!r}]"
    return f"{key}[{field!r}]" if field else key


def _fixed_gpu_types(template: str) -> list[str]:
    """The GPU types a ``gpu`` template names itself ("gpu:V100:{}" -> V100); none
    for "gpu:{}" or a ``{type}`` slot."""
    types = []
    for item in template.split(","):
        parts = item.split(":")
        if len(parts) == 3 and parts[0] == "gpu" and parts[1] != "{type}":
            types.append(parts[1])
    return types


def _check_gpus(name: str, part: Partition, res: PartitionResources) -> list[Finding]:
    if part.gpu is None:
        return []
    findings = []
    known = sorted(t for t in res.gpus_by_type_total if t)
    if res.max_gpus_per_node == 0:
        return [
            Finding(
                ERROR,
                "gpu-missing",
                name,
                f"{_key(name, 'gpu')} is {part.gpu!r} but Slurm reports no GPUs (gres) "
                f"on the nodes of partition {name!r}",
            )
        ]
    cap = res.max_gpus_per_node
    for gpu_type in _fixed_gpu_types(part.gpu):
        if gpu_type not in res.gpus_by_type_total:
            findings.append(
                Finding(
                    ERROR,
                    "gpu-type-unknown",
                    name,
                    f"{_key(name, 'gpu')} asks for GPU type {gpu_type!r}, which Slurm does "
                    f"not have on partition {name!r} (it has: {', '.join(known) or 'untyped'})",
                )
            )
        else:
            cap = res.max_gpus_per_node_by_type.get(gpu_type, cap)
    for gpu_type in part.gpu_types or {}:
        if gpu_type not in res.gpus_by_type_total:
            findings.append(
                Finding(
                    WARNING,
                    "gpu-type-unknown",
                    name,
                    f"{_key(name, 'gpu_types')} lists {gpu_type!r}, which Slurm does not "
                    f"have on partition {name!r}: it is not offered (Slurm has: "
                    f"{', '.join(known) or 'untyped GPUs'})",
                )
            )
    if part.max_ngpus is not None and part.max_ngpus > cap:
        findings.append(
            Finding(
                ERROR,
                "ngpus-over-slurm",
                name,
                f"{_key(name, 'max_ngpus')} is {part.max_ngpus} but the nodes of partition "
                f"{name!r} have at most {cap} GPUs for it (gres)",
            )
        )
    return findings


def _check_runtime(
    name: str, part: Partition, info: PartitionInfo | None, qos: dict[str, Qos] | None
) -> list[Finding]:
    if part.max_runtime is None:
        return []
    findings = []
    runtime = format_duration(part.max_runtime)
    if info is not None and info.max_time is not None and part.max_runtime > info.max_time:
        findings.append(
            Finding(
                ERROR,
                "runtime-over-maxtime",
                name,
                f"{_key(name, 'max_runtime')} is {part.max_runtime} s ({runtime}) but "
                f"partition {name!r} has MaxTime={format_duration(info.max_time)}",
            )
        )
    if qos is None:
        return findings
    own = qos.get(info.qos) if info is not None and info.qos else None
    if own is not None and own.max_wall is not None and part.max_runtime > own.max_wall:
        findings.append(
            Finding(
                ERROR,
                "runtime-over-qos",
                name,
                f"{_key(name, 'max_runtime')} is {part.max_runtime} s ({runtime}) but the "
                f"partition's QOS {own.name!r} has MaxWall={format_duration(own.max_wall)}",
            )
        )
    lower = sorted(
        q.name
        for q in qos.values()
        if q is not own and q.max_wall is not None and q.max_wall < part.max_runtime
    )
    if lower:
        findings.append(
            Finding(
                INFO,
                "qos-maxwall-below",
                name,
                f"{_key(name, 'max_runtime')} is {runtime}; jobs under QOS "
                + ", ".join(f"{n!r} (MaxWall={format_duration(qos[n].max_wall)})" for n in lower)
                + " get at most that QOS's MaxWall (the spawn page caps the run time)",
            )
        )
    return findings


def check_partitions(partitions: dict[str, Partition], cluster: Cluster) -> list[Finding]:
    """Each configured partition against Slurm's: existence, state, cores, GPUs, time."""
    findings: list[Finding] = []
    if cluster.resources is None:
        return findings  # already reported as slurm-unreachable
    have = ", ".join(sorted(cluster.resources)) or "none"
    for name, part in partitions.items():
        res = cluster.resources.get(name)
        if res is None:
            findings.append(
                Finding(
                    ERROR,
                    "partition-missing",
                    name,
                    f"{_key(name)} is configured but Slurm has no partition {name!r} "
                    f"(it has: {have})",
                )
            )
            continue
        if not res.available:
            findings.append(
                Finding(WARNING, "partition-down", name, f"partition {name!r} is not up in Slurm")
            )
        if part.max_nprocs is not None and part.max_nprocs > res.max_cpus_per_node:
            findings.append(
                Finding(
                    ERROR,
                    "nprocs-over-slurm",
                    name,
                    f"{_key(name, 'max_nprocs')} is {part.max_nprocs} but the nodes of "
                    f"partition {name!r} have at most {res.max_cpus_per_node} CPUs",
                )
            )
        findings += _check_gpus(name, part, res)
        info = (cluster.partitions or {}).get(name)
        findings += _check_runtime(name, part, info, cluster.qos)
    return findings


def check_config(
    spawner,
    *,
    hub_user: str | None = None,
    sample_user: str | None = None,
    groups: list[str] | None = None,
) -> list[Finding]:
    """Every finding for the configured ``spawner`` on this host and cluster."""
    cluster = asyncio.run(read_cluster(spawner))
    partitions = spawner.configured_partitions()
    findings = list(cluster.errors)
    findings += check_partitions(partitions, cluster)
    findings += check_environments(partitions, spawner.cmd)
    findings += check_exec_prefix(spawner.exec_prefix)
    findings += check_sudo(spawner, hub_user=hub_user, sample_user=sample_user)
    nodes = set()
    for name, info in (cluster.partitions or {}).items():
        if name in partitions:
            nodes |= info.nodes
    hub_url = hub_for_jobs(spawner.config).host
    findings += check_hub_address(hub_url, nodes, spawner.node_address)
    section = spawner.config.get("JupyterHub", {})
    findings += check_hub_certificate(
        hub_url,
        bool(section.get("internal_ssl")),
        hub_certificate_names(section.get("trusted_alt_names", []), socket.getfqdn()),
    )
    if groups:
        slurm_user = cluster.config.slurm_user if cluster.config is not None else ""
        findings += check_group_members(groups, spawner.minimum_uid, slurm_user)
    return findings
