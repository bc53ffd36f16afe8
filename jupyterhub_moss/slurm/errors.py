"""The errors of Slurm talk. Nothing here knows of JupyterHub: the spawner turns a
:class:`JobError` into the message its user sees."""

from __future__ import annotations

import re

__all__ = ["JobError", "SlurmCommandError"]

# "sbatch: error: Batch job submission failed: Requested time limit is invalid ..."
_SLURM_PREFIX = re.compile(r"^\s*(?:\S+: )?(?:error|fatal): ", re.IGNORECASE)


class SlurmCommandError(Exception):
    """A Slurm command failed, timed out or could not be started."""

    def __init__(self, argv, message, *, returncode=None, stderr="", timed_out=False):
        self.argv = tuple(argv)
        self.returncode = returncode
        self.stderr = stderr
        self.timed_out = timed_out
        super().__init__(message)

    @property
    def reason(self) -> str:
        """Slurm's own explanation, without the program's ``error:`` prefixes."""
        lines = [_SLURM_PREFIX.sub("", line).strip() for line in self.stderr.splitlines()]
        lines = [line for line in lines if line]
        if lines:
            # Slurm puts the useful sentence last ("Batch job submission failed: ...").
            return lines[-1]
        return str(self)


class JobError(Exception):
    """A server's job could not be submitted, followed or cancelled.

    ``message`` is written for the job's owner; ``reason`` is a short code (for
    metrics and the REST API); ``log_message`` the technical detail for the log;
    ``html_message`` the message as escaped HTML with links, where there are some.
    ``status_code`` is 400 where the user's request was refused, 500 where the
    site failed them.
    """

    def __init__(
        self,
        message: str,
        *,
        reason: str,
        status_code: int = 400,
        log_message: str | None = None,
        html_message: str | None = None,
    ):
        self.message = message
        self.reason = reason
        self.status_code = status_code
        self.log_message = log_message or message
        self.html_message = html_message
        super().__init__(message)
