"""Every setting of :class:`~jupyterhub_moss.spawner.lifecycle.MOSlurmSpawner`, in
one class and in the order the configuration reference shows them: the partitions
and what users may choose, what Slurm lets each user choose, the job, reaching
Slurm, and the names kept from jupyterhub-moss 10.x and batchspawner.

Each is set as ``c.MOSlurmSpawner.NAME``. A bad value is refused here, when the
hub loads its configuration. What the spawner does with them lives in the objects
it builds from them: the Slurm client (:mod:`jupyterhub_moss.slurm.client`), the
user's facts (:mod:`jupyterhub_moss.choices.facts`) and the choice checker
(:mod:`jupyterhub_moss.choices.checker`).
"""

from __future__ import annotations

import json
import re
import shlex

from traitlets import (
    Any,
    Bool,
    Callable,
    CaselessStrEnum,
    Dict,
    Float,
    Integer,
    List,
    TraitError,
    Tuple,
    Unicode,
    Union,
    default,
    observe,
    validate,
)
from traitlets.config import LoggingConfigurable

from ..site.partitions import PartitionConfigError, validate_partitions
from ..site.sbatch_options import SbatchOptionError, check_allowed_options
from ..slurm.batch_script import default_template
from ..slurm.client import keeps_environment
from ..slurm.output import STATE_OUTPUT
from .peers import REFUSED, not_ours, peer_directives

__all__ = ["MossSettings"]


class MossSettings(LoggingConfigurable):
    """The settings of MOSlurmSpawner (``c.MOSlurmSpawner.NAME``)."""

    # -- the partitions, and what users may choose -------------------------------

    partitions = Dict(
        help="""
        The Slurm partitions users may choose from, by name.

        Each partition is a dict with these fields:

        - ``architecture`` (str): shown as a subtitle on the spawn page.
        - ``description`` (str): shown as the partition's title on the spawn page.
        - ``gpu`` (str or None): the ``--gres`` template for GPUs, with ``{}`` where
          the number goes, e.g. ``"gpu:V100:{}"``; None when the partition has no GPUs.
        - ``max_ngpus`` (int): most GPUs one job may ask for (0 without GPUs).
        - ``max_nprocs`` (int): most CPU cores one job may ask for.
        - ``max_runtime`` (int): longest run time in seconds.
        - ``simple`` (bool): also offer the partition on the Simple tab.
        - ``venv`` (str): the ``bin/`` folder, on the compute nodes, of the Python
          environment whose ``jupyterhub-singleuser`` runs the server.

        Limits left out are taken from what ``sinfo`` reports; limits set are
        lowered to what the cluster can give. Example::

            c.MOSlurmSpawner.partitions = {
                "cpu": {
                    "architecture": "x86_64",
                    "description": "General purpose nodes",
                    "gpu": None,
                    "max_ngpus": 0,
                    "max_nprocs": 28,
                    "max_runtime": 12 * 3600,
                    "simple": True,
                    "venv": "/opt/jupyter/bin/",
                },
            }
        """,
    ).tag(config=True)

    @validate("partitions")
    def _validate_partitions(self, proposal):
        try:
            self._keep_partitions(validate_partitions(proposal.value))
        except PartitionConfigError as e:
            raise TraitError(str(e)) from None
        return proposal.value

    user_partitions = Union(
        [Callable(), List(Unicode())],
        default_value=None,
        allow_none=True,
        help="""
        Which partitions a user may use: a list of names, or a callable taking the
        spawner and returning one (it may be async). Default: all of ``partitions``.

        Partitions not allowed are neither shown nor accepted. Example::

            def gpu_only_for_group(spawner):
                names = ["cpu", "long"]
                if "gpu-users" in [g.name for g in spawner.user.groups]:
                    names.append("gpu")
                return names

            c.MOSlurmSpawner.user_partitions = gpu_only_for_group
        """,
    ).tag(config=True)

    allow_user_environments = Bool(
        False,
        help="""
        Let users start their server from an environment of their own, as in
        jupyterhub-moss 10.x: the options ``environment_path`` (an absolute path to a
        ``bin/`` folder, or to a ``.sif`` image) and ``environment_modules`` (module
        names, space separated). Off by default: with it, a user's job runs
        whatever that folder holds (as the user). Example::

            c.MOSlurmSpawner.allow_user_environments = True
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

    start_again_presets = Integer(
        3,
        help="""
        How many of a user's last distinct launches the spawn page offers again, as
        one-click "Start again" links (each is checked like a new start, and shown
        disabled, with the reason, once it is no longer allowed). 0 turns them off.
        Example::

            c.MOSlurmSpawner.start_again_presets = 5
        """,
    ).tag(config=True)

    # -- what Slurm lets each user choose ----------------------------------------

    slurm_accounting = CaselessStrEnum(
        ["auto", "off"],
        default_value="auto",
        help="""
        Whether users choose their Slurm account and QOS on the spawn page. With
        ``"auto"`` (the default) the page offers them when the cluster keeps
        accounting in slurmdbd (``AccountingStorageType=accounting_storage/slurmdbd``),
        from the user's associations (``sacctmgr show assoc``), and a start with an
        account or QOS the associations do not allow is refused before ``sbatch``
        runs. ``"off"`` leaves accounts to Slurm's defaults and the admin's
        ``sbatch_directives``. Example::

            c.MOSlurmSpawner.slurm_accounting = "off"
        """,
    ).tag(config=True)

    accounts_cache_ttl = Float(
        300.0,
        help="""
        Seconds a user's associations and the QOS table are reused for, by every page
        view and start of the hub (``sacctmgr`` asks slurmdbd, about 0.3 s a call).
        A change made with ``sacctmgr`` shows on the spawn page after at most this
        long; Slurm enforces it at once. Example::

            c.MOSlurmSpawner.accounts_cache_ttl = 60
        """,
    ).tag(config=True)

    minimum_uid = Integer(
        1000,
        help="""
        The lowest Unix user id the hub starts servers for. Whatever this says, no
        job is ever submitted for root (uid 0) nor for the account Slurm runs as
        (``SlurmUser``); accounts under this id (system and service accounts) are
        refused too, with a message that says why. Example::

            c.MOSlurmSpawner.minimum_uid = 5000
        """,
    ).tag(config=True)

    # -- the job -----------------------------------------------------------------

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

    singularity_cmd = List(
        Unicode(),
        default_value=["singularity", "exec"],
        help="""
        The command that runs an environment whose ``path`` ends in ``.sif``
        (jupyterhub-moss 10.x's convention): the image and the server's command
        line follow it. An environment may name its own with ``image`` and
        ``runner``. Example::

            c.MOSlurmSpawner.singularity_cmd = ["apptainer", "exec", "--nv"]
        """,
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

    # -- reaching Slurm ----------------------------------------------------------

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

    # -- the names of jupyterhub-moss 10.x and batchspawner ----------------------

    slurm_info_cmd = Unicode(
        help="jupyterhub-moss 10.x's command for the resource table: ignored (one shared sinfo)."
    ).tag(config=True)

    slurm_info_resources = Any(
        help="jupyterhub-moss 10.x's parser of ``slurm_info_cmd``: ignored (one shared sinfo)."
    ).tag(config=True)

    req_prologue = Unicode(help="batchspawner's name for ``prologue``.").tag(config=True)
    req_epilogue = Unicode(help="batchspawner's name for ``epilogue``.").tag(config=True)

    @observe("req_prologue", "req_epilogue")
    def _batchspawner_names(self, change):
        setattr(self, change.name.removeprefix("req_"), change.new)

    req_account = Unicode(
        help="batchspawner's account for every job: becomes ``#SBATCH --account=...``."
    ).tag(config=True)
    req_qos = Unicode(help="batchspawner's QOS for every job: becomes ``#SBATCH --qos=...``.").tag(
        config=True
    )
    req_options = Unicode(
        help="""
        batchspawner's extra options for every job, such as ``"--constraint=ib
        --exclusive"``: each word becomes an ``#SBATCH`` line, as with
        ``sbatch_directives``.
        """
    ).tag(config=True)

    # batchspawner's settings with no meaning here: refused, naming the replacement.
    for _name in REFUSED:
        locals()[_name] = Any(help=f"Refused: use {REFUSED[_name]}.").tag(config=True)
    del _name

    @validate(*REFUSED)
    def _refused(self, proposal):
        raise TraitError(not_ours(proposal.trait.name))

    # -- what the settings stand for ---------------------------------------------

    _validated_partitions = None
    _partitions_fingerprint = ""

    def _keep_partitions(self, validated) -> None:
        self._validated_partitions = validated
        self._partitions_fingerprint = json.dumps(
            {name: p.model_dump() for name, p in validated.items()},
            sort_keys=True,
            default=repr,
        )

    def configured_partitions(self):
        """The admin's partitions, as validated when they were set."""
        if self._validated_partitions is None:  # never set: the default
            self._keep_partitions(validate_partitions(self.partitions))
        return self._validated_partitions

    def partitions_fingerprint(self) -> str:
        """A text that changes whenever the validated partitions do."""
        self.configured_partitions()
        return self._partitions_fingerprint

    def admin_directives(self) -> list[str]:
        """The admin's ``#SBATCH`` options for every job: ``sbatch_directives`` and
        those batchspawner's ``req_account``, ``req_qos`` and ``req_options`` stand for."""
        return [
            *self.sbatch_directives,
            *peer_directives(self.req_account, self.req_qos, self.req_options),
        ]
