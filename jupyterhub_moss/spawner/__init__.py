"""The spawner's lifecycle: :class:`MOSlurmSpawner`, its settings, the state it
keeps, and the settings of the spawners sites come from."""

from .lifecycle import MOSlurmSpawner

__all__ = ["MOSlurmSpawner"]
