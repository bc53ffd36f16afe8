"""The one way this package runs a Slurm command: an argument list, no shell, a timeout."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from dataclasses import dataclass

from ..metrics import SLURM_COMMAND_DURATION, SLURM_COMMANDS
from .errors import SlurmCommandError

__all__ = ["CommandResult", "SlurmCommandError", "run_command"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float


def _signal_group(proc, sig) -> None:
    """Signal the command and what it started (sudo passes SIGTERM on to its child)."""
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            proc.send_signal(sig)
        except ProcessLookupError:
            pass


async def _exited(proc, within: float) -> bool:
    """Whether the process has exited, waiting up to ``within`` seconds. Unlike
    ``proc.wait()``, this does not also wait for its output pipes to close."""
    deadline = time.monotonic() + within
    while proc.returncode is None and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return proc.returncode is not None


async def _terminate(proc, grace: float = 2.0) -> None:
    """SIGTERM to the command's group (sudo passes it on to the command it runs as
    the user), then SIGKILL. A process the hub may not signal (the user's, behind
    sudo) can outlive sudo and keep the output pipes open: they are closed here,
    so that nothing waits for it."""
    _signal_group(proc, signal.SIGTERM)
    if not await _exited(proc, grace):
        _signal_group(proc, signal.SIGKILL)
        if not await _exited(proc, grace):
            log.warning("Process %s did not end on SIGKILL; not waiting for it", proc.pid)
    transport = getattr(proc, "_transport", None)  # asyncio's, for its pipes
    if transport is not None:
        transport.close()


#: The most any command may print (each of stdout and stderr) into the hub.
MAX_OUTPUT = 32 * 1024 * 1024


class _TooLarge(Exception):
    pass


async def _read_capped(stream, limit: int) -> bytes:
    chunks = []
    size = 0
    while True:
        chunk = await stream.read(64 * 1024)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)


async def _feed(stdin, data: bytes | None) -> None:
    if stdin is None:
        return
    try:
        if data:
            stdin.write(data)
            await stdin.drain()
    except (BrokenPipeError, ConnectionResetError):
        pass  # the command did not read it all; its exit status says why
    finally:
        stdin.close()


async def _communicate(proc, data: bytes | None, limit: int) -> tuple[bytes, bytes]:
    tasks = [
        asyncio.ensure_future(_feed(proc.stdin, data)),
        asyncio.ensure_future(_read_capped(proc.stdout, limit)),
        asyncio.ensure_future(_read_capped(proc.stderr, limit)),
    ]
    try:
        _, out, err = await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    await proc.wait()
    return out, err


def _command_label(argv) -> str:
    """The Slurm program in an argv, past any exec prefix (``sudo -u x``)."""
    for word in argv:
        base = os.path.basename(word)
        if base in ("sbatch", "scancel", "squeue", "sinfo", "scontrol", "sdiag", "tail"):
            return base
    return os.path.basename(argv[0]) if argv else "?"


async def run_command(
    argv,
    *,
    input: str | None = None,  # noqa: A002 - mirrors subprocess.run
    timeout: float = 30.0,
    check: bool = True,
    env: dict[str, str] | None = None,
    max_output: int = MAX_OUTPUT,
    decode_errors: str = "replace",
) -> CommandResult:
    """Run ``argv`` (a list of strings) and return its output.

    ``decode_errors="surrogateescape"`` keeps bytes that are not UTF-8 recoverable
    (``stdout.encode("utf-8", "surrogateescape")``).

    With ``check`` (the default), a non-zero exit status raises
    :class:`SlurmCommandError` carrying Slurm's message. A timeout always raises,
    after killing the process, and so does output past ``max_output`` bytes: no
    command can fill the hub's memory.
    """
    argv = [str(a) for a in argv]
    label = _command_label(argv)
    try:
        # Before anything starts: a command must not be left waiting for its input.
        data = input.encode("utf-8") if input is not None else None
    except UnicodeEncodeError as e:
        raise SlurmCommandError(argv, f"{label}: input cannot be encoded: {e}") from None
    started = time.monotonic()
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if input is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd="/",
            env=env,
            start_new_session=True,
        )
    except OSError as e:
        SLURM_COMMANDS.labels(command=label, outcome="error").inc()
        raise SlurmCommandError(argv, f"could not run {argv[0]}: {e}") from e
    try:
        out, err = await asyncio.wait_for(_communicate(proc, data, max_output), timeout)
    except _TooLarge:
        await _terminate(proc)
        SLURM_COMMANDS.labels(command=label, outcome="error").inc()
        raise SlurmCommandError(
            argv, f"{label} printed more than {max_output} bytes; its output was dropped"
        ) from None
    except asyncio.TimeoutError:
        await _terminate(proc)
        SLURM_COMMANDS.labels(command=label, outcome="timeout").inc()
        raise SlurmCommandError(
            argv, f"{label} did not answer within {timeout:g} s", timed_out=True
        ) from None
    except asyncio.CancelledError:
        if proc.returncode is None:
            _signal_group(proc, signal.SIGTERM)
        raise
    seconds = time.monotonic() - started
    SLURM_COMMAND_DURATION.labels(command=label).observe(seconds)
    result = CommandResult(
        tuple(argv),
        proc.returncode,
        out.decode("utf-8", decode_errors),
        err.decode("utf-8", "replace"),
        seconds,
    )
    outcome = "ok" if result.returncode == 0 else "error"
    SLURM_COMMANDS.labels(command=label, outcome=outcome).inc()
    log.debug("%s exited %s in %.3f s", label, result.returncode, seconds)
    if check and result.returncode != 0:
        raise SlurmCommandError(
            argv,
            f"{label} exited with status {result.returncode}: {result.stderr.strip()[:500]}",
            returncode=result.returncode,
            stderr=result.stderr,
        )
    return result
