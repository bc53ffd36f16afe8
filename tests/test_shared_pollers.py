"""The shared squeue watcher and sinfo cache: one call serves everyone, and a
failed call never makes a job look gone.

The Slurm commands are replaced here by small shell scripts that print recorded
output (and count their runs), so that failures can be produced on demand; the
real commands are exercised by the integration tests.
"""

import asyncio
import os
import stat
import time
from pathlib import Path

import pytest

from jupyterhub_moss.slurm.sinfo import SinfoCache
from jupyterhub_moss.slurm.watcher import GONE, JobWatcher

DATA = Path(__file__).parent / "data"


def fake_command(tmp_path, name, body):
    path = tmp_path / name
    path.write_text(f"#!/bin/bash\necho run >> {tmp_path}/{name}.calls\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def calls(tmp_path, name):
    f = tmp_path / f"{name}.calls"
    return len(f.read_text().splitlines()) if f.exists() else 0


# A squeue that answers from a file of "id|state|node|reason|start|comment" lines,
# with the record marker taken from its --format argument.
SQUEUE = r"""
mode=$(cat "$(dirname "$0")/mode")
case "$mode" in
down) echo "squeue: error: Unable to contact slurm controller (connect failure)" >&2; exit 1 ;;
slow) sleep 5 ;;
unknown) echo "slurm_load_jobs error: Invalid job id specified" >&2; exit 1 ;;
esac
fmt=${@: -1}
marker=${fmt%%%*}
while IFS= read -r line; do printf '%s%s\n' "$marker" "$line"; done < "$(dirname "$0")/jobs"
"""


@pytest.fixture
def squeue(tmp_path):
    (tmp_path / "mode").write_text("ok")
    (tmp_path / "jobs").write_text("")
    return fake_command(tmp_path, "squeue", SQUEUE)


def set_jobs(tmp_path, *lines, mode="ok"):
    (tmp_path / "jobs").write_text("".join(line + "\n" for line in lines))
    (tmp_path / "mode").write_text(mode)


async def test_failed_or_slow_squeue_never_means_gone(tmp_path, squeue):
    watcher = JobWatcher(squeue=squeue, interval=60, fast_interval=0.05, timeout=1)
    watcher.watch("11")
    set_jobs(tmp_path, "11|RUNNING|node1|None|N/A|moss:port=4000")
    assert await watcher.refresh()
    assert watcher.status("11").running

    for mode in ("down", "slow"):
        set_jobs(tmp_path, mode=mode)
        assert not await watcher.refresh()
        assert watcher.status("11").running, mode
        assert watcher.last_error

    # "Invalid job id" for a single id is squeue's way of saying the job is gone.
    set_jobs(tmp_path, mode="unknown")
    assert await watcher.refresh()
    assert watcher.status("11") is GONE
    watcher.stop()


async def test_one_squeue_serves_all_concurrent_waiters(tmp_path, squeue):
    ids = [str(i) for i in range(100, 116)]
    set_jobs(tmp_path, *(f"{i}|PENDING||Resources|N/A|" for i in ids))
    watcher = JobWatcher(squeue=squeue, interval=60, fast_interval=0.2, timeout=5)
    for job_id in ids:
        watcher.watch(job_id, fast=True)
    await watcher.refresh()
    before = calls(tmp_path, "squeue")
    results = await asyncio.gather(*(watcher.refresh() for _ in ids))
    assert all(results)
    assert calls(tmp_path, "squeue") - before <= 2
    assert all(watcher.status(i).waiting for i in ids)
    watcher.stop()


async def test_polls_stay_at_the_interval(tmp_path, squeue):
    set_jobs(tmp_path, "7|RUNNING|node1|None|N/A|moss:port=4000")
    watcher = JobWatcher(squeue=squeue, interval=0.5, fast_interval=0.1, timeout=5)
    for job_id in ("7", "8", "9"):
        watcher.watch(job_id)
    await asyncio.sleep(0.1)
    before = calls(tmp_path, "squeue")
    await asyncio.sleep(2.1)
    slow = calls(tmp_path, "squeue") - before
    assert 3 <= slow <= 6, slow
    watcher.set_fast("7", True)
    before = calls(tmp_path, "squeue")
    await asyncio.sleep(1.05)
    fast = calls(tmp_path, "squeue") - before
    assert 6 <= fast <= 12, fast
    assert watcher.status("8") is GONE
    watcher.stop()


async def test_finished_job_calls_back_once(tmp_path, squeue):
    seen = []
    set_jobs(tmp_path, "5|RUNNING|node1|None|N/A|moss:port=4000")
    watcher = JobWatcher(squeue=squeue, interval=60, fast_interval=0.05, timeout=5)
    watcher.watch("5", on_finished=seen.append)
    await watcher.refresh()
    assert seen == []
    set_jobs(tmp_path, "5|TIMEOUT|node1|None|N/A|moss:port=4000")
    await watcher.refresh()
    await watcher.refresh()
    assert [s.state for s in seen] == ["TIMEOUT"]
    watcher.stop()


async def test_sinfo_cache_coalesces_and_expires(tmp_path):
    recorded = (DATA / "sinfo_idle.txt").read_text()
    (tmp_path / "out").write_text(recorded)
    sinfo = fake_command(tmp_path, "sinfo", f"sleep 0.3\ncat {tmp_path}/out")
    cache = SinfoCache([sinfo], ttl=1.0, timeout=5)
    snapshots = await asyncio.gather(*(cache.get() for _ in range(50)))
    assert calls(tmp_path, "sinfo") == 1
    assert all(s is snapshots[0] for s in snapshots)
    assert snapshots[0].partitions["long"].cpus_total == 120
    for _ in range(20):
        await cache.get()
    assert calls(tmp_path, "sinfo") == 1
    await asyncio.sleep(1.1)
    await cache.get()
    assert calls(tmp_path, "sinfo") == 2


async def test_sinfo_failure_keeps_last_answer_and_is_not_retried_by_every_reader(tmp_path):
    (tmp_path / "out").write_text((DATA / "sinfo_idle.txt").read_text())
    sinfo = fake_command(
        tmp_path,
        "sinfo",
        f'[ -e {tmp_path}/down ] && {{ echo "sinfo: error: connect failure" >&2; exit 1; }}\n'
        f"cat {tmp_path}/out",
    )
    cache = SinfoCache([sinfo], ttl=0.2, timeout=5, error_ttl=60)
    assert (await cache.get()).ok
    (tmp_path / "down").touch()
    time.sleep(0.3)
    failed = await cache.get()
    assert not failed.ok and "connect failure" in failed.error
    assert failed.partitions["cpu"].cpus_total == 56  # the last good answer
    for _ in range(10):
        await cache.get()
    assert calls(tmp_path, "sinfo") == 2
    os.remove(tmp_path / "down")


async def test_refresh_without_jobs_waits_instead_of_spinning(squeue):
    watcher = JobWatcher(squeue=squeue, interval=60, fast_interval=0.2, timeout=5)
    started = time.monotonic()
    assert await watcher.refresh() is False
    assert time.monotonic() - started >= 0.2


async def test_forgetting_the_last_job_wakes_its_waiters(tmp_path, squeue):
    set_jobs(tmp_path, "9|RUNNING|node1|None|N/A|", mode="slow")  # squeue takes 5 s
    watcher = JobWatcher(squeue=squeue, interval=60, fast_interval=0.1, timeout=10)
    watcher.watch("9")
    waiter = asyncio.ensure_future(watcher.refresh(timeout=30))
    await asyncio.sleep(0.3)
    watcher.forget("9")
    started = time.monotonic()
    assert await waiter in (True, False)
    assert time.monotonic() - started < 8  # the poll under way ends; no one waits for another
    watcher.stop()


async def test_refresh_on_a_hanging_squeue_returns_false_not_an_error(tmp_path, squeue):
    set_jobs(tmp_path, "9|RUNNING|node1|None|N/A|", mode="slow")
    watcher = JobWatcher(squeue=squeue, interval=60, fast_interval=0.1, timeout=1)
    watcher.watch("9")
    assert await watcher.refresh() is False
    assert watcher.status("9") is None
    watcher.stop()


async def test_quickest_pace_while_a_server_is_about_to_report(tmp_path, squeue):
    set_jobs(tmp_path, "7|RUNNING|node1|None|N/A|moss:submit=abc")  # no port yet
    watcher = JobWatcher(
        squeue=squeue, interval=60, fast_interval=0.5, timeout=5, start_interval=0.1
    )
    watcher.watch("7", fast=True)
    await watcher.refresh()
    before = calls(tmp_path, "squeue")
    await asyncio.sleep(1.05)
    starting = calls(tmp_path, "squeue") - before
    assert starting >= 6, starting
    set_jobs(tmp_path, "7|RUNNING|node1|None|N/A|moss:port=4000")
    await watcher.refresh()
    before = calls(tmp_path, "squeue")
    await asyncio.sleep(1.05)
    reported = calls(tmp_path, "squeue") - before
    assert reported <= 3, reported  # back to fast_interval (0.5 s) once the port is known
    watcher.stop()


async def test_long_pending_jobs_are_polled_at_the_slower_pace(tmp_path, squeue):
    set_jobs(tmp_path, "7|PENDING|(null)|Resources|N/A|moss:submit=abc")
    watcher = JobWatcher(
        squeue=squeue,
        interval=60,
        fast_interval=0.1,
        timeout=5,
        pending_interval=1.0,
        pending_grace=0.6,
    )
    watcher.watch("7", fast=True)

    async def follow(job_id):  # what a starting spawner does
        while True:
            await watcher.refresh(job_id=job_id)

    follower = asyncio.ensure_future(follow("7"))
    await asyncio.sleep(0.05)
    before = calls(tmp_path, "squeue")
    await asyncio.sleep(0.5)
    early = calls(tmp_path, "squeue") - before
    assert early >= 3, early  # within the grace period: fast_interval
    await asyncio.sleep(0.6)
    before = calls(tmp_path, "squeue")
    await asyncio.sleep(2.05)
    late = calls(tmp_path, "squeue") - before
    assert 1 <= late <= 3, late  # pending for longer than the grace: pending_interval

    # A new job is asked about at once, not at the slower pace.
    set_jobs(
        tmp_path,
        "7|PENDING|(null)|Resources|N/A|moss:submit=abc",
        "8|PENDING|(null)|None|N/A|moss:submit=def",
    )
    before = calls(tmp_path, "squeue")
    asked = time.monotonic()
    watcher.watch("8", fast=True)
    while watcher.status("8") is None and time.monotonic() - asked < 5:
        await asyncio.sleep(0.01)
    assert time.monotonic() - asked < 0.5
    assert watcher.status("8").state == "PENDING"
    assert calls(tmp_path, "squeue") > before

    # Someone waiting for any job (a stop, a restarted hub) gets the quick pace.
    set_jobs(tmp_path, "7|PENDING|(null)|Resources|N/A|moss:submit=abc")
    watcher.forget("8")
    await asyncio.sleep(1.2)
    before = calls(tmp_path, "squeue")
    for _ in range(5):
        await watcher.refresh()
    assert calls(tmp_path, "squeue") - before >= 5
    follower.cancel()
    watcher.stop()


async def test_a_job_that_starts_leaves_the_slower_pace(tmp_path, squeue):
    set_jobs(tmp_path, "7|PENDING|(null)|Priority|N/A|moss:submit=abc")
    watcher = JobWatcher(
        squeue=squeue,
        interval=60,
        fast_interval=0.1,
        timeout=5,
        start_interval=0.05,
        pending_interval=30,
        pending_grace=0.2,
    )
    watcher.watch("7", fast=True)
    await watcher.refresh(job_id="7")
    await asyncio.sleep(0.4)  # now long pending: the next poll is 30 s away
    set_jobs(tmp_path, "7|RUNNING|node1|None|N/A|moss:submit=abc")
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(asyncio.shield(watcher.refresh(job_id="7")), 1.0)
    # A stop or a restarted hub asking brings the quick pace back, and a running
    # job whose server has not reported keeps it.
    assert await watcher.refresh()
    assert watcher.status("7").running
    before = calls(tmp_path, "squeue")
    await asyncio.sleep(0.55)
    assert calls(tmp_path, "squeue") - before >= 5
    watcher.stop()
