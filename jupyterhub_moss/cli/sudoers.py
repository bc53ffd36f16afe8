"""``jupyterhub-moss sudoers``: the sudoers rules a configuration needs.

Exactly the commands the spawner runs as users through ``exec_prefix`` (see
:mod:`.commands`), by full path: ``sbatch --parsable``, ``sbatch --test-only``,
``scancel JOBID`` and ``tail -c 65536 -- PATH`` (the last two as regular
expressions that match nothing more), allowed to the hub's account as the members
of a group but never as root, without a password. ``SETENV`` only when the
``exec_prefix`` asks sudo to keep the environment (which ``check`` reports as an
error), and ``env_keep`` only for ``SLURM_CONF`` when it is set for the hub (the
spawner passes it on to the commands). Check the output with ``visudo -c -f FILE``
and install it as ``/etc/sudoers.d/jupyterhub``, mode 0440.
"""

from __future__ import annotations

import os
import re

from ..slurm.client import keeps_environment
from .commands import user_commands
from .config import CliError

__all__ = ["sudoers_rules"]

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}\Z")
# What a sudoers command may hold here without escaping.
_SPEC = re.compile(r"^/[A-Za-z0-9_./+ \[\]^$-]+\Z")


def _check_name(kind: str, value: str) -> str:
    if not _NAME.match(value):
        raise CliError(f"{kind} {value!r} is not an account or group name")
    return value


def sudoers_rules(
    spawner,
    *,
    hub_user: str,
    groups: list[str],
    config_path: str,
    environ: dict[str, str] | None = None,
) -> str:
    """The sudoers text letting ``hub_user`` run the spawner's commands as members of
    ``groups``. Raises :class:`CliError` when the config does not use sudo or a
    program cannot be found."""
    environ = os.environ if environ is None else environ
    prefix = list(spawner.exec_prefix)
    if not prefix or os.path.basename(prefix[0]) != "sudo":
        raise CliError(
            f"c.MOSlurmSpawner.exec_prefix is {prefix!r}, not sudo: no sudoers rules are needed"
        )
    _check_name("--hub-user", hub_user)
    if not groups:
        raise CliError("give the users' group with --group")
    for group in groups:
        _check_name("--group", group)
    try:
        commands = user_commands(spawner)
    except LookupError as e:
        raise CliError(str(e)) from None
    specs = list(dict.fromkeys(command.sudoers_spec() for command in commands))
    for spec in specs:
        if not _SPEC.match(spec):
            raise CliError(f"{spec!r} cannot be written in sudoers without escaping")
    tags = "NOPASSWD:SETENV:" if keeps_environment(prefix) else "NOPASSWD:"
    lines = [
        f"# sudoers rules for the JupyterHub of {os.path.basename(config_path)}, written by",
        "# 'jupyterhub-moss sudoers': the commands MOSlurmSpawner runs as the users",
        f"# (c.MOSlurmSpawner.exec_prefix = {prefix!r}).",
        "# Check with visudo -c -f FILE; install as /etc/sudoers.d/jupyterhub, mode 0440.",
    ]
    if tags.endswith("SETENV:"):
        lines.append(
            "# SETENV: the exec_prefix keeps the hub's environment; prefer one without -E."
        )
    lines.append("Cmnd_Alias MOSS_SLURM = " + ", \\\n    ".join(specs))
    # Never root, even should root be a member of a group.
    lines.append("Runas_Alias MOSS_USERS = " + ", ".join(f"%{g}" for g in groups) + ", !root")
    if "SLURM_CONF" in environ:
        lines.append('Defaults!MOSS_SLURM env_keep += "SLURM_CONF"')
    lines.append(f"{hub_user} ALL = (MOSS_USERS) {tags} MOSS_SLURM")
    return "\n".join(lines) + "\n"
