"""The one way the hub reaches Slurm: a :class:`SlurmClient` holds where the commands
are, how one runs as a user (``exec_prefix``), the environment they get, their
timeout and the cap on their output, and every command of the package runs through
it.

It is the seam for another way of reaching Slurm: a backend on slurmrestd would
implement :meth:`SlurmClient.run` and :meth:`SlurmClient.run_as` (and answer the
argument lists the parsers of this package build) without touching the rest.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace

from .runner import MAX_OUTPUT, CommandResult, run_command

__all__ = ["SlurmClient", "command_environment", "keeps_environment"]

#: Variables of the hub's own environment that Slurm's commands may need.
_KEPT_VARIABLES = ("SLURM_CONF",)


def command_environment(home: str | None, username: str, slurm_bin_dir: str = "") -> dict[str, str]:
    """The whole environment of a command run as the user (and so of its job).

    Built from scratch: ``sbatch`` passes its own environment on to the job
    (``--export=ALL``, Slurm's default), and an ``exec_prefix`` that keeps the
    caller's environment (``sudo -E``, ``runuser``, none at all) would otherwise
    hand the hub's secrets to the user's job.
    """
    path = "/usr/local/bin:/usr/bin:/bin"
    if slurm_bin_dir:
        path = f"{slurm_bin_dir}:{path}"
    env = {"PATH": path, "LANG": "C.UTF-8", "USER": username, "LOGNAME": username}
    if home:
        env["HOME"] = home
    for name in _KEPT_VARIABLES:
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def keeps_environment(prefix: list[str]) -> bool:
    """Whether an ``exec_prefix`` passes its caller's environment on."""
    if not prefix:
        return True
    program = os.path.basename(prefix[0])
    if program == "sudo":
        return any(
            word == "-E"
            or word.startswith("--preserve-env")
            or (word.startswith("-") and not word.startswith("--") and "E" in word)
            for word in prefix[1:]
        )
    # runuser, su and the like keep it unless asked for a login shell.
    return not any(word in ("-", "-l", "--login", "-i") for word in prefix[1:])


@dataclass(frozen=True)
class SlurmClient:
    """Slurm's commands as the hub runs them. Equal settings make equal clients, so
    a client can key the hub's shared objects (one watcher for these settings)."""

    #: the folder of Slurm's commands ("": found on the PATH)
    bin_dir: str = ""
    #: seconds a command may take before it counts as failed
    timeout: float = 30.0
    #: what runs a command as a user, ``{username}`` replaced (``sudo -u {username}``)
    exec_prefix: tuple[str, ...] = ()
    #: the bytes of output read at most from one command
    max_output: int = MAX_OUTPUT
    #: runs an argument list (tests give a stand-in)
    runner: Callable[..., Awaitable[CommandResult]] = field(
        default=run_command, compare=False, repr=False
    )

    def for_hub(self) -> SlurmClient:
        """This client without ``exec_prefix``: for what the hub asks as itself, so
        that the hub-wide objects (the watcher, the sinfo cache) are shared whatever
        runs the users' commands."""
        return replace(self, exec_prefix=())

    def path(self, command: str) -> str:
        """Where ``command`` (``sbatch``, ``squeue``...) is."""
        return os.path.join(self.bin_dir, command) if self.bin_dir else command

    def as_user(self, username: str, argv: Sequence[str]) -> list[str]:
        """``argv`` behind ``exec_prefix``, to run as ``username``."""
        return [word.replace("{username}", username) for word in self.exec_prefix] + list(argv)

    def user_environment(self, username: str, home: str | None) -> dict[str, str]:
        """The whole environment of a command run as ``username``."""
        return command_environment(home, username, self.bin_dir)

    async def run(self, argv: Sequence[str], **kwargs) -> CommandResult:
        """Run ``argv`` as the hub (``input``, ``env``, ``check``, ``timeout`` and
        ``decode_errors`` as :func:`~.runner.run_command` takes them)."""
        kwargs.setdefault("timeout", self.timeout)
        kwargs.setdefault("max_output", self.max_output)
        return await self.runner(list(argv), **kwargs)

    async def run_as(
        self, username: str, home: str | None, argv: Sequence[str], **kwargs
    ) -> CommandResult:
        """Run ``argv`` as ``username`` through ``exec_prefix``, with the user's
        environment built from scratch (never the hub's own)."""
        kwargs.setdefault("env", self.user_environment(username, home))
        return await self.run(self.as_user(username, argv), **kwargs)
