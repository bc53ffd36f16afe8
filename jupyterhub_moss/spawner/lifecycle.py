"""MOSlurmSpawner: each user's Jupyter server as a Slurm batch job.

The contract with JupyterHub, as this spawner keeps it:

- ``start()`` checks the user's options (again: whatever path they came by),
  submits the job as the user, records its id in the server's state at once (a
  hub restarted meanwhile finds it), and returns ``(address, port)`` once the
  job's server has answered and Slurm has confirmed the port (see
  :mod:`jupyterhub_moss.web.ready`). It raises the error the user is shown when the
  job is refused, ends first, or does not start within ``start_timeout``; a job
  it gives up on is cancelled.
- ``poll()`` returns None while the job holds resources (pending, starting,
  running, ending) and an exit status once Slurm says it ended or no longer knows
  it; a Slurm that does not answer is never taken as an ended job. It reads the
  shared watcher's last answer, and asks Slurm itself only when there is none.
- ``stop()`` cancels the job as the user and waits up to ``stop_timeout`` for
  Slurm to say it ended; a cancellation Slurm refuses is tried again in the
  background.
- ``get_state()`` / ``load_state()`` / ``clear_state()`` keep the job's id, node,
  port and output paths, and the server's last launches (kept through a stop).
- With ``internal_ssl``, ``create_certs()`` names the chosen partition's nodes and
  ``move_certs()`` hands the files to the job through its batch script (:mod:`.tls`).

Every setting is declared in :mod:`.settings`. The spawner builds the objects that
do the work from them: the Slurm client (:meth:`MOSlurmSpawner.slurm_client`), the
user's facts (:meth:`~MOSlurmSpawner.facts`), the choice checker
(:meth:`~MOSlurmSpawner.choices`) and one job's handling
(:meth:`~MOSlurmSpawner.server_job`); the spawn form is :mod:`jupyterhub_moss.web.form`.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from contextlib import contextmanager

from jupyterhub.spawner import Spawner
from traitlets import Integer, List, Unicode, default

from ..choices.checker import UserChoices
from ..choices.facts import SlurmFacts
from ..choices.options import UserOptions
from ..choices.presets import merge_histories, record_launch
from ..choices.system_accounts import SystemAccount, home_folder, system_account
from ..errors import user_error
from ..metrics import SPAWNS, counted_spawn
from ..slurm.client import SlurmClient
from ..slurm.errors import JobError
from ..slurm.job import ServerJob
from ..slurm.sinfo import shared_sinfo_cache, sinfo_argv
from ..slurm.text import JOB_ID, USER_NAME
from ..slurm.watcher import GONE, shared_job_watcher
from ..web.estimate import estimated_start
from ..web.form import render_options_form
from ..web.spawn_links import LinkNeedsConfirmation
from . import state as jobstate
from .progress import SpawnProgress
from .request import batch_script
from .settings import MossSettings
from .tls import TLS_FILES, read_server_certs, server_alt_names

__all__ = ["MOSlurmSpawner"]


class MOSlurmSpawner(MossSettings, Spawner):
    """Start each user's Jupyter server as a Slurm batch job.

    Configure the partitions users may choose from with
    ``c.MOSlurmSpawner.partitions`` and call ``jupyterhub_moss.set_config(c)``.
    """

    # ------------------------------------------------------------------
    # The parts, built from the settings
    # ------------------------------------------------------------------

    def slurm_client(self) -> SlurmClient:
        """The client every Slurm command of this spawner runs through."""
        return SlurmClient(
            bin_dir=self.slurm_bin_dir,
            timeout=float(self.slurm_command_timeout),
            exec_prefix=tuple(self.exec_prefix),
        )

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

    def sinfo_cache(self):
        """The hub's shared ``sinfo`` cache (one per event loop)."""
        client = self.slurm_client().for_hub()
        argv = sinfo_argv(client.path("sinfo"))
        return shared_sinfo_cache(argv, self.sinfo_cache_ttl, client.timeout, client=client)

    def sinfo_snapshot(self):
        """The shared cache's latest ``sinfo`` answer (no call to Slurm)."""
        return self.sinfo_cache().current

    def facts(self) -> SlurmFacts:
        """What Slurm knows about this user, from the hub's shared caches."""
        return SlurmFacts(
            self.slurm_client(),
            self.slurm_username,
            accounting=self.slurm_accounting,
            accounts_ttl=self.accounts_cache_ttl,
            minimum_uid=self.minimum_uid,
            admin_directives=self.admin_directives(),
        )

    def choices(self) -> UserChoices:
        """The checker of this user's choices against the admin's partitions."""
        return UserChoices(
            self.configured_partitions(),
            self.facts(),
            self.sinfo_cache(),
            self.allowed_partition_names,
            sbatch_options=self.allowed_sbatch_options,
            user_environments=self.allow_user_environments,
        )

    async def allowed_partition_names(self) -> set[str] | None:
        """The names of the partitions ``user_partitions`` allows this user (None: all)."""
        if self.user_partitions is None:
            return None
        names = self.user_partitions
        if callable(names):
            names = names(self)
            if asyncio.iscoroutine(names):
                names = await names
        return {str(n) for n in names}

    async def load_account(self) -> SystemAccount | None:
        """The user's system account (None if there is none), looked up off the event
        loop and kept a while for the whole hub. Every async step that goes on to
        read the home (:meth:`home_folder`) calls it first."""
        return await system_account(self.slurm_username)

    def home_folder(self, required: bool = True) -> str | None:
        """The user's home folder on the hub's machine (see
        :func:`.system_accounts.home_folder`)."""
        return home_folder(self.slurm_username, required)

    # ------------------------------------------------------------------
    # Configuration
    # ------------------------------------------------------------------

    def _output_paths(self, job_id: str) -> list[str]:
        """Where job ``job_id``'s output may be, the likeliest first (empty: ask Slurm)."""
        if job_id == self.job_output_of and self.job_output_paths:
            return list(self.job_output_paths)
        return jobstate.spawner_output_paths(self, job_id, self.home_folder(required=False))

    def job_log_url(self) -> str:
        """The page of this server's job output."""
        hub_url = self.hub.base_url if self.hub else "/hub/"
        return jobstate.log_url(hub_url, self.user.name, self.name)

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

    async def _options_from_form(self, formdata):
        return await self.choices().options_from_form(formdata)

    async def options_from_query(self, query_data):
        """Options from a spawn link (see :meth:`.checker.UserChoices.options_from_query`)."""
        try:
            return await self.choices().options_from_query(
                query_data, getattr(self, "handler", None)
            )
        except LinkNeedsConfirmation:
            self.log.info(
                "A spawn link for %s came from outside the hub's pages: showing the form",
                self._log_name,
            )
            raise

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
    # The job's details, as the watcher last saw them (see jobstate.py).
    job_partition = Unicode(None, allow_none=True, help="The partition the job runs in.")
    job_cpus = Integer(None, allow_none=True, help="The CPUs the job holds.")
    job_gres = Unicode(None, allow_none=True, help="The job's TresPerNode (gres:gpu:1).")
    job_end = Unicode(None, allow_none=True, help="When the job ends at the latest (ISO).")
    # Where the last job's output is: kept after it ended.
    job_output_of = Unicode(None, allow_none=True, help="The job job_output_paths belong to.")
    job_output_paths = List(Unicode(), help="Where its output may be, the likeliest first.")
    # The last distinct launches, newest first, for "Start again": kept through a stop.
    moss_launches = List(help="This server's last launches (state, not configuration).")

    def record_launch(self, options: dict) -> None:
        """Remember a launch with these normalised options."""
        keep = max(0, int(self.start_again_presets))
        self.moss_launches = record_launch(self.moss_launches, options, time.time(), keep=keep)

    def load_state(self, state):
        super().load_state(state)
        launches = state.get("moss_launches")
        # Read back from the database: malformed entries are dropped.
        self.moss_launches = merge_histories([launches], keep=10) if launches else []
        self.job_output_of, self.job_output_paths = jobstate.output_from_state(state)
        job_id = state.get("job_id")
        if job_id and JOB_ID.match(str(job_id)):
            self.job_id = str(job_id)
            self.job_node = state.get("job_node")
            port = state.get("job_port")
            self.job_port = int(port) if isinstance(port, int) else None
            for key, value in jobstate.details_from_state(state).items():
                setattr(self, key, value)
            self._follow(self.job_id)

    def get_state(self):
        state = super().get_state()
        if self.job_id:
            self._note_job()
            state["job_id"] = self.job_id
            state["job_node"] = self.job_node
            state["job_port"] = self.job_port
            for key in jobstate.DETAIL_KEYS:
                if getattr(self, key) is not None:
                    state[key] = getattr(self, key)
        if self.job_output_of:
            state["job_output_of"] = self.job_output_of
            state["job_output"] = list(self.job_output_paths)
        if self.moss_launches:
            state["moss_launches"] = list(self.moss_launches)
        return state

    def job_status(self):
        """What the hub's job watcher last saw of this server's job (no Slurm call):
        a ``JobStatus``, ``GONE``, or None when unknown or there is no job."""
        if not self.job_id:
            return None
        try:
            return self._watcher().status(self.job_id, self.slurm_username)
        except RuntimeError:  # no event loop: nothing is being watched
            return None

    def _note_job(self) -> None:
        """Keep what the watcher last saw of the job (no Slurm call), and where its
        output goes."""
        status = self.job_status()
        for key, value in jobstate.details_from_status(status).items():
            setattr(self, key, value)
        if self.job_output_of != self.job_id:
            self.job_output_paths = self._output_paths(self.job_id)
            self.job_output_of = self.job_id

    def clear_state(self):
        launches = list(self.moss_launches)
        super().clear_state()
        self.moss_launches = launches  # about past launches: kept
        if self.job_id:
            self._watcher().forget(self.job_id, self.slurm_username)
        self.job_id = None
        self.job_node = None
        self.job_port = None
        for key in jobstate.DETAIL_KEYS:
            setattr(self, key, None)
        # job_output_of and job_output_paths stay: the last job's output is still readable.
        # JupyterHub clears the state as a spawn begins: the pending page of this
        # spawn must not show the messages of the last one.
        self._progress = None

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
            # The hub's one database session, which holds the orm_spawner too.
            session = getattr(getattr(self, "user", None), "db", None)
            if session is not None:
                session.commit()
        except Exception:
            self.log.exception("Could not save the job id of %s", self._log_name)

    # ------------------------------------------------------------------
    # Lifecycle
    # ------------------------------------------------------------------

    _starting = False
    _awaiting_server = False  # get_url() follows a job that started before a hub restart
    _progress: SpawnProgress | None = None
    server_certs: dict[str, str] | None = None  # internal_ssl: the files' text, for the job

    @property
    def spawn_progress(self) -> SpawnProgress:
        """The messages of the spawn under way (or of the last one)."""
        if self._progress is None:
            self._progress = SpawnProgress(self.log, self._log_name)
        return self._progress

    def _report(self, message: str, progress: int | None = None, html: str | None = None) -> None:
        self.spawn_progress.report(message, progress, html)

    def batch_script_for(
        self, options: UserOptions, partition, token: str = "", *, estimate: bool = False
    ) -> str:
        """The batch script that ``start()`` would submit for ``options`` (see
        :func:`.request.batch_script`)."""
        return batch_script(self, options, partition, token, estimate=estimate)

    def server_job(self) -> ServerJob:
        """The Slurm side of this server: submitting, following and cancelling its job."""
        return ServerJob(
            username=self.slurm_username,
            log_name=self._log_name,
            watcher=self._watcher(),
            client=self.slurm_client(),
            home=self.home_folder(required=False),
            report=self._report,
            port_range=self.server_port_range,
            output_paths=self._output_paths,
            log_url=self.job_log_url(),
        )

    def _record_job(self, job_id: str) -> None:
        """A job Slurm accepted: never forgotten, whatever happens next."""
        self.job_id = job_id
        self._save_state_now()
        self._follow(job_id, fast=True)

    def _follow(self, job_id: str, fast: bool = False) -> None:
        """Have the shared watcher follow this server's job (no Slurm call, and no
        account look-up: it runs in load_state and every poll)."""
        self._watcher().watch(
            job_id, owner=self.slurm_username, fast=fast, on_finished=self._job_finished
        )

    async def start(self):
        with counted_spawn() as counted:
            return await self._start(counted)

    async def _start(self, counted):
        started = time.monotonic()
        options_raw = self.user_options or {}
        self._starting = True
        self.job_id = None
        try:
            options, views = await self.choices().validated_options_and_views(options_raw)
            refusal = await self.facts().account_refusal()
            if refusal is not None:
                raise user_error(refusal, reason="account_refused", status_code=403)
            partition = views[options.partition]
            counted.partition = options.partition
            token = secrets.token_hex(8)
            script = self.batch_script_for(options, partition, token)
            job = self.server_job()
            job.estimated_start = estimated_start(self.slurm_username, options)
            job.partition = options.partition
            self._report("Submitting the job to Slurm", 10)
            # A task of its own, shielded from a cancelled start(): a job that
            # Slurm accepted is always recorded.
            self._submission = asyncio.ensure_future(job.submit(script, token, self._record_job))
            with _told_to_the_user():
                job_id = await asyncio.shield(self._submission)
                self.record_launch(options.to_user_options())
                self._report(f"Job {job_id} submitted to partition {options.partition}", 20)
                # Stop a little before JupyterHub's own timeout, to say why.
                deadline = started + max(self.start_timeout - 2, 1)
                node, port = await job.wait_for_server(
                    job_id, deadline, lambda: self.job_id == job_id, self.start_timeout
                )
        finally:
            self._starting = False
            if self.job_id:
                self._watcher().set_fast(self.job_id, False, self.slurm_username)
            self.spawn_progress.wake()
        self.job_node = node
        self.job_port = port
        self._report(f"Server running on {node}, port {port}", 100)
        return (self.node_address.format(node=node), port)

    async def create_certs(self):
        """internal_ssl: a certificate that names the chosen partition's nodes, as
        :func:`.tls.server_alt_names` says."""
        configured = self.ssl_alt_names
        if list(configured) != list(self.trusted_alt_names):
            return await super().create_certs()
        options = await self.choices().validated_options(self.user_options or {})
        info = (await self.facts().slurm_partitions() or {}).get(options.partition)
        if info is None or not info.nodes:
            self.log.warning(
                "internal_ssl: the nodes of partition %s are unknown, so the certificate of"
                " %s names none: set c.Spawner.ssl_alt_names",
                options.partition,
                self._log_name,
            )
        nodes = info.nodes if info else ()
        self.ssl_alt_names = server_alt_names(configured, configured, nodes, self.node_address)
        try:
            return await super().create_certs()
        finally:
            self.ssl_alt_names = configured

    async def move_certs(self, paths):
        """internal_ssl: the files travel in the batch script; the job writes them
        into a folder only the user can read, and sets the server's variables."""
        self.server_certs = read_server_certs(paths)
        return dict(TLS_FILES)

    async def server_reported(self, port: int) -> str | None:
        """The job's call (``{hub}/api/moss/ready``, see :mod:`.ready`): its server
        answers on ``port``. Accepted only while this server starts, for a port in
        ``server_port_range``, and once Slurm confirms it; None then, else why not."""
        low, high = self.server_port_range
        if not low <= port <= high:
            return f"port {port} is outside the servers' range {low}-{high}"
        if not ((self._starting or self._awaiting_server) and self.job_id):
            return "the server is not starting"
        return await self.server_job().confirm_server(self.job_id, port)

    async def progress(self):
        # JupyterHub's own flag covers the steps before start() too.
        def active() -> bool:
            return self._starting or getattr(self, "_spawn_pending", False)

        async for event in self.spawn_progress.follow(active):
            yield event

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
        self._follow(self.job_id)
        status = watcher.status(self.job_id, self.slurm_username)
        if status is None:
            # Nothing known yet (e.g. just after a hub restart): ask once.
            try:
                await watcher.refresh(timeout=self.slurm_command_timeout + 5)
            except asyncio.TimeoutError:
                pass
            status = watcher.status(self.job_id, self.slurm_username)
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
            job_id = self.job_id
            self.log.info("Job %s of %s is still starting; waiting for it", job_id, self._log_name)
            self._awaiting_server = True
            self._follow(job_id, fast=True)
            try:
                await self.load_account()
                node, port = await self.server_job().wait_for_server(
                    job_id,
                    time.monotonic() + self.start_timeout,
                    lambda: self.job_id == job_id,
                    self.start_timeout,
                )
            except Exception as e:
                self.log.warning("Job %s of %s did not start: %s", job_id, self._log_name, e)
            else:
                self.job_node, self.job_port = node, port
                self._save_state_now()
            finally:
                self._awaiting_server = False
                if self.job_id == job_id:
                    self._watcher().set_fast(job_id, False, self.slurm_username)
        if self.job_node and self.job_port:
            scheme = "https" if self.internal_ssl else "http"
            return f"{scheme}://{self.node_address.format(node=self.job_node)}:{self.job_port}"
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
        try:
            await self.load_account()  # scancel runs as the user, with their home
            with _told_to_the_user():
                await self.server_job().cancel_and_wait(job_id, self.stop_timeout)
        finally:
            self._stopping = False


@contextmanager
def _told_to_the_user():
    """Slurm's :class:`~jupyterhub_moss.slurm.errors.JobError`, as the error JupyterHub
    shows the user."""
    try:
        yield
    except JobError as e:
        raise user_error(
            e.message,
            reason=e.reason,
            status_code=e.status_code,
            log_message=e.log_message,
            html_message=e.html_message,
        ) from None


async def _apply_user_options(spawner, user_options):
    """Check user options however they arrived, before anything is submitted."""
    if not isinstance(spawner, MOSlurmSpawner):  # pragma: no cover - misconfiguration
        return
    try:
        await spawner.choices().validated_options(user_options or {})
    except Exception:
        SPAWNS.labels("", "refused").inc()
        raise
