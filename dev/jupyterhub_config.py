"""JupyterHub configuration of the demo on the local Slurm cluster (dev/cluster-up.sh).

Run it with dev/demo.sh. Every user logs in with the shared password below.
"""

import os

import jupyterhub_moss

c = get_config()  # noqa: F821 - provided by JupyterHub

jupyterhub_moss.set_config(c)

# The Python environment the jobs start jupyterhub-singleuser from.
venv = os.environ.get("MOSS_DEV_VENV", "/opt/moss-dev/jh6") + "/bin/"

# The seed's example, with the partitions of the local cluster.
c.MOSlurmSpawner.partitions = {
    "cpu": {
        "architecture": "x86_86",
        "description": "Partition 1",
        "gpu": None,
        "max_ngpus": 0,
        "max_nprocs": 28,
        "max_runtime": 12 * 3600,
        "simple": True,
        "venv": venv,
    },
    "gpu": {
        "architecture": "ppc64le",
        "description": "Partition 2",
        "gpu": "gpu:V100-SXM2-32GB:{}",
        "max_ngpus": 2,
        "max_nprocs": 128,
        "max_runtime": 1 * 3600,
        "simple": True,
        "venv": venv,
    },
    "long": {
        "architecture": "x86_86",
        "description": "Partition 3",
        "gpu": None,
        "max_ngpus": 0,
        "max_nprocs": 28,
        "max_runtime": 12 * 3600,
        "simple": False,
        "venv": venv,
    },
}

c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = int(os.environ.get("MOSS_DEMO_PORT", "8000"))
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = os.environ.get(
    "MOSS_DEMO_PASSWORD", "moss-demo-password"
)
c.Authenticator.allowed_users = {"moss-demo"} | {f"moss{i:02d}" for i in range(1, 17)}
c.JupyterHub.allow_named_servers = True
c.Spawner.default_url = "/lab"
# Restarting the hub leaves the servers (Slurm jobs) running; they are found again.
c.JupyterHub.cleanup_servers = False
