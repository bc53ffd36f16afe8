"""The commands the spawner runs as the users, through ``exec_prefix``: what the
sudoers rules must allow, and what ``check`` asks sudo about.

They are the ones :mod:`jupyterhub_moss.slurm.job`, :mod:`jupyterhub_moss.web.estimate`
and :mod:`jupyterhub_moss.web.joblog` build: ``sbatch --parsable`` (the script on its
standard input), ``sbatch --test-only`` (the start estimate), ``scancel JOBID``,
``tail -c 65536 -- PATH`` (the job's output) and ``test -f PATH`` (whether that
output is a regular file, where the hub may not look).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

from ..slurm.output import TAIL_BYTES, regular_file_argv, tail_argv
from ..slurm.testonly import test_only_argv

__all__ = ["UserCommand", "broader_probes", "resolve_program", "user_commands"]


@dataclass(frozen=True)
class UserCommand:
    """One command run as a user.

    ``program`` is its full path; ``sudoers_args`` its arguments as a sudoers rule
    matches them (exactly, or one ``^...$`` regular expression for them all);
    ``sample_args`` arguments of one real call;
    ``required``: the spawner cannot start or stop servers without it (the others
    only lose a feature, named by ``purpose``).
    """

    purpose: str
    program: str
    sudoers_args: tuple[str, ...]
    sample_args: tuple[str, ...]
    required: bool

    def sudoers_spec(self) -> str:
        return " ".join((self.program, *self.sudoers_args))

    def sample_argv(self) -> list[str]:
        return [self.program, *self.sample_args]


def resolve_program(command: str, search_path: str | None = None) -> str | None:
    """The full path of ``command`` (``slurm_bin_dir``'s, or found on the PATH):
    None when it is not found."""
    if os.path.isabs(command):
        return command
    return shutil.which(command, path=search_path)


def user_commands(spawner, sample_home: str = "/home/user") -> list[UserCommand]:
    """The commands ``spawner`` (a configured ``MOSlurmSpawner``) runs as users.

    Raises ``LookupError`` naming a program that cannot be found.
    """
    sbatch = spawner.slurm_client().path("sbatch")
    scancel = spawner.slurm_client().path("scancel")
    tail = tail_argv("/x", TAIL_BYTES)
    regular = regular_file_argv("/x")
    paths = {}
    for name in (sbatch, scancel, tail[0], regular[0]):
        found = resolve_program(name)
        if found is None:
            hint = "" if name in (tail[0], regular[0]) else " (set c.MOSlurmSpawner.slurm_bin_dir)"
            raise LookupError(f"{name} is not on the PATH{hint}")
        paths[name] = found
    sample_output = os.path.join(sample_home, ".local/state/jupyterhub_moss/1.log")
    test_only = test_only_argv(sbatch)
    return [
        UserCommand("submitting servers", paths[sbatch], ("--parsable",), ("--parsable",), True),
        UserCommand(
            "start estimates on the spawn page",
            paths[sbatch],
            tuple(test_only[1:]),
            tuple(test_only[1:]),
            False,
        ),
        # Exact rules: a sudoers wildcard matches across spaces ("scancel [0-9]*"
        # allowed "scancel 1 --signal=KILL"); a "^...$" argument is a regular
        # expression over the whole argument list (sudo 1.9.10 and newer).
        UserCommand("stopping servers", paths[scancel], ("^[0-9]+$",), ("1",), True),
        UserCommand(
            "showing the job's output",
            paths[tail[0]],
            ("^" + " ".join(tail[1:-1]) + " /[^ ]+$",),
            tuple(tail_argv(sample_output, TAIL_BYTES)[1:]),
            False,
        ),
        UserCommand(
            "refusing a job output that is not a regular file, quickly",
            paths[regular[0]],
            ("^" + " ".join(regular[1:-1]) + " /[^ ]+$",),
            tuple(regular_file_argv(sample_output)[1:]),
            False,
        ),
    ]


def broader_probes(commands: list[UserCommand]) -> list[list[str]]:
    """Command lines that the rules of ``jupyterhub-moss sudoers`` refuse, each one
    step past a command the spawner runs: extra options, a second job or file, a
    command given on the command line. Rules that allow one are broader than needed.
    """
    probes = []
    for command in commands:
        argv = command.sample_argv()
        name = os.path.basename(command.program)
        if name == "scancel":
            probes += [[*argv, "--signal=KILL"], [*argv, "2"]]
        elif name == "tail":
            probes += [[*argv, "/etc/shadow"], [command.program, "-f", *argv[1:]]]
        elif name == "test":
            probes.append([*argv, "-a", "-f", "/etc/shadow"])
        elif "--parsable" in argv:
            probes.append([*argv, "--wrap=id"])
    return probes
