"""Settings of the spawners sites come from: jupyterhub-moss 10.x and batchspawner.

Each one is either used (with its meaning here), or ignored with a log line
saying why, or refused when the hub starts with a message that names what
replaces it. None is ignored silently.

The settings themselves are declared with the others in :mod:`.settings`, under
the names they had with the spawner a site comes from.
"""

from __future__ import annotations

import shlex

__all__ = ["REFUSED", "check_peer_config", "not_ours", "peer_directives"]

#: Settings that have no meaning here, with what replaces them.
REFUSED = {
    "req_partition": "c.MOSlurmSpawner.partitions (users choose among them; "
    "one partition is a partitions dict with one entry)",
    "req_runtime": "the partition's 'max_runtime' (users choose the run time up to it)",
    "req_nprocs": "the partition's 'max_nprocs' (users choose the cores up to it)",
    "req_memory": "the 'memory' option users choose (up to a node's memory), or "
    "c.MOSlurmSpawner.sbatch_directives = ['--mem=...'] for every job",
    "req_ngpus": "the partition's 'gpu' template and 'max_ngpus' (users choose up to it)",
    "req_reservation": "the 'reservation' option users choose, or "
    "c.MOSlurmSpawner.sbatch_directives = ['--reservation=...'] for every job",
    "batch_submit_cmd": "c.MOSlurmSpawner.exec_prefix and slurm_bin_dir: sbatch runs "
    "as an argument list, as the user",
    "batch_query_cmd": "c.MOSlurmSpawner.slurm_bin_dir and slurm_poll_interval: one "
    "squeue for all jobs of the hub",
    "batch_cancel_cmd": "c.MOSlurmSpawner.exec_prefix and slurm_bin_dir: scancel runs "
    "as an argument list, as the user",
}

#: batchspawner's settings that become ``#SBATCH`` lines here.
_DIRECTIVES = {"req_account": "--account", "req_qos": "--qos"}

#: batchspawner's settings that are used here, and how.
_MAPPED = {
    "req_prologue": "c.MOSlurmSpawner.prologue",
    "req_epilogue": "c.MOSlurmSpawner.epilogue",
    "req_account": "'#SBATCH --account=...' on every job",
    "req_qos": "'#SBATCH --qos=...' on every job",
    "req_options": "#SBATCH lines on every job, one per word (as sbatch_directives)",
}

#: Config sections of the spawners a site comes from, which MOSlurmSpawner does not read.
_OTHER_SECTIONS = ("SlurmSpawner", "BatchSpawnerBase", "BatchSpawner")

#: jupyterhub-moss 10.x's settings of its resource table, replaced by the shared sinfo cache.
_IGNORED = ("slurm_info_cmd", "slurm_info_resources")


def not_ours(name: str, section: str = "MOSlurmSpawner") -> str:
    """Why batchspawner's setting ``name`` is refused, and what replaces it."""
    return (
        f"c.{section}.{name} is batchspawner's and has no meaning in jupyterhub_moss; "
        f"use {REFUSED[name]}"
    )


def peer_directives(req_account: str, req_qos: str, req_options: str) -> list[str]:
    """The ``#SBATCH`` options batchspawner's ``req_account``, ``req_qos`` and
    ``req_options`` stand for."""
    values = {"req_account": req_account, "req_qos": req_qos}
    directives = [f"{flag}={values[name]}" for name, flag in _DIRECTIVES.items() if values[name]]
    return directives + shlex.split(req_options)


def check_peer_config(config, log) -> None:
    """Refuse, before the hub serves anything, settings that would be ignored.

    ``config`` is the hub's whole config. Raises ValueError listing them all.
    """
    problems = []
    section = config.get("MOSlurmSpawner", {}) if hasattr(config, "get") else {}
    for name in REFUSED:
        if name in section:
            problems.append(not_ours(name))
    for other in _OTHER_SECTIONS:
        names = sorted(config.get(other, {})) if hasattr(config, "get") else []
        for name in names:
            where = f"c.{other}.{name}"
            if name in REFUSED:
                problems.append(not_ours(name, other))
            else:
                problems.append(
                    f"{where} is not read by MOSlurmSpawner: set c.MOSlurmSpawner.{name} "
                    "if jupyterhub_moss has it (see the migration guide)"
                )
    for name in _IGNORED:
        if name in section:
            log.warning(
                "jupyterhub_moss: c.MOSlurmSpawner.%s (jupyterhub-moss 10.x) is ignored: "
                "the resource table comes from one shared sinfo call "
                "(see sinfo_cache_ttl)",
                name,
            )
    for name, used_as in _MAPPED.items():
        if name in section:
            log.warning(
                "jupyterhub_moss: c.MOSlurmSpawner.%s is batchspawner's name; it is used as %s",
                name,
                used_as,
            )
    if problems:
        raise ValueError("\n".join(problems))
