"""What ``jupyterhub-moss check`` reports: findings, their summary, and how both
are printed (one line each for people, or one JSON document)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass

__all__ = ["ERROR", "INFO", "SEVERITIES", "WARNING", "Finding", "as_json", "as_text", "summary"]

ERROR = "error"
WARNING = "warning"
INFO = "info"
#: The severities, the gravest first.
SEVERITIES = (ERROR, WARNING, INFO)


@dataclass(frozen=True)
class Finding:
    """One thing ``check`` found.

    ``code`` is a short id that stays the same between releases
    (``partition-missing``); ``subject`` what it is about (a partition's name, a
    command); ``message`` says it in words, with the config key and Slurm's value.
    """

    severity: str
    code: str
    subject: str
    message: str

    def __post_init__(self):
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.severity!r}")


def summary(findings: list[Finding]) -> dict:
    """How many findings of each severity, and whether the config passes (no error)."""
    counts = Counter(f.severity for f in findings)
    result = {severity: counts.get(severity, 0) for severity in SEVERITIES}
    result["ok"] = result[ERROR] == 0
    return result


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 or word == "info" else "s")


def as_text(findings: list[Finding], config_path: str) -> str:
    """One line a finding, the gravest first, then the summary line."""
    order = {severity: i for i, severity in enumerate(SEVERITIES)}
    lines = [
        f"{f.severity.upper()}: {f.code} [{f.subject}] {f.message}"
        for f in sorted(findings, key=lambda f: order[f.severity])
    ]
    counts = summary(findings)
    verdict = "OK" if counts["ok"] else "FAILED"
    lines.append(
        f"{config_path}: {verdict}: "
        + ", ".join(_plural(counts[severity], severity) for severity in SEVERITIES)
    )
    return "\n".join(lines)


def as_json(findings: list[Finding], config_path: str) -> str:
    """``{"config": ..., "findings": [{severity, code, subject, message}], "summary":
    {error, warning, info, ok}}``."""
    document = {
        "config": config_path,
        "findings": [asdict(f) for f in findings],
        "summary": summary(findings),
    }
    return json.dumps(document, indent=2)
