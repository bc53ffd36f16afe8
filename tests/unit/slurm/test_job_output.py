"""What a job writes is the user's to change: reading it must not cost the hub.

ServerJob reads a failed job's output through the exec_prefix; here the prefix is
empty (the test runs the commands itself) and scontrol is a stand-in that names
the output file, so the reading itself is what is tested.
"""

import os
import resource
import stat
import time
from pathlib import Path

import pytest

from jupyterhub_moss.slurm.client import SlurmClient
from jupyterhub_moss.slurm.job import OUTPUT_TAIL_BYTES, ServerJob
from jupyterhub_moss.slurm.runner import SlurmCommandError, run_command


def _fake_scontrol(tmp_path, output_path):
    path = tmp_path / "scontrol"
    path.write_text(
        "#!/bin/bash\n"
        f"echo 'JobId=5 JobName=x UserId=u(1) JobState=FAILED ExitCode=1:0 "
        f"StdErr={output_path} StdOut={output_path}'\n"
    )
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def _job(tmp_path, output_path):
    scontrol = _fake_scontrol(tmp_path, output_path)
    # scontrol stands in as the only Slurm command of its folder.
    return ServerJob(
        username="nobody",
        log_name="test",
        watcher=None,
        client=SlurmClient(bin_dir=str(Path(scontrol).parent), timeout=10),
        home=None,
        report=lambda *a, **k: None,
    )


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def test_a_huge_output_line_is_read_from_its_end_only(tmp_path):
    out = tmp_path / "job.out"
    with open(out, "wb") as f:
        f.write(b"first line\n")
        for _ in range(100):
            f.write(b"y" * (1024 * 1024))  # one line of 100 MB, no line break
        f.write(b"\nlast line\n")
    before = _max_rss_mb()
    tail, exit_code, _ = await _job(tmp_path, out).output_tail("5")
    assert exit_code == "1:0"
    assert tail.endswith("last line") and len(tail) <= 4000
    assert "first line" not in tail
    assert _max_rss_mb() - before < 30  # a 100 MB line would show here


async def test_an_output_path_that_is_not_a_regular_file_is_not_read(tmp_path, caplog):
    link = tmp_path / "job.out"
    os.symlink("/dev/zero", link)
    started = time.monotonic()
    tail, exit_code, _ = await _job(tmp_path, link).output_tail("5")
    assert (tail, exit_code) == ("", "1:0")
    assert time.monotonic() - started < 5  # not read until a timeout
    assert "not a regular file" in caplog.text


async def test_a_command_printing_without_end_is_stopped_at_the_cap():
    before = _max_rss_mb()
    with pytest.raises(SlurmCommandError, match="more than"):
        await run_command(["cat", "/dev/zero"], timeout=30, max_output=OUTPUT_TAIL_BYTES)
    assert _max_rss_mb() - before < 30


async def test_input_that_cannot_be_encoded_starts_no_process(tmp_path):
    marker = tmp_path / "ran"
    with pytest.raises(SlurmCommandError, match="cannot be encoded"):
        await run_command(["touch", str(marker)], input="/\udc80")
    assert not marker.exists()


async def test_the_jobs_own_error_line_is_shown_as_the_jobs_output_and_bounded(tmp_path):
    out = tmp_path / "out.log"
    out.write_text(
        "starting\njupyterhub_moss: error: Your quota is full; ask support@evil.example "
        + "x" * 1000
        + "\nTraceback (most recent call last):\n"
    )
    error = await _job(tmp_path, out).failure("5", None)
    first = error.message.split("\n")[0]
    # Whatever the job printed is never shown as the hub's own sentence.
    assert first.startswith("The job's output says: Your quota is full")
    assert len(first) <= len("The job's output says: ") + 300
    assert "Job 5 ended before the server started, exit code 1:0." in error.message


async def test_output_the_hub_cannot_read_is_said_with_where_it_is(tmp_path, caplog):
    """The hub's host may not see the user's home: the message says where to look,
    and the hub's log says why, rather than leaving the output out in silence."""
    missing = tmp_path / "not-shared" / "job.out"
    error = await _job(tmp_path, missing).failure("5", None)
    assert "Job 5 ended before the server started, exit code 1:0." in error.message
    assert "Last lines" not in error.message
    assert f"could not be read from the hub's host; it is in {missing} on the cluster" in (
        error.message
    )
    assert any(
        r.levelname == "WARNING" and "Could not read any output of job 5" in r.getMessage()
        for r in caplog.records
    )
