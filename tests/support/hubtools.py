"""Driving a real JupyterHub on the local Slurm cluster from the tests."""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import textwrap
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

DEV_ROOT = Path(os.environ.get("MOSS_DEV_ROOT", "/opt/moss-dev"))
HUB_VENV = Path(os.environ.get("MOSS_HUB_VENV", DEV_ROOT / "jh6"))
PASSWORD = "moss-test-password"
SERVICE_TOKEN = secrets.token_hex(16)
TEST_USERS = [f"moss{i:02d}" for i in range(1, 17)]

#: The seed's three partitions on the local cluster, and one under an hour.
PARTITIONS = {
    "cpu": {
        "architecture": "x86_86",
        "description": "Partition 1",
        "gpu": None,
        "max_ngpus": 0,
        "max_nprocs": 28,
        "max_runtime": 12 * 3600,
        "simple": True,
        "venv": str(HUB_VENV / "bin") + "/",
    },
    "gpu": {
        "architecture": "ppc64le",
        "description": "Partition 2",
        "gpu": "gpu:V100-SXM2-32GB:{}",
        "max_ngpus": 2,
        "max_nprocs": 128,
        "max_runtime": 1 * 3600,
        "simple": True,
        "venv": str(HUB_VENV / "bin") + "/",
    },
    "long": {
        "architecture": "x86_86",
        "description": "Partition 3",
        "gpu": None,
        "max_ngpus": 0,
        "max_nprocs": 28,
        "max_runtime": 12 * 3600,
        "simple": False,
        "venv": str(HUB_VENV / "bin") + "/",
    },
}


#: dev/cluster-up.sh's partition of three GPU types (node3, node5), the type chosen.
GPUMIX_PARTITION = {
    **PARTITIONS["gpu"],
    "description": "Mixed GPUs",
    "gpu": "gpu:{type}:{}",
    "max_ngpus": 3,
    "max_nprocs": 32,
    "max_runtime": 2 * 3600,
}


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A free port, never one this process handed out before: the kernel may give
    the same port to two binds in a row once the first socket is closed (a hub
    then found its own proxy on its port)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def state_folder(user: str) -> Path:
    """Where the job output of USER's servers ends up by default."""
    return Path(pwd.getpwnam(user).pw_dir) / ".local/state/jupyterhub_moss"


def make_user_folder(user: str, folder: Path, mode: int = 0o700) -> Path:
    """Make FOLDER, below USER's home, as USER would: it and every folder made on the
    way belong to USER. (``mkdir(parents=True)`` as root leaves the parents root's,
    and on a fresh home every later server of USER then fails on ``~/.local``.)"""
    account = pwd.getpwnam(user)
    home = Path(account.pw_dir)
    relative = Path(folder).relative_to(home)
    path = home
    for part in relative.parts:
        path = path / part
        if not path.is_dir():
            path.mkdir()
            os.chown(path, account.pw_uid, account.pw_gid)
    path.chmod(mode)
    return path


def foreign_paths_in_home(user: str) -> list[str]:
    """Every path in USER's home (the home included) that USER does not own."""
    account = pwd.getpwnam(user)
    home = Path(account.pw_dir)
    if not home.exists():
        return []
    foreign = []
    for path in [home, *home.rglob("*")]:
        try:
            owner = path.lstat().st_uid
        except FileNotFoundError:  # gone while we looked (a job still cleaning up)
            continue
        if owner != account.pw_uid:
            foreign.append(f"{path} (uid {owner})")
    return foreign


def slurm(*argv: str, check: bool = True) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=60).stdout


def job_info(job_id: str) -> dict[str, str]:
    """``scontrol show job`` fields of a job."""
    out = slurm("scontrol", "show", "job", str(job_id), "--oneliner")
    return dict(re.findall(r"(\w+)=(\S*)", out))


def job_output_path(job_id: str) -> Path:
    """Where a job's output is now: in its owner's state folder once the job has moved
    it there (the default ``job_output``), else where Slurm put it (``StdOut``)."""
    info = job_info(job_id)
    owner = info["UserId"].split("(", 1)[0]
    moved = Path(pwd.getpwnam(owner).pw_dir) / ".local/state/jupyterhub_moss" / f"{job_id}.log"
    return moved if moved.exists() else Path(info["StdOut"])


def job_output(job_id: str, until: str | None = None, timeout: float = 15) -> str:
    """The text of a job's output (see :func:`job_output_path`); with ``until``,
    once it holds that text or ``timeout`` has passed. (A job tells the hub its
    server is up before it writes so: a test that reads the output as soon as the
    hub says ready must wait for the line.)"""
    deadline = time.time() + timeout
    while True:
        text = job_output_path(job_id).read_text(errors="replace")
        if until is None or until in text or time.time() > deadline:
            return text
        time.sleep(0.2)


def ended_job_info(job_id: str, timeout: float = 30) -> dict[str, str]:
    """``scontrol show job`` fields of a job once it has ended: neither queued,
    running, nor COMPLETING (cancelled or done, its processes on their way out)."""
    deadline = time.time() + timeout
    info = job_info(job_id)
    while info["JobState"] in ("PENDING", "CONFIGURING", "RUNNING", "COMPLETING"):
        if time.time() > deadline:
            break
        time.sleep(0.3)
        info = job_info(job_id)
    return info


def active_jobs(user: str) -> list[str]:
    """Ids of the user's jobs that are pending or running."""
    out = slurm("squeue", "-h", "-u", user, "-t", "PENDING,RUNNING,CONFIGURING", "-o", "%i")
    return out.split()


@contextmanager
def node4_reservation(user: str, prefix: str = "moss-test"):
    """A reservation of node4 (partitions long and debug) for ``user`` alone, from
    now on for 10 minutes (created even if a job runs there); deleted afterwards."""
    name = f"{prefix}-{secrets.token_hex(3)}"
    slurm(
        "scontrol", "create", "reservation", f"ReservationName={name}", f"Users={user}",
        "Nodes=node4", "StartTime=now", "Duration=10", "Flags=IGNORE_JOBS",
    )  # fmt: skip
    try:
        yield name
    finally:
        # A job that is still ending keeps the reservation busy for a moment.
        deadline = time.time() + 30
        while True:
            done = subprocess.run(
                ["scontrol", "delete", f"ReservationName={name}"], capture_output=True, text=True
            )
            if done.returncode == 0 or time.time() > deadline:
                break
            slurm("scancel", "-u", user, check=False)
            time.sleep(1)
        assert done.returncode == 0, done.stderr


def block_partition(partition: str = "cpu", nodes: int = 2, user: str = "moss16", minutes=10):
    """Submit a job that takes ``nodes`` whole nodes of ``partition`` (so that spawns
    there have to wait); returns its id."""
    return slurm(
        "sudo", "-u", user, "sbatch", "--parsable", "-p", partition, "-N", str(nodes),
        "--exclusive", "-t", str(minutes), "--chdir=/tmp", "--output=/dev/null",
        "--wrap", f"sleep {minutes * 60}",
    ).strip()  # fmt: skip


def wait_for_job(user: str, timeout: float = 20) -> str:
    """The id of the user's first pending or running job, once there is one."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        jobs = active_jobs(user)
        if jobs:
            return jobs[0]
        time.sleep(0.2)
    raise AssertionError(f"no job for {user}")


@contextmanager
def shared_folder(prefix: str = "moss-shared-"):
    """A folder the test users can read and enter (pytest's own are root's alone),
    removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def queries_as(account: str):
    """A ``slurm_bin_dir`` whose query commands (sinfo, squeue, scontrol, sacctmgr)
    run as ``account``, as at a site whose hub runs unprivileged (slurmctld shows
    root everything); sbatch and scancel run as the user, as always."""
    with shared_folder() as folder:
        for command in ("sinfo", "squeue", "scontrol", "sacctmgr"):
            write_script(
                folder / command,
                f'#!/bin/bash\nexec runuser -u {account} -- /usr/bin/{command} "$@"\n',
            )
        for command in ("sbatch", "scancel"):
            write_script(folder / command, f'#!/bin/bash\nexec /usr/bin/{command} "$@"\n')
        yield folder


def write_script(path: Path, text: str) -> Path:
    """An executable script that every user may run."""
    path.write_text(text)
    path.chmod(0o755)
    return path


def cancel_all(users) -> None:
    for user in users:
        slurm("scancel", "-u", user, check=False)
    deadline = time.time() + 30
    while time.time() < deadline and any(active_jobs(u) for u in users):
        time.sleep(0.3)


#: The group whose members an unprivileged test hub may act as (dev/site-up.sh).
HUB_USERS_GROUP = "moss-site-users"
_INSTALLED_RULES: dict[str, str] = {}  # digest of a config's rules' inputs -> sudoers file


def install_hub_rules(hub: Hub, account: str) -> None:
    """The rules ``jupyterhub-moss sudoers`` prints for ``hub``'s config, installed
    (checked by visudo) for the rest of the test session: once per distinct config
    (its ports aside). :func:`remove_hub_rules` removes them all."""
    key = hashlib.sha256(
        "\0".join(
            [account, hub.preamble, hub.spawner_config or "", hub.extra_config, str(hub.venv)]
        ).encode()
    ).hexdigest()[:16]
    if key in _INSTALLED_RULES:
        return
    result = subprocess.run(
        [str(hub.venv / "bin" / "python"), "-m", "jupyterhub_moss", "sudoers"]
        + ["-f", str(hub.workdir / "jupyterhub_config.py"), "--hub-user", account]
        + ["--group", HUB_USERS_GROUP],
        capture_output=True,
        text=True,
        cwd="/",
        env={**os.environ, **hub.extra_env},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    path = f"/etc/sudoers.d/moss-test-hub-{key}"
    # Alias names are global to sudo: each file's get its own suffix, so that the
    # files of several configs (and a test's own rules) can be installed at once.
    text = re.sub(r"\b(MOSS_[A-Z]+)\b", rf"\1_{key.upper()}", result.stdout)
    with tempfile.NamedTemporaryFile("w", suffix=".sudoers") as staged:
        staged.write(text)
        staged.flush()
        subprocess.run(["visudo", "-c", "-q", "-f", staged.name], check=True)
        subprocess.run(["install", "-m", "0440", staged.name, path], check=True)
    _INSTALLED_RULES[key] = path


def remove_hub_rules() -> None:
    """Remove what :func:`install_hub_rules` installed."""
    while _INSTALLED_RULES:
        _, path = _INSTALLED_RULES.popitem()
        if os.path.exists(path):
            os.unlink(path)


class Hub:
    """A JupyterHub process with MOSlurmSpawner, in its own folder and ports."""

    def __init__(
        self,
        workdir: Path,
        extra_config: str = "",
        base_url: str = "/",
        preamble: str = "",
        venv: Path = HUB_VENV,
        spawner_config: str | None = None,
        env: dict[str, str] | None = None,
        internal_ssl: bool = False,
        account: str | None = None,
    ):
        """``account``: run the hub as this ordinary account (its working folder
        must be one the account can reach), with the sudo rules ``jupyterhub-moss
        sudoers`` prints for its config installed; None: as root."""
        self.workdir = Path(workdir)
        self.internal_ssl = internal_ssl
        self.account = account
        self.workdir.mkdir(parents=True, exist_ok=True)
        if account is not None:
            entry = pwd.getpwnam(account)
            os.chown(self.workdir, entry.pw_uid, entry.pw_gid)
            self.workdir.chmod(0o755)
        self.port, self.hub_port, self.api_port = self.choose_ports()
        self.proxy_auth_token = secrets.token_hex(16)
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.url = f"http://{self.host}:{self.port}{self.base_url.rstrip('/')}"
        self.extra_config = extra_config
        self.preamble = preamble
        self.venv = Path(venv)
        self.spawner_config = spawner_config
        self.extra_env = dict(env or {})
        self.proc: subprocess.Popen | None = None
        self.log_path = self.workdir / "jupyterhub.log"
        self._log_offset = 0

    #: where the hub listens (and is reached from the tests)
    host = "127.0.0.1"

    def choose_ports(self) -> tuple[int, int, int]:
        """The proxy's public port, the hub's own and the proxy's API port."""
        return free_port(), free_port(), free_port()

    def launch_argv(self) -> list[str]:
        """The command line that runs the hub (in its working folder)."""
        argv = [str(self.venv / "bin" / "jupyterhub"), "-f", "jupyterhub_config.py"]
        if self.account is None:
            return argv
        as_account = ["setpriv", f"--reuid={self.account}", f"--regid={self.account}"]
        return [*as_account, "--init-groups", *argv]

    # -- process ----------------------------------------------------------------

    def default_spawner_config(self) -> str:
        """MOSlurmSpawner with the seed's partitions, polling quickly for the tests."""
        config = f"""
        import jupyterhub_moss

        jupyterhub_moss.set_config(c)
        c.MOSlurmSpawner.partitions = {json.dumps(PARTITIONS)!s}
        c.MOSlurmSpawner.slurm_poll_interval = 2.0
        c.MOSlurmSpawner.sinfo_cache_ttl = 5.0
        """
        # null/true/false from json.dumps are not Python
        config = config.replace(": null", ": None").replace(": true", ": True")
        return config.replace(": false", ": False")

    def config_text(self) -> str:
        base = f"""
        c = get_config()
        c.Spawner.start_timeout = 90
        c.Spawner.http_timeout = 60
        c.JupyterHub.ip = "{self.host}"
        c.JupyterHub.port = {self.port}
        c.JupyterHub.base_url = {self.base_url!r}
        c.JupyterHub.hub_ip = "{self.host}"
        c.JupyterHub.hub_port = {self.hub_port}
        c.JupyterHub.internal_ssl = {self.internal_ssl!r}
        c.ConfigurableHTTPProxy.api_url = "{self.proxy_api_url}"
        c.ConfigurableHTTPProxy.auth_token = {self.proxy_auth_token!r}
        c.JupyterHub.db_url = "sqlite:///{self.workdir}/jupyterhub.sqlite"
        c.JupyterHub.cookie_secret_file = "{self.workdir}/cookie_secret"
        c.ConfigurableHTTPProxy.pid_file = "{self.workdir}/proxy.pid"
        c.JupyterHub.cleanup_servers = False
        c.JupyterHub.authenticator_class = "shared-password"
        c.SharedPasswordAuthenticator.user_password = {PASSWORD!r}
        c.Authenticator.allowed_users = set({TEST_USERS!r})
        c.JupyterHub.allow_named_servers = True
        c.JupyterHub.services = [{{"name": "moss-test", "api_token": {SERVICE_TOKEN!r}}}]
        c.JupyterHub.load_roles = [
            {{
                "name": "moss-test",
                "scopes": ["admin:users", "admin:servers", "access:servers", "read:metrics"],
                "services": ["moss-test"],
            }}
        ]
        """
        spawner = self.spawner_config
        if spawner is None:
            spawner = self.default_spawner_config()
        return "\n".join(
            [
                textwrap.dedent(self.preamble),
                textwrap.dedent(base),
                textwrap.dedent(spawner),
                textwrap.dedent(self.extra_config),
            ]
        )

    def start(self, timeout: float = 60) -> Hub:
        (self.workdir / "jupyterhub_config.py").write_text(self.config_text())
        env = dict(os.environ)
        env["PATH"] = f"{DEV_ROOT}/node/node_modules/.bin:{self.venv}/bin:{env.get('PATH', '')}"
        if self.account is not None:
            env["HOME"] = pwd.getpwnam(self.account).pw_dir
            install_hub_rules(self, self.account)
        env.update(self.extra_env)
        log = open(self.log_path, "a")  # noqa: SIM115 - owned by the process
        self._log_offset = self.log_path.stat().st_size
        self.proc = subprocess.Popen(
            self.launch_argv(),
            cwd=self.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        log.close()
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"JupyterHub exited with {self.proc.returncode}:\n{self.log()}")
            try:
                r = httpx.get(f"{self.url}/hub/api/", timeout=2)
                if r.status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"JupyterHub did not answer within {timeout} s:\n{self.log()}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        # The proxy is a child of the hub's session: make sure it is gone too.
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass

    def restart(self) -> Hub:
        self.stop()
        return self.start()

    def log(self, since_start: bool = False) -> str:
        if not self.log_path.exists():
            return ""
        text = self.log_path.read_text(errors="replace")
        return text[self._log_offset :] if since_start else text

    # -- HTTP ---------------------------------------------------------------------

    def api(self, method: str, path: str, **kwargs) -> httpx.Response:
        headers = kwargs.pop("headers", {})
        headers["Authorization"] = f"token {SERVICE_TOKEN}"
        return httpx.request(
            method, f"{self.url}/hub/api{path}", headers=headers, timeout=60, **kwargs
        )

    def user_token(
        self, user: str, note: str = "moss test", scopes: list[str] | None = None
    ) -> str:
        """A new API token that ``user`` makes for themselves, logged in (as on the
        hub's token page): it has the user's own rights, or only ``scopes``."""
        client = self.login(user)
        body = {"note": note, "expires_in": 3600}
        if scopes is not None:
            body["scopes"] = scopes
        try:
            r = client.post(
                f"/hub/api/users/{user}/tokens",
                json=body,
                headers=self.xsrf(client),
            )
        finally:
            client.close()
        assert r.status_code == 201, (r.status_code, r.text[:500])
        return r.json()["token"]

    def request_with(self, token: str, method: str, path: str, **kwargs) -> httpx.Response:
        """A request to ``path`` (from the hub's base URL on) with ``token``."""
        headers = kwargs.pop("headers", {})
        headers["Authorization"] = f"token {token}"
        kwargs.setdefault("timeout", 60)
        return httpx.request(method, f"{self.url}{path}", headers=headers, **kwargs)

    @property
    def proxy_api_url(self) -> str:
        return f"{'https' if self.internal_ssl else 'http'}://{self.host}:{self.api_port}"

    def internal_ssl_file(self, record: str, suffix: str) -> str:
        """A file of the hub's internal_ssl store: ``record`` (``hub-internal``,
        ``proxy-api-ca``...) and ``suffix`` (``crt``, ``key``)."""
        return str(self.workdir / "internal-ssl" / record / f"{record}.{suffix}")

    def proxy_routes(self) -> dict:
        """The proxy's routing table: path prefix -> route (with its ``target``)."""
        r = httpx.get(
            f"{self.proxy_api_url}/api/routes",
            headers={"Authorization": f"token {self.proxy_auth_token}"},
            timeout=30,
            **self._proxy_api_tls(),
        )
        r.raise_for_status()
        return r.json()

    def _proxy_api_tls(self) -> dict:
        """With internal_ssl, the proxy's API asks for the hub's certificate."""
        if not self.internal_ssl:
            return {}
        context = ssl.create_default_context(cafile=self.internal_ssl_file("proxy-api-ca", "crt"))
        context.load_cert_chain(
            self.internal_ssl_file("hub-internal", "crt"),
            self.internal_ssl_file("hub-internal", "key"),
        )
        return {"verify": context}

    def login(self, user: str, password: str = PASSWORD) -> httpx.Client:
        client = httpx.Client(base_url=self.url, follow_redirects=True, timeout=60)
        client.get("/hub/login")
        r = client.post(
            "/hub/login",
            data={"username": user, "password": password, "_xsrf": client.cookies.get("_xsrf")},
            follow_redirects=False,
        )
        assert r.status_code == 302, f"login of {user} failed: {r.status_code} {r.text[:300]}"
        return client

    @staticmethod
    def xsrf(client: httpx.Client) -> dict[str, str]:
        token = client.cookies.get("_xsrf", path=None)
        return {"X-XSRFToken": token} if token else {}

    def spawn_form(self, client: httpx.Client, data: dict, server: str = "") -> httpx.Response:
        path = "/hub/spawn" + (f"/{client_user(client)}/{server}" if server else "")
        return client.post(path, data=data, headers=self.xsrf(client), follow_redirects=False)

    def server_model(self, user: str, server: str = "") -> dict | None:
        r = self.api("GET", f"/users/{user}")
        r.raise_for_status()
        return r.json().get("servers", {}).get(server)

    def wait_ready(self, user: str, server: str = "", timeout: float = 90) -> dict:
        deadline = time.time() + timeout
        model = None
        seen = False
        while time.time() < deadline:
            model = self.server_model(user, server)
            if model and model.get("ready"):
                return model
            if model is not None:
                seen = True
            elif seen:
                raise AssertionError(f"the spawn of {user} failed:\n{self.log(True)[-4000:]}")
            time.sleep(0.2)
        raise AssertionError(f"server of {user} not ready after {timeout} s: {model}")

    def wait_stopped(self, user: str, server: str = "", timeout: float = 60) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.server_model(user, server) is None:
                return
            time.sleep(0.2)
        raise AssertionError(f"server of {user} still there after {timeout} s")

    def progress_events(
        self, user: str, server: str = "", until: str | None = None, timeout: float = 60
    ) -> list[dict]:
        """Events of the pending page's progress stream: until one's message holds
        ``until``, the spawn ends (ready or failed), the stream ends, or ``timeout``."""
        path = f"/users/{user}/server" if not server else f"/users/{user}/servers/{server}"
        events: list[dict] = []
        deadline = time.time() + timeout
        with httpx.stream(
            "GET",
            f"{self.url}/hub/api{path}/progress",
            headers={"Authorization": f"token {SERVICE_TOKEN}"},
            timeout=timeout,
        ) as stream:
            for line in stream.iter_lines():
                if line.startswith("data:"):
                    event = json.loads(line[5:])
                    events.append(event)
                    if until is not None and until in event.get("message", ""):
                        break
                    if event.get("failed") or event.get("ready"):
                        break
                if time.time() > deadline:
                    break
        return events

    def failed_spawn(self, user: str, options: dict) -> str:
        """Start ``user``'s server with ``options`` and return the message it failed
        with: the REST call's answer, or the progress stream's failed event."""
        r = self.api("POST", f"/users/{user}/server", json={"user_options": options})
        if r.status_code != 202:
            assert r.status_code >= 400, r.text
            return r.json()["message"]
        failed = [e for e in self.progress_events(user) if e.get("failed")]
        assert failed, "the spawn did not fail"
        return failed[-1]["message"]

    def server_status(self, client: httpx.Client, user: str, server: str = "") -> httpx.Response:
        """GET the server's /api/status through the proxy, as the logged-in ``client``.

        The first visit of the server's page goes through its OAuth login.
        """
        prefix = f"/user/{user}/" + (f"{server}/" if server else "")
        page = client.get(prefix + "api/status")
        if page.status_code == 403:
            client.get(prefix)  # OAuth with the hub, sets the server's cookie
            page = client.get(prefix + "api/status")
        return page

    def metric_samples(self) -> dict[tuple[str, tuple], float]:
        """Every sample of one scrape of the hub's metrics, by (name, sorted labels)."""
        r = httpx.get(
            f"{self.url}/hub/metrics",
            headers={"Authorization": f"token {SERVICE_TOKEN}"},
            timeout=30,
        )
        r.raise_for_status()
        samples = {}
        for line in r.text.splitlines():
            match = re.match(r"^(\w+)(?:\{(.*)\})? (\S+)$", line)
            if match:
                labels = tuple(sorted(re.findall(r'(\w+)="([^"]*)"', match.group(2) or "")))
                samples[(match.group(1), labels)] = float(match.group(3))
        return samples

    def metric(self, name: str, **labels) -> float:
        """Sum of a Prometheus metric's samples matching ``labels``."""
        return sum(
            value
            for (found_name, found), value in self.metric_samples().items()
            if found_name == name and all(dict(found).get(k) == v for k, v in labels.items())
        )


def client_user(client: httpx.Client) -> str:
    r = client.get("/hub/api/user", headers=Hub.xsrf(client))
    r.raise_for_status()
    return r.json()["name"]
