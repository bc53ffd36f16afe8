"""What a start asks Slurm for: the job request and the server's environment, built
from the user's validated options (pure functions), and the batch script built from
them and the spawner's settings."""

from __future__ import annotations

import re

from ..errors import user_error
from ..site.environments import job_environment_for
from ..site.gpus import gres_for
from ..slurm.batch_script import JobRequest, UnsafeValue, render_batch_script
from ..slurm.output import plan_output
from ..slurm.squeue import SUBMIT_COMMENT
from ..slurm.text import ENV_NAME

__all__ = ["batch_script", "build_job_request", "job_environment"]

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


def batch_script(spawner, options, partition, token: str = "", *, estimate: bool = False) -> str:
    """The batch script that ``spawner``'s ``start()`` would submit for ``options``
    on ``partition`` (a partition view), from the spawner's settings and
    JupyterHub's environment for the server.

    ``token`` marks the job (in its comment) until its server reports its port.
    With ``estimate``, the script for ``sbatch --test-only``: no comment and an
    empty environment (no API token, nothing of ``get_env()``).
    """
    if estimate:
        token = ""
    request = build_job_request(
        options,
        partition.gpu,
        username=spawner.slurm_username,
        servername=spawner.name,
        home=spawner.home_folder(),
        job_name=spawner.job_name,
        job_output=spawner.job_output,
        job_output_keep=spawner.job_output_keep,
        job_workdir=spawner.job_workdir,
        comment=f"{SUBMIT_COMMENT}{token}" if token else None,
    )
    environment = job_environment_for(
        options.environment(partition), singularity_cmd=spawner.singularity_cmd, gpus=options.ngpus
    )
    try:
        return render_batch_script(
            request,
            env={} if estimate else job_environment(spawner.get_env(), options),
            venv=environment.path,
            environment=environment,
            cmd=environment.command(spawner.cmd, spawner.get_args()),
            service_path=spawner.server.base_url if spawner.server else "/",
            ip=spawner.ip,
            port=spawner.port or 0,
            port_range=spawner.server_port_range,
            prologue=spawner.prologue,
            epilogue=spawner.epilogue,
            extra_directives=spawner.admin_directives(),
            template=spawner.batch_script,
            tls=None if estimate or not spawner.internal_ssl else spawner.server_certs,
        )
    except UnsafeValue as e:
        raise user_error(
            f"A value cannot be used in the batch script: {e}", reason="invalid_options"
        ) from None
