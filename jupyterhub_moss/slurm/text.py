"""The package's text patterns, in one place: what a name, a job id and a user name
may look like, and the characters that are never shown or passed on."""

from __future__ import annotations

import re

__all__ = ["CONTROL", "CONTROL_BUT_TAB", "ENV_NAME", "JOB_ID", "NAME", "USER_NAME"]

#: Characters never shown or passed on: the C0 and C1 controls, DEL, the line and
#: paragraph separators, and the bidirectional overrides and isolates (which change
#: the order in which the text around them is shown).
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")

#: :data:`CONTROL` but the tab, which lines of a job's output keep.
CONTROL_BUT_TAB = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")

#: A name Slurm knows or the admin gives (partition, account, QOS, reservation, GPU
#: type, environment id). It never begins with ``-``, so that no command reads it
#: as an option.
NAME = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_.-]{0,63}\Z")

#: A Slurm job id (no array or het-job suffix: the hub submits plain jobs).
JOB_ID = re.compile(r"^[0-9]{1,20}\Z")

#: A user name the hub may run Slurm commands for, and name in their arguments.
USER_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}\Z")

#: An environment variable's name.
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
