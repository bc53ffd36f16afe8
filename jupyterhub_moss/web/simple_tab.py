"""The Simple tab's choices: computed here, once, and handed to the page as data
(each partition's ``simple_choices``); the page's script only shows them.

The run-time choices depend on the cap in force, which the account and QOS chosen
on the page may lower: the choices are given for each cap the user's facts hold.
"""

from __future__ import annotations

from ..slurm.timefmt import describe_duration, format_duration

__all__ = ["cpu_choices", "fits_simple", "runtime_choices", "simple_choices"]

#: The run times offered on partitions that allow more than 12 hours, in hours.
LONG_LADDER = (1, 2, 4, 8, 12, 24, 48, 72, 96, 168)


def cpu_choices(max_nprocs: int) -> list[dict]:
    """One core, half of the partition's, all of them (each once)."""
    half = max(1, max_nprocs // 2)
    choices, seen = [], set()
    for value, label in ((1, "Minimum"), (half, "Half"), (max_nprocs, "Maximum")):
        if value not in seen:
            seen.add(value)
            choices.append({"value": value, "label": f"{label} ({value})"})
    return choices


def gpu_choices(max_ngpus: int) -> list[dict]:
    return [{"value": n, "label": str(n)} for n in range(max_ngpus + 1)]


def runtime_choices(max_runtime: int) -> list[dict]:
    """Whole hours up to ``max_runtime`` (every hour up to 12, then a ladder); under
    an hour, the limit alone."""
    max_hours = max_runtime // 3600
    if max_hours < 1:
        return [
            {
                "value": format_duration(max_runtime),
                "seconds": max_runtime,
                "label": describe_duration(max_runtime),
            }
        ]
    if max_hours <= 12:
        hours = list(range(1, max_hours + 1))
    else:
        hours = [h for h in LONG_LADDER if h < max_hours] + [max_hours]
    return [
        {
            "value": f"{h}:00:00",
            "seconds": h * 3600,
            "label": "1 hour" if h == 1 else f"{h} hours",
        }
        for h in hours
    ]


def _caps(partition: dict, facts: dict | None) -> set[int]:
    """Every run-time cap the page may apply on ``partition``: its own, and those of
    the user's accounts and QOS there (moss-facts.js ``runtimeCap``)."""
    limit = partition["max_runtime"]
    caps = {limit}
    accounts = ((facts or {}).get("accounts") or {}).get("accounts") or {}
    for account in accounts.values():
        choice = (account.get("partitions") or {}).get(partition["name"])
        if not choice:
            continue
        for cap in [choice.get("max_runtime"), *(choice.get("max_runtime_by_qos") or {}).values()]:
            if isinstance(cap, int) and 0 < cap < limit:
                caps.add(cap)
    return caps


def simple_choices(partition: dict, facts: dict | None = None) -> dict:
    """The Simple tab's choices on ``partition`` (a view's ``as_dict()``): cores,
    GPUs, and the run times under each cap (keyed by the cap in seconds, as text)."""
    return {
        "nprocs": cpu_choices(partition["max_nprocs"]),
        "ngpus": gpu_choices(partition["max_ngpus"]) if partition.get("has_gpu") else [],
        "runtime": {str(cap): runtime_choices(cap) for cap in sorted(_caps(partition, facts))},
    }


def fits_simple(options, partition: dict) -> bool:
    """Whether ``options`` (validated) can be shown on the Simple tab as they are."""
    return (
        partition["simple"]
        and options.nprocs in {c["value"] for c in cpu_choices(partition["max_nprocs"])}
        and options.runtime in {c["seconds"] for c in runtime_choices(partition["max_runtime"])}
        and not (
            options.memory_mb
            or options.reservation
            or options.root_dir
            or options.sbatch_options
            or options.environment_path
            or options.environment_modules
        )
        and options.default_url in (None, "")
    )
