"""Running the ``jupyterhub-moss`` command from the tests, as a subprocess."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

from . import DATA, REPO

DEMO_CONFIG = REPO / "dev" / "jupyterhub_config.py"
GOOD_CONFIG = DATA / "good_config.py"
BROKEN_CONFIG = DATA / "broken_config.py"


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None):
    """``python -m jupyterhub_moss ARGS`` with the repository first on the path."""
    environ = {**os.environ, **(env or {})}
    environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p
    )
    return subprocess.run(
        [sys.executable, "-m", "jupyterhub_moss", *args],
        capture_output=True,
        text=True,
        cwd=cwd or REPO,
        env=environ,
        timeout=120,
    )


def check_json(config: Path, *args: str):
    """The exit status and the JSON document of ``check --json``."""
    result = run_cli("check", "-f", str(config), "--json", *args)
    assert result.stdout, result.stderr
    return result.returncode, json.loads(result.stdout)


def codes(document: dict, severity: str | None = None) -> set[tuple[str, str]]:
    """(code, subject) of the findings, of one severity if given."""
    return {
        (f["code"], f["subject"])
        for f in document["findings"]
        if severity is None or f["severity"] == severity
    }


@contextmanager
def installed_sudo_rules(text: str):
    """``text`` installed in sudo's own folder for the block, then removed (as root)."""
    path = f"/etc/sudoers.d/moss-test-{secrets.token_hex(4)}"
    with tempfile.NamedTemporaryFile("w", suffix=".sudoers") as staged:
        staged.write(text)
        staged.flush()
        subprocess.run(["visudo", "-c", "-q", "-f", staged.name], check=True)
        subprocess.run(["install", "-m", "0440", staged.name, path], check=True)
    try:
        yield path
    finally:
        if os.path.exists(path):
            os.unlink(path)


def generated_sudoers(hub_user: str = "moss16", groups=("moss01", "root")) -> str:
    """``jupyterhub-moss sudoers`` for the good config. The defaults let moss16 stand
    for the hub's account; the group "root" holds root only, so the rules would let
    the hub act as root were it not for their "!root"."""
    argv = ["sudoers", "-f", str(GOOD_CONFIG), "--hub-user", hub_user]
    for group in groups:
        argv += ["--group", group]
    result = run_cli(*argv)
    assert result.returncode == 0, result.stderr
    return result.stdout
