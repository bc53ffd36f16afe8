"""A hub config that the local cluster (dev/cluster-up.sh) cannot honour: for
test_cli_check.py. Each partition is wrong in one way."""

import os
import sys

import jupyterhub_moss

c = get_config()  # noqa: F821 - provided by JupyterHub (and jupyterhub-moss check)
jupyterhub_moss.set_config(c)

# The bin/ folder of the Python running the check: there on this host.
venv = os.path.dirname(sys.executable) + "/"

c.MOSlurmSpawner.partitions = {
    # Not a partition of the cluster.
    "nosuch": {"description": "Missing", "max_nprocs": 4, "max_runtime": 3600, "venv": venv},
    # The nodes of cpu have 28 CPUs.
    "cpu": {"description": "Too many cores", "max_nprocs": 64, "max_runtime": 3600, "venv": venv},
    # gpu: one node with 2 V100-SXM2-32GB, MaxTime 1 h.
    "gpu": {
        "description": "Too many GPUs, too long",
        "gpu": "gpu:V100-SXM2-32GB:{}",
        "max_ngpus": 4,
        "max_nprocs": 8,
        "max_runtime": 2 * 3600,
        "venv": venv,
    },
    # gpumix has V100-SXM2-32GB, A100-SXM4-40GB and a100_1g.5gb, no H100.
    "gpumix": {
        "description": "Unknown GPU type",
        "gpu": "gpu:H100:{}",
        "max_ngpus": 1,
        "max_nprocs": 8,
        "max_runtime": 3600,
        "venv": venv,
    },
    # An environment this host does not have.
    "long": {
        "description": "Missing venv",
        "max_nprocs": 8,
        "max_runtime": 3600,
        "venv": "/nonexistent/moss-venv/bin/",
    },
}

# Keeps the hub's environment: a security error.
c.MOSlurmSpawner.exec_prefix = ["sudo", "-E", "-n", "-u", "{username}"]
