"""A batch script rendered from a plain job request."""

from jupyterhub_moss.slurm.batch_script import (
    JobRequest,
    render_batch_script,
)

JOB = JobRequest(
    name="jupyter-alice",
    partition="gpu",
    cpus=4,
    time="01:30:00",
    gres="gpu:V100:1",
    memory="4096M",
    output="jupyterhub_moss_%j.log",
    workdir="/home/alice",
)


ENV = {
    "JUPYTERHUB_API_TOKEN": "secret-token",
    "JUPYTERHUB_USER": "alice",
    "JUPYTERHUB_OAUTH_SCOPES": '["access:servers!server=alice/"]',
}


def render(job=JOB, **kwargs):
    args = {
        "env": ENV,
        "venv": "/opt/jupyter/bin/",
        "cmd": ["/opt/jupyter/bin/jupyterhub-singleuser", "--ServerApp.port_retries=0"],
        "service_path": "/user/alice/",
    }
    args.update(kwargs)
    return render_batch_script(job, **args)
