"""The Jupyter environments a partition offers: their schema (jupyterhub-moss
10.x's ``jupyter_environments``, the seed's single ``venv``, container images),
the user's own environment when the admin allows it, and what the batch script
needs to start a server from one."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from ..slurm.batch_script import JobEnvironment
from ..slurm.text import NAME

__all__ = [
    "ENVIRONMENT_ID",
    "Environment",
    "JobEnvironment",
    "check_user_modules",
    "check_user_path",
    "job_environment_for",
    "user_environment",
    "venv_environment",
]

#: An environment's id, as the option ``environment_id`` names it.
ENVIRONMENT_ID = NAME
# A module name as `module load` takes it: "python/3.12", "cuda/12.4.1", "gcc-13".
_MODULE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+/@-]{0,127}\Z")
_PATH = re.compile(r"^/[A-Za-z0-9_./+@-]{0,1023}\Z")
_LINE_BREAKS = ("\n", "\r", "\x00")
#: Where a runner's argument list takes the image; without it the image is added last.
IMAGE_FIELD = "{image}"


class Environment(BaseModel):
    """One entry of a partition's ``jupyter_environments``.

    The fields and rules of jupyterhub-moss 10.x, plus an explicit container
    form: ``image`` with its ``runner``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    description: str
    path: str = ""
    modules: str = ""
    prologue: str = ""
    add_to_path: bool = True
    image: str = ""  # a container image; ``path`` is then a folder inside it
    runner: list[str] | None = None
    gpu_args: list[str] = []

    @field_validator("description")
    @classmethod
    def _description(cls, value):
        if not value.strip():
            raise ValueError("must not be empty: it is what users see")
        if any(ch in value for ch in _LINE_BREAKS):
            raise ValueError("must not hold line breaks")
        return value.strip()

    @field_validator("path", "image")
    @classmethod
    def _absolute(cls, value):
        if value and not value.startswith("/"):
            raise ValueError("must be an absolute path")
        if any(ch in value for ch in _LINE_BREAKS):
            raise ValueError("must not hold line breaks")
        return value

    @field_validator("modules")
    @classmethod
    def _modules(cls, value):
        bad = [name for name in value.split() if not _MODULE.match(name)]
        if bad:
            raise ValueError(f"{bad[0]!r} is not a module name (letters, digits and _.+/@- only)")
        return " ".join(value.split())

    @field_validator("prologue")
    @classmethod
    def _prologue(cls, value):
        if "\x00" in value:
            raise ValueError("must not hold NUL characters")
        return value

    @field_validator("runner", "gpu_args")
    @classmethod
    def _words(cls, value):
        if value is None:
            return value
        if any(not word or any(ch in word for ch in _LINE_BREAKS) for word in value):
            raise ValueError("must be a list of non-empty words without line breaks")
        return value

    @model_validator(mode="after")
    def _one_source(self):
        if not (self.path or self.modules or self.image):
            raise ValueError("needs 'path' or 'modules' (or a container 'image')")
        if self.runner is not None and not self.image:
            raise ValueError("'runner' is set but 'image' is not: give the image it runs")
        if self.runner == []:
            raise ValueError("'runner' must name the command that runs the image")
        if self.gpu_args and not self.image:
            raise ValueError("'gpu_args' only applies to a container 'image'")
        return self

    def container_image(self) -> str:
        """The image this environment runs in: ``image``, or a ``path`` ending in
        ``.sif`` (jupyterhub-moss 10.x's convention); empty for none."""
        if self.image:
            return self.image
        if self.path.endswith(".sif"):
            return self.path
        return ""

    def bin_path(self) -> str:
        """The folder, on the node, of ``jupyterhub-singleuser``: ``path`` unless the
        environment is a container; empty when the ``PATH`` finds it."""
        if self.container_image():
            return ""
        return self.path

    def command_path(self) -> str:
        """The folder ``jupyterhub-singleuser`` is started from: for an ``image``,
        ``path`` is a folder inside the image."""
        if self.image:
            return self.path
        return self.bin_path()


def venv_environment(venv: str) -> Environment:
    """The one environment the seed's ``venv`` setting stands for. Its server is
    started by its full path; the job's ``PATH`` is left as it is."""
    return Environment(description="Python", path=venv, add_to_path=False)


def user_environment(path: str | None, modules: str | None) -> Environment:
    """A user's own environment (options ``environment_path`` and
    ``environment_modules``, already checked). As in jupyterhub-moss 10.x, its
    path goes in front of the ``PATH``; a path ending in ``.sif`` is an image."""
    return Environment(description="Your own environment", path=path or "", modules=modules or "")


def check_user_path(value: str) -> str:
    """A user's own environment path (``environment_path``): an absolute path to a
    ``bin/`` folder or a ``.sif`` image. Raises ValueError saying what is accepted."""
    if not _PATH.match(value) or "/../" in value + "/" or "//" in value:
        raise ValueError(
            "must be an absolute path to a bin/ folder (letters, digits and _./+@- only)"
        )
    return value


def check_user_modules(value: str) -> str:
    """A user's own module list (``environment_modules``), space separated."""
    names = value.split()
    if len(names) > 16:
        raise ValueError("must name at most 16 modules")
    for name in names:
        if not _MODULE.match(name) or ".." in name:
            raise ValueError(
                f"{name[:40]!r} is not a module name (letters, digits and _.+/@- only)"
            )
    return " ".join(names)


def job_environment_for(env: Environment, *, singularity_cmd, gpus: int = 0) -> JobEnvironment:
    """The job's view of ``env``. ``singularity_cmd`` runs ``.sif`` paths given the
    10.x way; ``gpus`` adds the environment's ``gpu_args`` when the job has GPUs."""
    image = env.container_image()
    container: tuple[str, ...] = ()
    if image:
        runner = list(env.runner if env.runner is not None else singularity_cmd)
        if gpus and env.gpu_args:
            at = runner.index(IMAGE_FIELD) if IMAGE_FIELD in runner else len(runner)
            runner[at:at] = env.gpu_args
        if IMAGE_FIELD in runner:
            runner = [image if word == IMAGE_FIELD else word for word in runner]
        else:
            runner.append(image)
        container = tuple(runner)
    return JobEnvironment(
        path=env.bin_path(),
        modules=tuple(env.modules.split()),
        prologue=env.prologue,
        add_to_path=env.add_to_path and bool(env.bin_path()),
        container=container,
        command_path=env.command_path(),
    )
