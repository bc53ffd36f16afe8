"""A hub config that matches the local cluster (dev/cluster-up.sh): for the tests
of the jupyterhub-moss command."""

import os
import sys

import jupyterhub_moss

c = get_config()  # noqa: F821 - provided by JupyterHub (and jupyterhub-moss)
jupyterhub_moss.set_config(c)

venv = os.path.dirname(sys.executable) + "/"

c.MOSlurmSpawner.partitions = {
    "cpu": {"description": "CPU", "max_nprocs": 28, "max_runtime": 12 * 3600, "venv": venv},
    "gpu": {
        "description": "GPU",
        "gpu": "gpu:V100-SXM2-32GB:{}",
        "max_ngpus": 2,
        "max_nprocs": 128,
        "max_runtime": 3600,
        "simple": False,
        "venv": venv,
    },
    "gpumix": {
        "description": "Mixed GPUs",
        "gpu": "gpu:{type}:{}",
        "max_ngpus": 3,
        "max_nprocs": 32,
        "max_runtime": 2 * 3600,
        "simple": False,
        "jupyter_environments": {
            "py": {"description": "Python", "path": venv, "add_to_path": False},
        },
    },
}
c.MOSlurmSpawner.environment = {"SITE_SECRET_KEY": "do-not-show-this-value"}
c.Authenticator.allowed_users = {"moss-demo"}
