"""Prometheus metrics, served with JupyterHub's own at ``/hub/metrics``.

They let an admin see what the hub costs the Slurm controller: every command
this package runs is counted by program and outcome.
"""

from prometheus_client import Counter, Histogram

__all__ = ["FACTS_CACHE", "SINFO_CACHE", "SLURM_COMMANDS", "SLURM_COMMAND_DURATION"]

SLURM_COMMANDS = Counter(
    "jupyterhub_moss_slurm_commands",
    "Slurm commands run by the hub, by program and outcome (ok, error, timeout)",
    ["command", "outcome"],
)

SLURM_COMMAND_DURATION = Histogram(
    "jupyterhub_moss_slurm_command_duration_seconds",
    "Time Slurm commands took to answer",
    ["command"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)

SINFO_CACHE = Counter(
    "jupyterhub_moss_sinfo_cache",
    "Reads of the shared sinfo cache, by result (hit, miss, joined)",
    ["result"],
)

FACTS_CACHE = Counter(
    "jupyterhub_moss_facts_cache",
    "Reads of the shared caches of Slurm facts (accounts, QOS, partitions, reservations), "
    "by cache and result (hit, miss, joined)",
    ["cache", "result"],
)
