"""The checks of ``jupyterhub-moss check`` that look at this host rather than at
Slurm: the environments' folders, the ``exec_prefix``, sudo's rules, and the
address jobs reach the hub at (and, with internal_ssl, the name its certificate
must carry)."""

from __future__ import annotations

import grp
import ipaddress
import os
import pwd
import shutil
import socket
import subprocess
from collections.abc import Callable
from urllib.parse import urlsplit

from ..choices.facts import refuse_account
from ..site.partitions import Partition
from ..slurm.client import keeps_environment
from .commands import broader_probes, user_commands
from .findings import ERROR, INFO, WARNING, Finding

__all__ = [
    "check_environments",
    "check_exec_prefix",
    "check_group_members",
    "check_hub_address",
    "check_hub_certificate",
    "check_sudo",
    "hub_certificate_names",
]

_SUDO_TIMEOUT = 15


def _environment_paths(name: str, part: Partition):
    """(config key, path) of each environment folder or image of a partition."""
    if part.jupyter_environments is None:
        yield f"c.MOSlurmSpawner.partitions[{name!r}]['venv']", part.venv or ""
        return
    for env_id, env in part.jupyter_environments.items():
        key = f"c.MOSlurmSpawner.partitions[{name!r}]['jupyter_environments'][{env_id!r}]"
        if env.image:
            yield f"{key}['image']", env.image
        elif env.path:
            yield f"{key}['path']", env.path


def check_environments(
    partitions: dict[str, Partition],
    cmd: list[str] | None = None,
    exists: Callable[[str], bool] = os.path.exists,
) -> list[Finding]:
    """Environment folders (and images) this host does not have.

    Only warnings: the compute nodes may have what the hub's host lacks. A folder
    that is there but lacks the server's command (``cmd``, by default
    ``jupyterhub-singleuser``) is a warning too.
    """
    program = (cmd or ["jupyterhub-singleuser"])[0]
    findings = []
    for name, part in partitions.items():
        for key, path in _environment_paths(name, part):
            if not path:
                continue
            if not exists(path):
                findings.append(
                    Finding(
                        WARNING,
                        "environment-missing",
                        name,
                        f"{key} is {path!r}, which does not exist on this host "
                        "(fine only if the compute nodes have it)",
                    )
                )
            elif os.path.isdir(path) and "/" not in program:
                if not exists(os.path.join(path, program)):
                    findings.append(
                        Finding(
                            WARNING,
                            "singleuser-missing",
                            name,
                            f"{key} is {path!r}, which holds no {program} on this host",
                        )
                    )
    return findings


def check_exec_prefix(prefix: list[str]) -> list[Finding]:
    """An ``exec_prefix`` that passes the hub's environment on (``sudo -E``,
    ``--preserve-env``, ``runuser`` without a login) is a security error: the user's
    job must not be able to inherit the hub's variables."""
    if not keeps_environment(list(prefix)):
        return []
    return [
        Finding(
            ERROR,
            "exec-prefix-keeps-env",
            " ".join(prefix) or "(empty)",
            f"c.MOSlurmSpawner.exec_prefix is {list(prefix)!r}, which keeps the hub's "
            "environment for the commands run as users (and so for their jobs); use one "
            "that resets it, such as ['sudo', '-n', '-u', '{username}']",
        )
    ]


def _current_user() -> str:
    return pwd.getpwuid(os.geteuid()).pw_name


def _unchecked(subject: str, why: str) -> list[Finding]:
    return [Finding(INFO, "sudo-unchecked", subject, f"sudo rules not checked: {why}")]


def _sudo_list(argv: list[str]) -> tuple[bool | None, str]:
    """Whether sudo allows the command (None: it cannot tell), and why not."""
    try:
        result = subprocess.run(
            argv, capture_output=True, text=True, timeout=_SUDO_TIMEOUT, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.SubprocessError) as e:
        return None, str(e)
    if result.returncode == 0 and result.stdout.strip():
        return True, ""
    if result.stderr.strip():
        return None, result.stderr.strip().splitlines()[-1]
    return False, ""


def check_sudo(spawner, *, hub_user: str | None, sample_user: str | None) -> list[Finding]:
    """Whether sudo lets ``hub_user`` (default: who runs this) run each command of
    :func:`~.commands.user_commands` as ``sample_user``, asked with ``sudo -n -l``.

    A missing rule for submitting or cancelling is an error, for the estimate or the
    output a warning. When sudo cannot tell (no sudo, a password needed, run as
    root with no ``hub_user``, no sample user) the finding is an "info".
    """
    prefix = list(spawner.exec_prefix)
    if not prefix or os.path.basename(prefix[0]) != "sudo":
        return [
            Finding(
                INFO,
                "sudo-not-used",
                " ".join(prefix) or "(empty)",
                f"c.MOSlurmSpawner.exec_prefix is {prefix!r}: not sudo, its rules not checked",
            )
        ]
    sudo = shutil.which(prefix[0])
    if sudo is None:
        return _unchecked("sudo", f"{prefix[0]} is not installed on this host")
    current = _current_user()
    hub_user = hub_user or current
    if hub_user == "root":
        return _unchecked(
            hub_user,
            "the hub would run as root, which sudo lets run anything; give the hub's "
            "account with --hub-user",
        )
    if hub_user != current and os.geteuid() != 0:
        return _unchecked(hub_user, "only root may list the sudo rules of another account")
    if not sample_user:
        return _unchecked(hub_user, "no user to check with; give one with --sample-user")
    try:
        home = pwd.getpwnam(sample_user).pw_dir
    except KeyError:
        return _unchecked(sample_user, f"there is no account {sample_user!r} on this host")
    try:
        commands = user_commands(spawner, home)
    except LookupError as e:
        return [Finding(ERROR, "command-missing", "exec_prefix", str(e))]
    base = [sudo, "-n", "-l"] + (["-U", hub_user] if hub_user != current else [])
    findings = []
    for command in commands:
        allowed, why = _sudo_list([*base, "-u", sample_user, *command.sample_argv()])
        spec = command.sudoers_spec()
        if allowed is None:
            findings += _unchecked(spec, why)
        elif not allowed:
            findings.append(
                Finding(
                    ERROR if command.required else WARNING,
                    "sudo-rule-missing",
                    spec,
                    f"sudo does not let {hub_user} run {' '.join(command.sample_argv())!r} as "
                    f"{sample_user} (c.MOSlurmSpawner.exec_prefix {prefix!r}); needed for "
                    f"{command.purpose}; see 'jupyterhub-moss sudoers'",
                )
            )
    return findings + _broader_rules(base, hub_user, sample_user, commands)


def _broader_rules(base, hub_user: str, sample_user: str, commands) -> list[Finding]:
    """Rules that let the hub do more than the spawner needs: run its commands with
    other arguments, or as root."""
    findings = []
    for argv in broader_probes(commands):
        if _sudo_list([*base, "-u", sample_user, *argv])[0]:
            findings.append(
                Finding(
                    ERROR,
                    "sudo-rule-too-broad",
                    " ".join(argv),
                    f"sudo lets {hub_user} run {' '.join(argv)!r} as {sample_user}: the "
                    "rules are broader than the spawner needs (a wildcard matches across "
                    "spaces); use the exact rules of 'jupyterhub-moss sudoers'",
                )
            )
    for command in commands:
        if _sudo_list([*base, "-u", "root", *command.sample_argv()])[0]:
            findings.append(
                Finding(
                    ERROR,
                    "sudo-rule-root",
                    command.sudoers_spec(),
                    f"sudo lets {hub_user} run {' '.join(command.sample_argv())!r} as root; "
                    "end the rule's Runas list with !root",
                )
            )
    return findings


def check_group_members(groups: list[str], minimum_uid: int, slurm_user: str) -> list[Finding]:
    """Members of the users' ``groups`` that no server is started for (root, the
    SlurmUser, accounts under ``minimum_uid``): the sudo rules should not cover them."""
    findings = []
    primary = [(p.pw_name, p.pw_gid) for p in pwd.getpwall()]  # read once, for every group
    for group in groups:
        try:
            entry = grp.getgrnam(group)
        except KeyError:
            findings.append(Finding(ERROR, "group-missing", group, f"there is no group {group!r}"))
            continue
        members = set(entry.gr_mem)
        members |= {name for name, gid in primary if gid == entry.gr_gid}
        for name in sorted(members):
            try:
                uid = pwd.getpwnam(name).pw_uid
            except KeyError:
                continue
            why = refuse_account(name, uid, minimum_uid, slurm_user)
            if why is not None:
                findings.append(
                    Finding(
                        ERROR,
                        "group-member-refused",
                        f"{group}:{name}",
                        f"{name} is a member of {group}, whose members the hub may act as. " + why,
                    )
                )
    return findings


def addresses_of(name: str) -> set[str]:
    """The addresses ``name`` resolves to here (none if it does not resolve)."""
    try:
        return {info[4][0] for info in socket.getaddrinfo(name, None)}
    except (OSError, UnicodeError):
        return set()


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def check_hub_address(
    hub_url: str,
    nodes,
    node_address: str,
    resolve: Callable[[str], set[str]] = addresses_of,
    this_host: str | None = None,
) -> list[Finding]:
    """``hub_url``, where jobs call the hub, is a loopback address while some of
    ``nodes`` (as ``node_address`` names them) are other hosts: there, it is the
    node itself. A node whose name does not resolve here counts as another host."""
    host = urlsplit(hub_url).hostname or ""
    hub_addresses = {host} if _loopback(host) else resolve(host)
    if not hub_addresses or not all(_loopback(a) for a in hub_addresses):
        return []
    here = resolve(this_host if this_host is not None else socket.gethostname())
    elsewhere = []
    for node in sorted(nodes):
        found = resolve(node_address.format(node=node))
        if not found or not all(_loopback(a) or a in here for a in found):
            elsewhere.append(node)
    if not elsewhere:
        return []
    shown = ", ".join(elsewhere[:5]) + (
        f" and {len(elsewhere) - 5} more" if len(elsewhere) > 5 else ""
    )
    return [
        Finding(
            WARNING,
            "hub-address-loopback",
            "hub_connect_ip",
            f"jobs call the hub at {hub_url}, a loopback address, but nodes {shown} are "
            "other hosts, where it is the node itself: set c.JupyterHub.hub_connect_ip "
            "(or hub_connect_url) to an address of the hub that the nodes reach",
        )
    ]


def hub_certificate_names(trusted_alt_names, fqdn: str) -> set[str]:
    """The subject alternative names JupyterHub gives the certificate of its own API
    with ``internal_ssl`` (when it makes one): loopback, this host's fully qualified
    name, and ``trusted_alt_names``; lowercased, as ``IP:...`` and ``DNS:...``."""
    names = {"IP:127.0.0.1", "IP:::1", "DNS:localhost", f"DNS:{fqdn}", *trusted_alt_names}
    normalised = set()
    for name in names:
        kind, _, value = name.partition(":")
        if kind.upper() == "IP":
            try:
                value = str(ipaddress.ip_address(value))
            except ValueError:
                continue
        normalised.add(f"{kind.upper()}:{value.lower()}")
    return normalised


def check_hub_certificate(hub_url: str, internal_ssl: bool, names: set[str]) -> list[Finding]:
    """With ``internal_ssl``, jobs check the hub's certificate against the host in
    ``hub_url``: that host must be among ``names`` (:func:`hub_certificate_names`)."""
    if not internal_ssl:
        return []
    host = (urlsplit(hub_url).hostname or "").lower()
    try:
        wanted = f"IP:{ipaddress.ip_address(host)}"
    except ValueError:
        wanted = f"DNS:{host}"
    if wanted in names:
        return []
    return [
        Finding(
            ERROR,
            "hub-certificate-name",
            "trusted_alt_names",
            f"with internal_ssl, jobs call the hub at {hub_url} and check its certificate, "
            f"which does not name {host}: add {wanted!r} to c.JupyterHub.trusted_alt_names, "
            "and set c.JupyterHub.recreate_internal_certs = True once so that JupyterHub "
            "makes the certificate again",
        )
    ]
