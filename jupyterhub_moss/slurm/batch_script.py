"""Rendering the batch script: a pure function of its inputs."""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib.resources import files

import jinja2

from .text import ENV_NAME

__all__ = [
    "JobEnvironment",
    "JobRequest",
    "default_template",
    "render_batch_script",
]

# Values allowed on an #SBATCH line: no white space, quotes, or shell syntax.
_SBATCH_SAFE = re.compile(r"^[A-Za-z0-9_.:,=/+@%~-]+\Z")
_SBATCH_SAFE_SPACES = re.compile(r"^[A-Za-z0-9_.:,=/+@%~ -]+\Z")


@dataclass(frozen=True)
class JobEnvironment:
    """What the batch script needs of the chosen environment."""

    path: str  # bin/ folder on the node (server and port helpers); "" for none
    modules: tuple[str, ...]
    prologue: str
    add_to_path: bool
    container: tuple[str, ...] = ()  # runner argv, image included; () without a container
    command_path: str | None = None  # folder of the server's command, if not ``path``

    def command(self, cmd, args) -> list[str]:
        """The server's command line: ``cmd`` (default ``jupyterhub-singleuser``)
        from this environment, JupyterHub's arguments, inside the container if any."""
        cmd = list(cmd or ["jupyterhub-singleuser"])
        folder = self.path if self.command_path is None else self.command_path
        if "/" not in cmd[0] and folder:
            # JupyterHub >= 5.2 passes no PATH: start the environment's own server.
            cmd[0] = os.path.join(folder.rstrip("/"), cmd[0])
        # Fail, rather than move to another port than the one reported to the hub.
        return [*self.container, *cmd, "--ServerApp.port_retries=0", *args]


class UnsafeValue(ValueError):
    """A value that cannot be written into a batch script as it is."""


@dataclass(frozen=True)
class JobRequest:
    """What the job asks Slurm for (already validated)."""

    name: str
    partition: str
    cpus: int
    time: str
    output: str
    workdir: str
    gres: str | None = None
    memory: str | None = None
    reservation: str | None = None
    account: str | None = None
    qos: str | None = None
    options: tuple[str, ...] = ()  # free-form options the admin allows, "--name=value"
    comment: str | None = None  # the job's comment until its server reports its port
    output_dir: str | None = None  # the folder the job moves its output into, if any
    output_keep: int = 0  # the outputs left in output_dir (all if < 1)


def _plain_environment(venv: str) -> JobEnvironment:
    return JobEnvironment(path=venv, modules=(), prologue="", add_to_path=False, container=())


def _sbatch_safe(value, spaces: bool = False) -> str:
    text = str(value)
    pattern = _SBATCH_SAFE_SPACES if spaces else _SBATCH_SAFE
    if not pattern.match(text):
        raise UnsafeValue(f"{text[:80]!r} cannot be written on an #SBATCH line")
    return text


def _shquote(value) -> str:
    text = str(value)
    if "\x00" in text:
        raise UnsafeValue("a NUL character cannot be passed to the shell")
    return shlex.quote(text)


def _shjoin(values) -> str:
    return " ".join(_shquote(v) for v in values)


def _env_name(value) -> str:
    text = str(value)
    if not ENV_NAME.match(text):
        raise UnsafeValue(f"{text[:80]!r} is not an environment variable name")
    return text


def _shell_templates() -> jinja2.Environment:
    # A shell script, not HTML: values are made safe by the filters below.
    env = jinja2.Environment(
        autoescape=False,  # noqa: S701
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters["sbatch_safe"] = _sbatch_safe
    env.filters["shquote"] = _shquote
    env.filters["shjoin"] = _shjoin
    env.filters["env_name"] = _env_name
    return env


@lru_cache(maxsize=1)
def default_template() -> str:
    """The batch script template shipped with the package."""
    return files("jupyterhub_moss").joinpath("templates/batch_script.sh.j2").read_text()


@lru_cache(maxsize=16)
def _compile(template: str) -> jinja2.Template:
    return _shell_templates().from_string(template)


def render_batch_script(
    job: JobRequest,
    *,
    env: dict[str, str],
    venv: str,
    cmd: list[str],
    service_path: str,
    ip: str = "0.0.0.0",  # noqa: S104 - the server must be reachable from the hub
    port: int = 0,
    port_range: tuple[int, int] = (1024, 65535),
    prologue: str = "",
    epilogue: str = "",
    extra_directives: list[str] | tuple[str, ...] = (),
    template: str | None = None,
    environment: JobEnvironment | None = None,
    tls: dict[str, str] | None = None,
) -> str:
    """The batch script for one Jupyter server.

    ``environment`` is the Jupyter environment to start the server from (modules,
    its prologue, a container); without it, the server comes from the folder
    ``venv``. ``template`` is Jinja2 source (default: :func:`default_template`). ``tls``
    holds the text of the server's ``keyfile``, ``certfile`` and ``cafile``
    (JupyterHub's ``internal_ssl``): the job writes them where only the user can
    read them, and its server and its checks speak TLS. Raises
    :class:`UnsafeValue` when a value cannot be rendered safely.
    """
    compiled = _compile(template if template is not None else default_template())
    if environment is None:
        environment = _plain_environment(venv)
    script = compiled.render(
        job=asdict(job),
        env=env,
        venv=environment.path.rstrip("/") or ("/" if environment.path else ""),
        environment=asdict(environment),
        cmd=list(cmd),
        service_path=service_path,
        ip=ip,
        port=int(port),
        port_range=(int(port_range[0]), int(port_range[1])),
        prologue=prologue,
        epilogue=epilogue,
        extra_directives=list(extra_directives),
        tls=dict(tls) if tls else None,
    )
    try:
        # sbatch reads the script as bytes: refuse it before any process is started.
        script.encode("utf-8")
    except UnicodeEncodeError as e:
        raise UnsafeValue(
            f"{e.object[e.start : e.end]!a} cannot be encoded as UTF-8 for the batch script"
        ) from None
    return script
