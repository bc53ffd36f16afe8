"""jupyterhub_moss: the JupyterHub MOdular Slurm Spawner."""

from ._version import __version__
from .hubconfig import set_config
from .spawner.lifecycle import MOSlurmSpawner

__all__ = ["MOSlurmSpawner", "__version__", "set_config"]
