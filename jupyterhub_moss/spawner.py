"""MOSlurmSpawner: each user's Jupyter server as a Slurm batch job.

This class holds the configuration and the start/poll/stop lifecycle. Parsing,
validation, script rendering and the shared Slurm pollers live in their own
modules (``options``, ``partitions``, ``slurm``, ``form``).
"""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import re
import secrets
import shlex
import time

from jupyterhub.spawner import Spawner
from sqlalchemy.orm import object_session
from tornado import web
from traitlets import (
    Callable,
    Dict,
    Float,
    Integer,
    List,
    TraitError,
    Unicode,
    Union,
    default,
    observe,
    validate,
)

from .errors import user_error
from .form import render_options_form
from .options import (
    OptionError,
    UserOptions,
    flatten_form,
    validate_options,
)
from .partitions import PartitionConfigError, merge_partitions, validate_partitions
from .sbatch_options import SbatchOptionError, check_allowed_options
from .slurm.cancels import ALREADY_GONE, shared_cancel_retries
from .slurm.reasons import describe_pending
from .slurm.runner import SlurmCommandError, run_command
from .slurm.script import (
    JobRequest,
    UnsafeValue,
    build_job_request,
    default_template,
    render_batch_script,
)
from .slurm.sinfo import shared_sinfo_cache, sinfo_argv
from .slurm.squeue import SUBMIT_COMMENT, new_marker, parse_squeue, squeue_user_argv
from .slurm.watcher import GONE, shared_job_watcher

__all__ = ["MOSlurmSpawner"]

_SAFE_USERNAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}\Z")
_JOB_ID = re.compile(r"^[0-9]+\Z")


class MOSlurmSpawner(Spawner):
    """Start each user's Jupyter server as a Slurm batch job.

    Configure the partitions users may choose from with
    ``c.MOSlurmSpawner.partitions`` and call ``jupyterhub_moss.set_config(c)``.
    """

    # ------------------------------------------------------------------
    # Configuration
    # ------------------------------------------------------------------

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

    exec_prefix = Union(
        [List(Unicode()), Unicode()],
        default_value=["sudo", "-n", "-u", "{username}"],
        help="""
        Argument list put in front of ``sbatch``, ``scancel`` and ``tail`` so that they
        run as the user. ``{username}`` is replaced by the user's name. The hub must be
        allowed to run these commands as the users (see the README's sudoers example).

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
        15.0,
        help="""
        Seconds between two ``squeue`` calls while all jobs are running. One call
        serves every server of the hub. A job that ends (time limit, ``scancel``
        outside the hub) is noticed within this time.
        """,
    ).tag(config=True)

    slurm_fast_poll_interval = Float(
        0.5,
        help="""
        Seconds between two ``squeue`` calls while any job is starting or stopping.
        Still one call for all jobs of the hub.
        """,
    ).tag(config=True)

    slurm_start_poll_interval = Float(
        0.2,
        help="""
        Seconds between two ``squeue`` calls while a job runs but its server has not
        reported its port yet (the few seconds the server takes to start). Still one
        call for all jobs of the hub.
        """,
    ).tag(config=True)

    slurm_pending_poll_interval = Float(
        5.0,
        help="""
        Seconds between two ``squeue`` calls once every starting job has been pending
        for ``slurm_pending_grace`` seconds (waiting for free nodes, behind other jobs):
        such a job may wait for hours, and the controller need not be asked twice a
        second meanwhile. A job that starts is then seen within this time.
        Set it to ``slurm_fast_poll_interval`` to keep the quick pace.
        """,
    ).tag(config=True)

    slurm_pending_grace = Float(
        30.0,
        help="""
        Seconds a job is followed at ``slurm_fast_poll_interval`` after it is first
        seen pending, before polls slow down to ``slurm_pending_poll_interval``. Most
        jobs on a partition with free nodes start well within it.
        """,
    ).tag(config=True)

    sinfo_cache_ttl = Float(
        30.0,
        help="""
        Seconds a ``sinfo`` answer is reused for, by every spawner and page of the
        hub. The spawn page's resource table refreshes at this pace.
        """,
    ).tag(config=True)

    job_name = Unicode(
        "jupyter-{username}{servername_suffix}",
        help="""
        Name of the Slurm job. ``{username}``, ``{servername}`` and
        ``{servername_suffix}`` (``-NAME`` for a named server, empty otherwise) are
        replaced; characters other than letters, digits and ``_.@-`` become ``_``.
        """,
    ).tag(config=True)

    job_output = Unicode(
        "jupyterhub_moss_%j.log",
        help="""
        The job's output file, as ``sbatch --output`` takes it (``%j`` is the job id),
        relative to ``job_workdir``. Its last lines are shown to the user when the
        server fails to start. Example::

            c.MOSlurmSpawner.job_output = ".jupyter/slurm-%j.log"
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
        field of the Advanced tab), by option name, each with a regular expression
        its value must match in full. Empty (the default) turns the field off.

        Options the spawner sets itself, or that change who or what runs
        (``--partition``, ``--uid``, ``--export``, ``--wrap``, ...), are never
        accepted. Values may only hold letters, digits and ``_.:,=/+@%~-``.
        Example::

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

    req_prologue = Unicode(help="batchspawner's name for ``prologue``.").tag(config=True)
    req_epilogue = Unicode(help="batchspawner's name for ``epilogue``.").tag(config=True)

    @observe("req_prologue", "req_epilogue")
    def _batchspawner_names(self, change):
        new_name = change.name.removeprefix("req_")
        self.log.warning(
            "MOSlurmSpawner.%s is batchspawner's name; use MOSlurmSpawner.%s", change.name, new_name
        )
        setattr(self, new_name, change.new)

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

    stop_timeout = Float(
        60.0,
        help="Seconds to wait, after ``scancel``, for Slurm to report the job ended.",
    ).tag(config=True)

    @default("ip")
    def _default_ip(self):
        # The hub connects from another machine: listen on every interface.
        return "0.0.0.0"  # noqa: S104

    @default("start_timeout")
    def _default_start_timeout(self):
        # Queues take time; the pending page keeps the user informed meanwhile.
        return 300

    @default("options_form")
    def _default_options_form(self):
        return render_options_form

    @default("options_from_form")
    def _default_options_from_form(self):
        return self._options_from_form

    @default("apply_user_options")
    def _default_apply_user_options(self):
        # JupyterHub >= 5.3 runs this before start() on every path (form, query,
        # REST), and turns the HTTPError raised on a bad value into a 400.
        return _apply_user_options

    # ------------------------------------------------------------------
    # State
    # ------------------------------------------------------------------

    job_id = Unicode(None, allow_none=True, help="The Slurm job id of the running server.")
    job_node = Unicode(None, allow_none=True, help="The node the job runs on.")
    job_port = Integer(None, allow_none=True, help="The port the server listens on.")

    def load_state(self, state):
        super().load_state(state)
        job_id = state.get("job_id")
        if job_id and _JOB_ID.match(str(job_id)):
            self.job_id = str(job_id)
            self.job_node = state.get("job_node")
            port = state.get("job_port")
            self.job_port = int(port) if isinstance(port, int) else None
            self._watcher().watch(self.job_id, on_finished=self._job_finished)

    def get_state(self):
        state = super().get_state()
        if self.job_id:
            state["job_id"] = self.job_id
            state["job_node"] = self.job_node
            state["job_port"] = self.job_port
        return state

    def clear_state(self):
        super().clear_state()
        if self.job_id:
            self._watcher().forget(self.job_id)
        self.job_id = None
        self.job_node = None
        self.job_port = None
        # JupyterHub clears the state as a spawn begins: the pending page of this
        # spawn must not show the messages of the last one.
        self._progress_events = []

    def _save_state_now(self):
        """Write the state to the hub's database right away.

        JupyterHub stores a spawner's state only once ``start()`` returns; a job
        submitted before a hub restart must not be forgotten meanwhile.
        """
        orm_spawner = getattr(self, "orm_spawner", None)
        if orm_spawner is None:
            return
        try:
            orm_spawner.state = self.get_state()
            session = object_session(orm_spawner)
            if session is not None:
                session.commit()
        except Exception:
            self.log.exception("Could not save the job id of %s", self._log_name)

    # ------------------------------------------------------------------
    # Slurm plumbing
    # ------------------------------------------------------------------

    def _slurm(self, command: str) -> str:
        return os.path.join(self.slurm_bin_dir, command) if self.slurm_bin_dir else command

    def _watcher(self):
        return shared_job_watcher(
            self._slurm("squeue"),
            self.slurm_poll_interval,
            self.slurm_fast_poll_interval,
            self.slurm_command_timeout,
            self.slurm_start_poll_interval,
            self.slurm_pending_poll_interval,
            self.slurm_pending_grace,
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

    async def partition_views(self):
        """The partitions this user may use, merged with the shared ``sinfo`` cache."""
        partitions = self.configured_partitions()
        allowed = await self._allowed_partitions()
        if allowed is not None:
            partitions = {n: p for n, p in partitions.items() if n in allowed}
        snapshot = await self._sinfo_cache().get()
        resources = snapshot.partitions if (snapshot.ok or snapshot.partitions) else None
        return merge_partitions(partitions, resources, snapshot.error)

    async def _allowed_partitions(self) -> set[str] | None:
        if self.user_partitions is None:
            return None
        if callable(self.user_partitions):
            names = self.user_partitions(self)
            if asyncio.iscoroutine(names):
                names = await names
        else:
            names = self.user_partitions
        return {str(n) for n in names}

    async def validated_options(self, raw) -> UserOptions:
        """``raw`` user options checked against this user's partitions.

        Raises an HTTP 400 error naming the field on a refused value.
        """
        views = await self.partition_views()
        try:
            return validate_options(raw, views, sbatch_options=self.allowed_sbatch_options)
        except OptionError as e:
            raise user_error(str(e), reason="invalid_options") from None

    async def _options_from_form(self, formdata):
        try:
            raw = flatten_form(formdata)
        except OptionError as e:
            raise user_error(str(e), reason="invalid_options") from None
        options = await self.validated_options(raw)
        return options.to_user_options()

    def options_from_query(self, query_data):
        """Options from ``/hub/spawn?...``: the same fields and checks as the form.

        JupyterHub 6 strips the ``opt-`` prefix of query options itself; JupyterHub 5
        does not, so the same link works with both, the prefix is handled here too
        (when some names carry it, only those count, as in JupyterHub 6).
        """
        if any(key.startswith("opt-") for key in query_data):
            query_data = {
                key[len("opt-") :]: value
                for key, value in query_data.items()
                if key.startswith("opt-")
            }
        return self._options_from_form(query_data)

    # ------------------------------------------------------------------
    # Lifecycle
    # ------------------------------------------------------------------

    _starting = False
    _progress_events: list
    _progress_changed: asyncio.Event | None = None

    def _report(self, message: str, progress: int | None = None) -> None:
        if not hasattr(self, "_progress_events"):
            self._progress_events = []
        if self._progress_changed is None:
            self._progress_changed = asyncio.Event()
        if self._progress_events and self._progress_events[-1]["message"] == message:
            return
        event = {"message": message}
        if progress is not None:
            event["progress"] = progress
        self._progress_events.append(event)
        self.log.info("%s: %s", self._log_name, message)
        if self._progress_changed is not None:
            self._progress_changed.set()

    def _job_request(self, options: UserOptions, partition, token: str = "") -> JobRequest:
        try:
            home = pwd.getpwnam(self._username).pw_dir
        except KeyError:
            raise user_error(
                f"There is no system account named {self._username!r} on the hub machine, "
                "so no Slurm job can be submitted for it.",
                reason="no_account",
            ) from None
        return build_job_request(
            options,
            partition.gpu,
            username=self._username,
            servername=self.name,
            home=home,
            job_name=self.job_name,
            job_output=self.job_output,
            job_workdir=self.job_workdir,
            comment=f"{SUBMIT_COMMENT}{token}" if token else None,
        )

    def _job_env(self, options: UserOptions) -> dict[str, str]:
        env = {k: v for k, v in self.get_env().items() if re.match(r"^[A-Za-z_][A-Za-z0-9_]*\Z", k)}
        # Set by the job itself once it has chosen a port.
        env.pop("JUPYTERHUB_SERVICE_URL", None)
        if options.default_url:
            env["JUPYTERHUB_DEFAULT_URL"] = options.default_url
        if options.root_dir:
            env["JUPYTERHUB_ROOT_DIR"] = options.root_dir
        return env

    def _job_command(self, venv: str) -> list[str]:
        cmd = list(self.cmd or ["jupyterhub-singleuser"])
        if "/" not in cmd[0]:
            # JupyterHub >= 5.2 passes no PATH: start the partition's own server.
            cmd[0] = os.path.join(venv, cmd[0])
        # Fail, rather than move to another port than the one reported to the hub.
        return cmd + ["--ServerApp.port_retries=0"] + list(self.get_args())

    def batch_script_for(self, options: UserOptions, partition, token: str = "") -> str:
        """The batch script that ``start()`` would submit for ``options``.

        ``token`` marks the job (in its comment) until its server reports its port.
        """
        try:
            return render_batch_script(
                self._job_request(options, partition, token),
                env=self._job_env(options),
                venv=partition.venv,
                cmd=self._job_command(partition.venv.rstrip("/")),
                service_path=self.server.base_url if self.server else "/",
                ip=self.ip,
                port=self.port or 0,
                prologue=self.prologue,
                epilogue=self.epilogue,
                extra_directives=self.sbatch_directives,
                template=self.batch_script,
            )
        except UnsafeValue as e:
            raise user_error(
                f"A value cannot be used in the batch script: {e}", reason="invalid_options"
            ) from None

    async def _submit(self, script: str, token: str) -> str:
        """Submit the script as the user, record the job id at once, and return it.

        Runs as a task of its own, shielded from a cancelled start(): a job that
        Slurm accepted is always recorded. If sbatch does not answer in time, the job
        it may have submitted is looked up by its comment and cancelled.
        """
        argv = self._as_user([self._slurm("sbatch"), "--parsable"])
        try:
            result = await run_command(argv, input=script, timeout=self.slurm_command_timeout)
        except SlurmCommandError as e:
            self.log.error("sbatch failed for %s: %s", self._log_name, e)
            if e.timed_out:
                await self._cancel_unrecorded(token)
                message = "Slurm did not answer the job submission in time; please try again."
            else:
                message = f"Slurm refused the job: {e.reason}"
            raise user_error(message, reason="sbatch_failed", log_message=str(e)) from None
        job_id = result.stdout.strip().split(";", 1)[0]
        if not _JOB_ID.match(job_id):
            await self._cancel_unrecorded(token)
            raise user_error(
                "Slurm did not return a job id for the submission.",
                reason="sbatch_failed",
                log_message=f"sbatch printed {result.stdout[:200]!r}",
            )
        self.job_id = job_id
        self._save_state_now()
        self._watcher().watch(job_id, fast=True, on_finished=self._job_finished)
        return job_id

    async def _cancel_unrecorded(self, token: str) -> None:
        """Cancel the user's job submitted with ``token`` whose id sbatch did not give."""
        marker = new_marker()
        argv = squeue_user_argv(self._username, marker, self._slurm("squeue"))
        comment = f"{SUBMIT_COMMENT}{token}"
        try:
            result = await run_command(argv, timeout=self.slurm_command_timeout)
            jobs = parse_squeue(result.stdout, marker)
        except (SlurmCommandError, ValueError) as e:
            self.log.error(
                "Could not look for a job of %s submitted with comment %s, which may be left "
                "in Slurm: %s",
                self._log_name,
                comment,
                e,
            )
            return
        for job_id, status in jobs.items():
            if status.comment == comment:
                self.log.warning(
                    "Cancelling job %s of %s, submitted unrecorded", job_id, self._log_name
                )
                try:
                    await self._cancel(job_id)
                except web.HTTPError as e:
                    self.log.error("Could not cancel job %s: %s", job_id, e)

    async def start(self):
        started = time.monotonic()
        options_raw = self.user_options or {}
        self._starting = True
        self._progress_changed = asyncio.Event()
        self.job_id = None
        try:
            options = await self.validated_options(options_raw)
            views = await self.partition_views()
            partition = views[options.partition]
            token = secrets.token_hex(8)
            script = self.batch_script_for(options, partition, token)
            self._report("Submitting the job to Slurm", 10)
            self._submission = asyncio.ensure_future(self._submit(script, token))
            job_id = await asyncio.shield(self._submission)
            self._report(f"Job {job_id} submitted to partition {options.partition}", 20)
            # Stop a little before JupyterHub's own timeout, to say why.
            deadline = started + max(self.start_timeout - 2, 1)
            node, port = await self._wait_for_server(job_id, deadline)
        finally:
            self._starting = False
            if self.job_id:
                self._watcher().set_fast(self.job_id, False)
            if self._progress_changed is not None:
                self._progress_changed.set()
        self.job_node = node
        self.job_port = port
        self._report(f"Server running on {node}, port {port}", 100)
        return (self.node_address.format(node=node), port)

    async def _wait_for_server(self, job_id: str, deadline: float) -> tuple[str, int]:
        """Follow the job until its server has reported its port.

        Raises a user-facing error when the job ends first, when it is no longer this
        spawner's job, or at ``deadline`` (a ``time.monotonic()`` value).
        """
        watcher = self._watcher()
        unreachable_since = None
        status = None
        while True:
            if self.job_id != job_id or job_id not in watcher.watched:
                raise user_error(f"Job {job_id} is no longer followed.", reason="job_forgotten")
            # No later than the deadline, even at the slower pace of a long-pending job.
            timeout = min(watcher.refresh_timeout, max(deadline - time.monotonic(), 0) + 0.5)
            ok = await watcher.refresh(timeout=timeout, job_id=job_id)
            if not ok and watcher.last_error is None and time.monotonic() > deadline:
                pass  # the deadline came before the next poll: said below
            elif not ok:
                if unreachable_since is None:
                    unreachable_since = time.monotonic()
                self._report(
                    f"The Slurm scheduler is not answering ({watcher.last_error}); still trying"
                )
            else:
                unreachable_since = None
                status = watcher.status(job_id)
                if status is GONE and not watcher.was_seen(job_id):
                    raise user_error(
                        f"Slurm accepted job {job_id} but does not list it to the hub. "
                        "Please tell the administrators (is PrivateData=jobs set for the "
                        "hub's account?).",
                        reason="job_hidden",
                        status_code=500,
                    )
                if status is GONE or (status is not None and status.finished):
                    raise await self._job_failed(job_id, status)
                if status is not None and status.waiting:
                    self._report(describe_pending(status.reason, status.start_time), 30)
                elif status is not None and status.running:
                    if status.port and status.node:
                        return status.node, status.port
                    self._report(f"Job {job_id} running on {status.node}: starting Jupyter", 60)
                elif status is not None:
                    self._report(f"Job {job_id} is {status.state.lower()}", 40)
            if time.monotonic() > deadline:
                raise self._start_timed_out(job_id, status, unreachable_since)

    def _start_timed_out(self, job_id, status, unreachable_since):
        waited = int(self.start_timeout)
        if unreachable_since is not None:
            message = (
                f"The Slurm scheduler was unreachable for the last "
                f"{int(time.monotonic() - unreachable_since)} s, so job {job_id} could not be "
                f"followed; it will be cancelled. Please try again later."
            )
        elif status is not None and status.waiting:
            message = (
                f"Job {job_id} was still queued after {waited} s "
                f"({describe_pending(status.reason, status.start_time)}) and has been cancelled. "
                "Try a partition with free resources, fewer cores or a shorter run time."
            )
        else:
            message = (
                f"The server of job {job_id} did not start within {waited} s; "
                "the job has been cancelled."
            )
        return user_error(message, reason="timeout", status_code=500)

    async def _job_failed(self, job_id, status):
        """The error for a job that ended before its server came up."""
        state = "ended" if status is GONE else f"ended ({status.state})"
        tail, exit_code = await self._job_output_tail(job_id)
        message = f"Job {job_id} {state} before the server started"
        if exit_code:
            message += f", exit code {exit_code}"
        message += "."
        if tail:
            message += "\nLast lines of the job's output:\n" + tail
        return user_error(message, reason="job_ended", status_code=500)

    async def _job_output_tail(self, job_id: str, lines: int = 20) -> tuple[str, str | None]:
        """The last lines of the job's output file, read as the user."""
        try:
            result = await run_command(
                [self._slurm("scontrol"), "show", "job", job_id, "--oneliner"],
                timeout=self.slurm_command_timeout,
            )
        except SlurmCommandError as e:
            self.log.warning("Could not look up job %s: %s", job_id, e)
            return "", None
        fields = dict(re.findall(r"(\w+)=(\S*)", result.stdout))
        path = fields.get("StdOut")
        exit_code = fields.get("ExitCode")
        if not path or not path.startswith("/"):
            return "", exit_code
        try:
            tail = await run_command(
                self._as_user(["tail", "-n", str(lines), path]), timeout=10, check=True
            )
        except SlurmCommandError as e:
            self.log.warning("Could not read the output of job %s: %s", job_id, e)
            return "", exit_code
        text = tail.stdout.strip()
        return text[-4000:], exit_code

    async def progress(self):
        seen = 0
        while True:
            events = getattr(self, "_progress_events", [])
            while seen < len(events):
                yield events[seen]
                seen += 1
            # JupyterHub's own flag covers the steps before start() too.
            if not (self._starting or getattr(self, "_spawn_pending", False)):
                return
            changed = self._progress_changed
            if changed is None:
                changed = self._progress_changed = asyncio.Event()
            changed.clear()
            try:
                await asyncio.wait_for(changed.wait(), 5)
            except asyncio.TimeoutError:
                pass

    def _job_finished(self, status):
        """The watcher saw our job end: tell JupyterHub now, not at its next poll."""
        if self._starting or getattr(self, "_stopping", False):
            return None
        self.log.info(
            "Job %s of %s ended (%s)", self.job_id, self._log_name, getattr(status, "state", "?")
        )
        return self.poll_and_notify()

    async def poll(self):
        if not self.job_id:
            return 0
        if self._starting:
            return None
        watcher = self._watcher()
        watcher.watch(self.job_id, on_finished=self._job_finished)
        status = watcher.status(self.job_id)
        if status is None:
            # Nothing known yet (e.g. just after a hub restart): ask once.
            try:
                await watcher.refresh(timeout=self.slurm_command_timeout + 5)
            except asyncio.TimeoutError:
                pass
            status = watcher.status(self.job_id)
        if status is None:
            # Slurm is not answering: never take that as the job being gone.
            return None
        if status is GONE:
            return 0
        if status.finished:
            return 0 if status.state == "COMPLETED" else 1
        if status.running and status.port and self.job_node and self.job_port:
            if (status.node, status.port) != (self.job_node, self.job_port):
                # Not where the hub sends users any more (the job was restarted elsewhere).
                self.log.warning(
                    "Job %s of %s now reports %s:%s instead of %s:%s; treating it as ended",
                    self.job_id,
                    self._log_name,
                    status.node,
                    status.port,
                    self.job_node,
                    self.job_port,
                )
                return 1
        # Pending, starting, running or ending: the job holds resources, so it counts
        # as running. JupyterHub then calls stop() to end it, which cancels the job.
        return None

    async def get_url(self):
        """The server's URL; after a hub restart, waits for a job that was still starting.

        JupyterHub asks for it when it finds a server it had not seen ready. A job
        that gets its server up within ``start_timeout`` is followed to it; one that
        does not is left to JupyterHub, which then stops it (and so cancels the job).
        """
        if self.job_id and not (self.job_node and self.job_port) and not self._starting:
            self.log.info(
                "Job %s of %s is still starting; waiting for it", self.job_id, self._log_name
            )
            try:
                node, port = await self._wait_for_server(
                    self.job_id, time.monotonic() + self.start_timeout
                )
            except Exception as e:
                self.log.warning("Job %s of %s did not start: %s", self.job_id, self._log_name, e)
            else:
                self.job_node, self.job_port = node, port
                self._save_state_now()
        if self.job_node and self.job_port:
            return f"http://{self.node_address.format(node=self.job_node)}:{self.job_port}"
        return await super().get_url()

    async def stop(self, now=False):
        submission = getattr(self, "_submission", None)
        if submission is not None and not submission.done():
            # A submission under way (start() was cancelled): let it record its job.
            try:
                await asyncio.wait_for(asyncio.shield(submission), self.slurm_command_timeout + 5)
            except Exception:  # noqa: S110 - its own errors are logged where they happen
                pass
        job_id = self.job_id
        if not job_id:
            return
        self._stopping = True
        watcher = self._watcher()
        watcher.watch(job_id, fast=True)
        try:
            await self._cancel(job_id)
            deadline = time.monotonic() + self.stop_timeout
            while time.monotonic() < deadline:
                if await watcher.refresh():
                    status = watcher.status(job_id)
                    if status is GONE or (status is not None and status.finished):
                        self.log.info("Job %s of %s has ended", job_id, self._log_name)
                        return
            self.log.warning(
                "Job %s of %s was cancelled but Slurm still lists it after %i s",
                job_id,
                self._log_name,
                self.stop_timeout,
            )
        finally:
            self._stopping = False
            watcher.set_fast(job_id, False)

    async def _cancel(self, job_id: str) -> None:
        argv = self._as_user([self._slurm("scancel"), job_id])
        error = None
        for attempt in range(3):
            try:
                await run_command(argv, timeout=self.slurm_command_timeout)
                return
            except SlurmCommandError as e:
                if any(text in e.stderr for text in ALREADY_GONE):
                    return
                error = e
                self.log.warning("scancel %s failed (attempt %i): %s", job_id, attempt + 1, e)
                await asyncio.sleep(1 + 2 * attempt)
        # JupyterHub forgets the server even so: keep trying in the background.
        shared_cancel_retries().add(job_id, argv)
        raise user_error(
            f"Could not cancel Slurm job {job_id}: {error.reason}",
            reason="scancel_failed",
            status_code=500,
            log_message=str(error),
        )


async def _apply_user_options(spawner, user_options):
    """Check user options however they arrived, before anything is submitted."""
    if not isinstance(spawner, MOSlurmSpawner):  # pragma: no cover - misconfiguration
        return
    await spawner.validated_options(user_options or {})
