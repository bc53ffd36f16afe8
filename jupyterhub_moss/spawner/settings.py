"""How the spawner talks to Slurm: the settings for running its commands and
polling its jobs, and the hub-wide pollers built from them.

A mixin of :class:`~jupyterhub_moss.spawner.lifecycle.MOSlurmSpawner`: its traits are set
as ``c.MOSlurmSpawner.NAME`` like the spawner's own.
"""

from __future__ import annotations

import re
import shlex

from traitlets import (
    Dict,
    Float,
    Integer,
    List,
    TraitError,
    Tuple,
    Unicode,
    Union,
    default,
    validate,
)
from traitlets.config import LoggingConfigurable

from ..errors import user_error
from ..site.sbatch_options import SbatchOptionError, check_allowed_options
from ..slurm.batch_script import default_template
from ..slurm.client import SlurmClient, keeps_environment
from ..slurm.output import STATE_OUTPUT
from ..slurm.sinfo import shared_sinfo_cache, sinfo_argv
from ..slurm.text import USER_NAME
from ..slurm.watcher import shared_job_watcher

__all__ = ["JobSettings", "SlurmSettings"]


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
        whose server is then seen at most this long after it answered. The first
        look comes 2 s after the job starts, or after this long once the hub has
        confirmed a server's call in the last hour. Example::

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

    def slurm_client(self) -> SlurmClient:
        """The client every Slurm command of this spawner runs through."""
        return SlurmClient(
            bin_dir=self.slurm_bin_dir,
            timeout=float(self.slurm_command_timeout),
            exec_prefix=tuple(self.exec_prefix),
        )

    def _watcher(self):
        client = self.slurm_client().for_hub()
        return shared_job_watcher(
            client.path("squeue"),
            client.path("scontrol"),
            self.slurm_poll_interval,
            self.slurm_fast_poll_interval,
            self.slurm_command_timeout,
            self.slurm_start_poll_interval,
            self.slurm_pending_poll_interval,
            client=client,
        )

    def _sinfo_cache(self):
        client = self.slurm_client().for_hub()
        argv = sinfo_argv(client.path("sinfo"))
        return shared_sinfo_cache(argv, self.sinfo_cache_ttl, client.timeout, client=client)

    def sinfo_snapshot(self):
        """The shared cache's latest ``sinfo`` answer (no call to Slurm)."""
        return self._sinfo_cache().current

    @property
    def slurm_username(self) -> str:
        """The user's name, as Slurm's commands are given it (checked for form)."""
        name = self.user.name
        if not USER_NAME.match(name):
            raise user_error(
                f"The user name {name!r} cannot be used to submit Slurm jobs.",
                reason="invalid_username",
            )
        return name


class JobSettings(LoggingConfigurable):
    """Settings of the job: its name, output and folder, what its batch script holds,
    and how the hub reaches its node."""

    job_name = Unicode(
        "jupyter-{username}{servername_suffix}",
        help="""
        Name of the Slurm job. ``{username}``, ``{servername}`` and
        ``{servername_suffix}`` (``-NAME`` for a named server, empty otherwise) are
        replaced; characters other than letters, digits and ``_.@-`` become ``_``.
        """,
    ).tag(config=True)

    job_output = Unicode(
        STATE_OUTPUT,
        help="""
        The job's output file, shown on ``{hub}/moss/log/USER/SERVER`` (linked from the
        home and pending pages) and, its last lines, when the server fails to start.
        The default keeps it out of the home folder's listing: the job writes to
        ``.jupyterhub_moss_%j.log`` in ``job_workdir`` first, then creates the folder
        (mode 0700), moves the file into it and deletes all but the newest
        ``job_output_keep`` outputs there; if it cannot, the output stays where it is.
        Any other value is ``sbatch --output``'s own (``%j`` job id, ``%u`` user;
        relative to ``job_workdir``; ``{home}`` and ``{username}`` replaced), and
        nothing is moved or deleted. Examples::

            c.MOSlurmSpawner.job_output = ".jupyter/slurm-%j.log"
            c.MOSlurmSpawner.job_output = "/scratch/{username}/jupyter-%j.log"
        """,
    ).tag(config=True)

    job_output_keep = Integer(
        5,
        help="""
        With the default ``job_output``: how many outputs of a user's jobs stay in
        ``~/.local/state/jupyterhub_moss``; each job deletes the older ones as it
        starts (the files named ``JOBID.log`` there). 0 keeps them all. Keep it at
        least as large as the number of servers a user may run at once. Example::

            c.MOSlurmSpawner.job_output_keep = 10
        """,
    ).tag(config=True)

    job_workdir = Unicode(
        "{home}",
        help="""
        The job's working folder (``sbatch --chdir``). ``{home}`` is the user's home
        folder and ``{username}`` the user's name.
        """,
    ).tag(config=True)

    sbatch_directives = List(
        Unicode(),
        help="""
        More ``#SBATCH`` options for every job, one per item. Example::

            c.MOSlurmSpawner.sbatch_directives = ["--account=jupyter", "--qos=interactive"]
        """,
    ).tag(config=True)

    allowed_sbatch_options = Dict(
        Unicode(),
        help="""
        Free-form ``sbatch`` options users may add (the ``options`` user option, a
        field of the Advanced tab), by their full option names, each with a regular
        expression its value must match in full. The expressions use RE2's syntax
        (no look-arounds or back-references) and are matched in time linear in the
        value; one RE2 cannot compile stops the hub. Empty (the default) turns the
        field off.

        Options the spawner sets itself, that ask for more than the partition's
        caps, or that change who or what runs, or when and where (``--partition``,
        ``--mem-per-cpu``, ``--uid``, ``--export``, ``--hold``, ...), are never
        accepted, nor any name that begins one of them (sbatch takes ``--part`` for
        ``--partition``); the list is in ``jupyterhub_moss/site/sbatch_options.py``.
        Values may only hold letters, digits and ``_.:,=/+@%~-``. Example::

            c.MOSlurmSpawner.allowed_sbatch_options = {
                "--constraint": r"[a-z0-9]+",
                "--qos": r"normal|high",
            }
        """,
    ).tag(config=True)

    @validate("allowed_sbatch_options")
    def _validate_allowed_sbatch_options(self, proposal):
        try:
            check_allowed_options(proposal.value)
        except SbatchOptionError as e:
            raise TraitError(f"MOSlurmSpawner.allowed_sbatch_options{e}") from None
        return proposal.value

    prologue = Unicode(
        "",
        help="""
        Shell lines the job runs before it starts the server, e.g. to load modules::

            c.MOSlurmSpawner.prologue = "module load cuda/12"
        """,
    ).tag(config=True)

    epilogue = Unicode(
        "",
        help="Shell lines the job runs after the server has stopped.",
    ).tag(config=True)

    batch_script = Unicode(
        help="""
        The Jinja2 template of the batch script. The default (in
        ``jupyterhub_moss/templates/batch_script.sh.j2``) is a good starting point;
        keep its ``sbatch_safe`` and ``shquote`` filters on every value.
        """,
    ).tag(config=True)

    @default("batch_script")
    def _default_batch_script(self):
        return default_template()

    @validate("batch_script")
    def _validate_batch_script(self, proposal):
        text = proposal.value
        if "{{" not in text and re.search(r"\{[a-z_]+\}", text):
            raise TraitError(
                "MOSlurmSpawner.batch_script looks like a batchspawner template ({name} "
                "fields); this spawner takes Jinja2 ({{ name }}). Start from "
                "jupyterhub_moss/templates/batch_script.sh.j2."
            )
        return text

    node_address = Unicode(
        "{node}",
        help="""
        The address the hub uses to reach a job's node; ``{node}`` is the node name
        Slurm reports. Example, for a separate network::

            c.MOSlurmSpawner.node_address = "{node}.ib.cluster"
        """,
    ).tag(config=True)
