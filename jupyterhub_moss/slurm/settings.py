"""How the spawner talks to Slurm: the settings for running its commands and
polling its jobs, and the hub-wide pollers built from them.

A mixin of :class:`~jupyterhub_moss.spawner.MOSlurmSpawner`: its traits are set
as ``c.MOSlurmSpawner.NAME`` like the spawner's own.
"""

from __future__ import annotations

import os
import re
import shlex

from traitlets import Float, Integer, List, TraitError, Tuple, Unicode, Union, validate
from traitlets.config import LoggingConfigurable

from ..errors import user_error
from .job import keeps_environment
from .sinfo import shared_sinfo_cache, sinfo_argv
from .watcher import shared_job_watcher

__all__ = ["SlurmSettings"]

_SAFE_USERNAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}\Z")


class SlurmSettings(LoggingConfigurable):
    """Settings and helpers for running Slurm commands, for the hub and as the user."""

    exec_prefix = Union(
        [List(Unicode()), Unicode()],
        default_value=["sudo", "-n", "-u", "{username}"],
        help="""
        Argument list put in front of ``sbatch``, ``scancel`` and ``tail`` so that they
        run as the user. ``{username}`` is replaced by the user's name. The hub must be
        allowed to run these commands as the users: ``jupyterhub-moss sudoers`` prints the
        rules a configuration needs (see the install page of the documentation).

        ``squeue`` and ``sinfo`` run as the hub's own user, once for all users.
        A string (batchspawner's form) is split like a shell command line. Example::

            c.MOSlurmSpawner.exec_prefix = ["sudo", "-n", "-u", "{username}"]
        """,
    ).tag(config=True)

    @validate("exec_prefix")
    def _validate_exec_prefix(self, proposal):
        value = proposal.value
        if isinstance(value, str):
            self.log.warning(
                "MOSlurmSpawner.exec_prefix is a string; give it as a list, e.g. %r",
                shlex.split(value),
            )
            value = shlex.split(value)
        if keeps_environment(value):
            self.log.warning(
                "MOSlurmSpawner.exec_prefix %r keeps the hub's environment for the commands "
                "it runs. The spawner gives sbatch and scancel an environment of their own, so "
                "no variable of the hub reaches a job; still, prefer one that resets it, "
                "such as sudo without -E.",
                value,
            )
        return list(value)

    server_port_range = Tuple(
        Integer(),
        Integer(),
        default_value=(32768, 60999),
        help="""
        The ports, lowest and highest, a job's server may listen on and the hub will
        route to. The job picks a free one in this range. A job reports its port
        through its comment, which its owner (and Slurm operators) can rewrite: a
        port outside the range is refused, so that no job can point the hub at one
        of the hub's own ports when the hub's host is also a compute node.
        The default is Linux's range of ephemeral ports. Example::

            c.MOSlurmSpawner.server_port_range = (40000, 49999)
        """,
    ).tag(config=True)

    @validate("server_port_range")
    def _validate_server_port_range(self, proposal):
        low, high = proposal.value
        if not 1024 <= low <= high <= 65535:
            raise TraitError(
                f"MOSlurmSpawner.server_port_range: {proposal.value!r} must be two ports "
                "(lowest, highest) from 1024 to 65535, the lowest first"
            )
        return (int(low), int(high))

    slurm_bin_dir = Unicode(
        "",
        help="""
        Folder holding the Slurm commands (``sbatch``, ``squeue``, ...). Empty (the
        default) looks them up on the hub's PATH, and on sudo's ``secure_path`` for
        the commands run through ``exec_prefix``. Example::

            c.MOSlurmSpawner.slurm_bin_dir = "/opt/slurm/bin"
        """,
    ).tag(config=True)

    slurm_command_timeout = Float(
        30.0,
        help="""
        Seconds a Slurm command may take before it is considered failed. A slow
        ``squeue`` never counts as a job having ended.
        """,
    ).tag(config=True)

    slurm_poll_interval = Float(
        30.0,
        help="""
        Seconds between two ``squeue`` calls while all jobs are running. One call
        serves every server of the hub. A job that ends (time limit, ``scancel``
        outside the hub) is noticed within this time, and JupyterHub is told at
        once. The default is JupyterHub's own ``poll_interval``.

        For example, ``c.MOSlurmSpawner.slurm_poll_interval = 10`` notices ended
        jobs sooner, at six calls a minute instead of two.
        """,
    ).tag(config=True)

    slurm_fast_poll_interval = Float(
        0.5,
        help="""
        Seconds before a job that starts or stops is asked about again, at first.
        Each later pause is as long as the job has been in its state, up to
        ``slurm_pending_poll_interval`` or ``slurm_start_poll_interval``: quick for
        the first seconds, slower after. The jobs due together share one call.
        """,
    ).tag(config=True)

    slurm_start_poll_interval = Float(
        15.0,
        help="""
        The longest pause, in seconds, between two looks at a job that runs while
        its server has not reported yet. A server reports by calling the hub as soon
        as it answers (``{hub}/api/moss/ready``), and its job is then looked at once:
        these looks are the fallback for a node that cannot reach the hub's API,
        whose server is then seen at most this long after it answered. Example::

            c.MOSlurmSpawner.slurm_start_poll_interval = 5
        """,
    ).tag(config=True)

    slurm_pending_poll_interval = Float(
        5.0,
        help="""
        The longest pause, in seconds, between two looks at a job that is pending
        (waiting for free nodes, behind other jobs) or stopping. Such a job may wait
        for hours, and the controller need not be asked twice a second meanwhile; a
        job that starts is seen within this time. Example::

            c.MOSlurmSpawner.slurm_pending_poll_interval = 10
        """,
    ).tag(config=True)

    sinfo_cache_ttl = Float(
        30.0,
        help="""
        Seconds a ``sinfo`` answer is reused for, by every spawner and page of the
        hub. The spawn page's resource table refreshes at this pace.
        """,
    ).tag(config=True)

    stop_timeout = Float(
        60.0,
        help="Seconds to wait, after ``scancel``, for Slurm to report the job ended.",
    ).tag(config=True)

    def _slurm(self, command: str) -> str:
        return os.path.join(self.slurm_bin_dir, command) if self.slurm_bin_dir else command

    def _watcher(self):
        return shared_job_watcher(
            self._slurm("squeue"),
            self._slurm("scontrol"),
            self.slurm_poll_interval,
            self.slurm_fast_poll_interval,
            self.slurm_command_timeout,
            self.slurm_start_poll_interval,
            self.slurm_pending_poll_interval,
        )

    def _sinfo_cache(self):
        return shared_sinfo_cache(
            sinfo_argv(self._slurm("sinfo")), self.sinfo_cache_ttl, self.slurm_command_timeout
        )

    def sinfo_snapshot(self):
        """The shared cache's latest ``sinfo`` answer (no call to Slurm)."""
        return self._sinfo_cache().current

    @property
    def _username(self) -> str:
        name = self.user.name
        if not _SAFE_USERNAME.match(name):
            raise user_error(
                f"The user name {name!r} cannot be used to submit Slurm jobs.",
                reason="invalid_username",
            )
        return name

    def _as_user(self, argv: list[str]) -> list[str]:
        prefix = [word.replace("{username}", self._username) for word in self.exec_prefix]
        return prefix + argv
