"""What a start asks Slurm for: the job request and the server's environment, built
from the user's validated options. Pure functions."""

from __future__ import annotations

import re

from ..site.gpus import gres_for
from ..slurm.batch_script import JobRequest
from ..slurm.output import plan_output
from ..slurm.text import ENV_NAME

__all__ = ["build_job_request", "job_environment"]

_JOB_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_.@-]")


def build_job_request(
    options,
    gpu_template: str | None,
    *,
    username: str,
    servername: str,
    home: str,
    job_name: str,
    job_output: str,
    job_workdir: str,
    comment: str | None = None,
    job_output_keep: int = 5,
) -> JobRequest:
    """The job for validated ``options`` (a :class:`~jupyterhub_moss.choices.options.UserOptions`).

    ``job_name`` and ``job_workdir`` are format strings with ``{username}``,
    ``{servername}``, ``{servername_suffix}`` and ``{home}``; ``job_output`` is
    planned by :func:`~jupyterhub_moss.slurm.output.plan_output`.
    """
    fields = {
        "username": username,
        "servername": servername,
        "servername_suffix": f"-{servername}" if servername else "",
        "home": home,
    }
    gres = gres_for(gpu_template, options.ngpus, getattr(options, "gpu_type", None))
    workdir = job_workdir.format(**fields)
    output = plan_output(
        job_output, home=home, username=username, workdir=workdir, keep=job_output_keep
    )
    return JobRequest(
        name=_JOB_NAME_UNSAFE.sub("_", job_name.format(**fields))[:128],
        partition=options.partition,
        cpus=options.nprocs,
        time=options.time_limit,
        gres=gres,
        memory=options.memory,
        reservation=options.reservation,
        account=getattr(options, "account", None),
        qos=getattr(options, "qos", None),
        output=output.sbatch_output,
        output_dir=output.folder,
        output_keep=output.keep,
        workdir=workdir,
        options=tuple(options.sbatch_options),
        comment=comment,
    )


def job_environment(spawner_env: dict[str, str], options) -> dict[str, str]:
    """The variables the batch script exports for the server: JupyterHub's
    (``Spawner.get_env()``) and the user's choices of folder and start page."""
    env = {k: v for k, v in spawner_env.items() if ENV_NAME.match(k)}
    # Set by the job itself once it has chosen a port.
    env.pop("JUPYTERHUB_SERVICE_URL", None)
    if options.default_url:
        env["JUPYTERHUB_DEFAULT_URL"] = options.default_url
    if options.root_dir:
        env["JUPYTERHUB_ROOT_DIR"] = options.root_dir
    return env
