"""The shared squeue watcher and sinfo cache: one call serves everyone, and a
failed call never makes a job look gone.

The Slurm commands are replaced here by small shell scripts that print recorded
output (and count their runs), so that failures can be produced on demand; the
real commands are exercised by the integration tests.
"""

import asyncio
import os
import time
from pathlib import Path

import pytest
from support import DATA
from support.fakeslurm import SCONTROL, SQUEUE, argvs, calls, fake_command, polls

from jupyterhub_moss.slurm.client import SlurmClient
from jupyterhub_moss.slurm.job import ServerJob
from jupyterhub_moss.slurm.pace import PAUSE_JITTER
from jupyterhub_moss.slurm.sinfo import SinfoCache
from jupyterhub_moss.slurm.watcher import GONE, JobWatcher


@pytest.fixture
def slurm_version(tmp_path):
    """The version the fake squeue reports: 22.05 unless a test sets another."""
    (tmp_path / "version").write_text("slurm 22.05.8\n")
    return tmp_path / "version"


@pytest.fixture
def squeue(tmp_path, slurm_version):
    (tmp_path / "mode").write_text("ok")
    (tmp_path / "jobs").write_text("")
    fake_command(tmp_path, "scontrol", SCONTROL)
    return fake_command(tmp_path, "squeue", SQUEUE)


def watcher_for(squeue_path, **kwargs) -> JobWatcher:
    """A watcher using the fake squeue and scontrol of the same folder."""
    scontrol = str(Path(squeue_path).parent / "scontrol")
    return JobWatcher(squeue=squeue_path, scontrol=scontrol, **kwargs)


def set_jobs(tmp_path, *lines, mode="ok"):
    (tmp_path / "jobs").write_text("".join(line + "\n" for line in lines))
    (tmp_path / "mode").write_text(mode)


async def test_failed_or_slow_squeue_never_means_gone(tmp_path, squeue):
    watcher = watcher_for(squeue, interval=60, fast_interval=0.05, timeout=1)
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
    watcher = watcher_for(squeue, interval=60, fast_interval=0.2, timeout=5)
    for job_id in ids:
        watcher.watch(job_id, fast=True)
    await watcher.refresh()
    before = polls(tmp_path)
    results = await asyncio.gather(*(watcher.refresh() for _ in ids))
    assert all(results)
    assert polls(tmp_path) - before <= 2
    assert all(watcher.status(i).waiting for i in ids)
    watcher.stop()


async def test_polls_stay_at_the_interval(tmp_path, squeue):
    set_jobs(tmp_path, "7|RUNNING|node1|None|N/A|moss:port=4000")
    watcher = watcher_for(squeue, interval=0.5, fast_interval=0.1, timeout=5)
    for job_id in ("7", "8", "9"):
        watcher.watch(job_id)
    await asyncio.sleep(0.1)
    before = polls(tmp_path)
    await asyncio.sleep(2.1)
    slow = polls(tmp_path) - before
    assert 3 <= slow <= 6, slow
    watcher.set_fast("7", True)
    before = polls(tmp_path)
    await asyncio.sleep(1.05)
    fast = polls(tmp_path) - before
    assert 6 <= fast <= 14, fast
    assert watcher.status("8") is GONE
    watcher.stop()


async def test_finished_job_calls_back_once(tmp_path, squeue):
    seen = []
    set_jobs(tmp_path, "5|RUNNING|node1|None|N/A|moss:port=4000")
    watcher = watcher_for(squeue, interval=60, fast_interval=0.05, timeout=5)
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
    watcher = watcher_for(squeue, interval=60, fast_interval=0.2, timeout=5)
    started = time.monotonic()
    assert await watcher.refresh() is False
    assert time.monotonic() - started >= 0.2


async def test_forgetting_the_last_job_wakes_its_waiters(tmp_path, squeue):
    set_jobs(tmp_path, "9|RUNNING|node1|None|N/A|", mode="slow")  # squeue takes 5 s
    watcher = watcher_for(squeue, interval=60, fast_interval=0.1, timeout=10)
    watcher.watch("9")
    waiter = asyncio.ensure_future(watcher.refresh(timeout=30))
    await asyncio.sleep(0.3)
    watcher.forget("9")
    started = time.monotonic()
    assert await waiter is True  # the poll under way answered; nobody waits for another
    assert time.monotonic() - started < 8  # the poll under way ends; no one waits for another
    watcher.stop()


async def test_refresh_on_a_hanging_squeue_returns_false_not_an_error(tmp_path, squeue):
    set_jobs(tmp_path, "9|RUNNING|node1|None|N/A|", mode="slow")
    watcher = watcher_for(squeue, interval=60, fast_interval=0.1, timeout=1)
    watcher.watch("9")
    assert await watcher.refresh() is False
    assert watcher.status("9") is None
    watcher.stop()


async def poll_times(tmp_path, watcher, seconds):
    """The monotonic times at which the watcher's polls finished, over ``seconds``."""
    times = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        await watcher.next_poll(max(end - time.monotonic(), 0.01))
        if watcher.last_poll_finished and watcher.last_poll_finished not in times:
            times.append(watcher.last_poll_finished)
    return times


async def booting_looks(tmp_path, squeue, start_interval, seconds, calls_arrive=False):
    """The times job 7, running while its server boots, is looked at for ``seconds``
    (fast_interval 0.1 s), and the gaps between them; ``calls_arrive``: the hub has
    confirmed another server's call before."""
    set_jobs(tmp_path, "7|RUNNING|node1|None|N/A|moss:submit=abc")  # no port yet
    watcher = watcher_for(
        squeue, interval=60, fast_interval=0.1, timeout=5, start_interval=start_interval
    )
    if calls_arrive:
        watcher.note_server_call("6")
    watcher.watch("7", fast=True)
    times = await poll_times(tmp_path, watcher, seconds)
    watcher.stop()
    return times, [b - a for a, b in zip(times, times[1:], strict=False)]


async def test_a_booting_server_is_asked_about_less_and_less_often(tmp_path, squeue):
    times, gaps = await booting_looks(tmp_path, squeue, start_interval=1.6, seconds=6.0)
    # 0.4, 0.4, 0.8, 1.6, 1.6...: at a constant 0.1 s there would be 60.
    assert 5 <= len(times) <= 10, gaps
    # Never slower than start_interval (doubling would give 3.2), with room for a busy machine.
    assert max(gaps) < 1.6 + 0.5, gaps
    # (A gap is measured between two polls' ends: one that ends late shortens the next.)
    assert min(gaps[-2:]) > 1.6 * (1 - PAUSE_JITTER) - 0.15, gaps


async def test_a_booting_server_is_looked_at_again_only_after_four_quick_pauses(tmp_path, squeue):
    """Its server calls the hub when it answers: the looks while it boots are the
    fallback, and a class's servers are not each looked at twice in their first
    second of booting."""
    times, gaps = await booting_looks(tmp_path, squeue, start_interval=5, seconds=1.0)
    # Seen running at once, then not before 4 x 0.1 s.
    assert 2 <= len(times) <= 3, gaps
    assert min(gaps) > 0.4 * (1 - PAUSE_JITTER) - 0.05, gaps


async def test_once_servers_calls_arrive_a_booting_job_is_first_looked_at_after_start_interval(
    tmp_path, squeue
):
    """Where servers' calls are seen to reach the hub, a booting job's looks are only
    for a node that cannot: they begin at the ceiling, not after quick pauses."""
    times, gaps = await booting_looks(
        tmp_path, squeue, start_interval=0.8, seconds=1.5, calls_arrive=True
    )
    # Seen running at once, then not before 0.8 s (four quick pauses would be 0.4 s).
    assert 2 <= len(times) <= 3, gaps
    assert min(gaps) > 0.8 * (1 - PAUSE_JITTER) - 0.05, gaps


def starting_job(watcher) -> ServerJob:
    """The Slurm side of moss01's server, starting on partition cpu."""
    return ServerJob(
        username="moss01",
        log_name="moss01",
        watcher=watcher,
        client=SlurmClient(),
        home=None,
        report=lambda *args, **kwargs: None,
        partition="cpu",
    )


async def test_only_a_confirmed_call_makes_the_watcher_trust_the_servers_calls(tmp_path, squeue):
    set_jobs(tmp_path, "7|RUNNING|node1|None|N/A|moss:port=4000")
    watcher = watcher_for(squeue, interval=60, fast_interval=0.1, timeout=5)
    job = starting_job(watcher)
    watcher.watch("7", owner="moss01", fast=True)
    assert await job.confirm_server("7", 4001) == "job 7's comment gives port 4000, not 4001"
    assert not watcher.pace.calls_arrive()
    assert await job.confirm_server("7", 4000) is None
    assert watcher.pace.calls_arrive()
    watcher.stop()


async def test_a_server_found_through_its_comment_alone_ends_the_trust_in_calls(tmp_path, squeue):
    """The call of job 7's server came; job 8's server was found in its comment
    without one: booting jobs are looked at quickly again."""
    set_jobs(
        tmp_path,
        "7|RUNNING|node1|None|N/A|moss:port=4000",
        "8|RUNNING|node1|None|N/A|moss:port=4001",
    )
    watcher = watcher_for(squeue, interval=60, fast_interval=0.05, timeout=5)
    job = starting_job(watcher)
    for job_id in ("7", "8"):
        watcher.watch(job_id, owner="moss01", fast=True)
    assert await job.confirm_server("7", 4000) is None
    far = time.monotonic() + 30
    assert await job.wait_for_server("7", far, lambda: True, 30) == ("node1", 4000)
    assert watcher.pace.calls_arrive()
    assert await job.wait_for_server("8", far, lambda: True, 30) == ("node1", 4001)
    assert not watcher.pace.calls_arrive()
    watcher.stop()


async def test_the_trust_in_calls_does_not_wear_off_with_time(tmp_path, squeue):
    """A class starting at 9:00 after a quiet night: the servers' network is the same."""
    set_jobs(tmp_path, "7|RUNNING|node1|None|N/A|moss:port=4000")
    watcher = watcher_for(squeue, interval=60, fast_interval=0.05, timeout=5)
    watcher.watch("7", owner="moss01", fast=True)
    assert await starting_job(watcher).confirm_server("7", 4000) is None
    later, clock = time.monotonic() + 12 * 3600, time.monotonic
    time.monotonic = lambda: later  # no await until it is put back: the loop never sees it
    try:
        trusted = watcher.pace.calls_arrive()
        pause = watcher.pace.pause(known=True, booting=True, in_state_for=0.0)
    finally:
        time.monotonic = clock
    assert trusted
    assert pause == watcher.pace.start_interval
    watcher.stop()


async def test_a_pending_job_is_still_asked_about_quickly_at_first(tmp_path, squeue):
    set_jobs(tmp_path, "7|PENDING|(null)|Priority|N/A|moss:submit=abc")
    watcher = watcher_for(squeue, interval=60, fast_interval=0.1, timeout=5, pending_interval=5)
    watcher.watch("7", fast=True)
    times = await poll_times(tmp_path, watcher, 0.5)
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert gaps and gaps[0] < 0.2, gaps  # a start is seen within a fast pause
    watcher.stop()


async def test_a_server_that_reports_is_not_asked_about_again_and_again(tmp_path, squeue):
    set_jobs(tmp_path, "7|RUNNING|node1|None|N/A|moss:submit=abc")
    watcher = watcher_for(
        squeue,
        interval=60,
        fast_interval=0.1,
        timeout=5,
        start_interval=0.4,
        pending_interval=2.0,
    )
    watcher.watch("7", fast=True)
    await asyncio.sleep(1.0)
    set_jobs(tmp_path, "7|RUNNING|node1|None|N/A|moss:port=4000")
    # The server's call: asked at once, not at the next pause.
    asked = time.monotonic()
    assert await watcher.refresh(job_id="7")
    assert time.monotonic() - asked < 0.3
    assert watcher.status("7").port == 4000
    watcher.set_fast("7", False)  # what the spawner does once started
    before = polls(tmp_path)
    await asyncio.sleep(1.5)
    assert polls(tmp_path) == before  # at the common pace (60 s) from now on
    watcher.stop()


async def test_polls_at_the_slow_pace_do_not_keep_a_fixed_phase(tmp_path, squeue):
    set_jobs(tmp_path, "7|RUNNING|node1|None|N/A|moss:port=4000")
    watcher = watcher_for(squeue, interval=1.0, fast_interval=0.1, timeout=5)
    watcher.watch("7")
    finished = []
    while len(finished) < 10:
        await asyncio.sleep(0.005)
        if watcher.last_poll_finished and watcher.last_poll_finished not in finished:
            finished.append(watcher.last_poll_finished)
    watcher.stop()
    gaps = [b - a for a, b in zip(finished[1:-1], finished[2:], strict=True)]
    # never later than the interval (a job that ends is noticed within it) ...
    assert max(gaps) < 1.0 + 0.08, gaps
    assert min(gaps) > 1.0 - PAUSE_JITTER - 0.08, gaps
    # ... but not at a fixed period: 8 draws spread over 0.1 s
    assert max(gaps) - min(gaps) > 0.02, gaps


async def test_a_pending_job_backs_off_to_the_pending_pace_and_a_start_brings_the_quick_one(
    tmp_path, squeue
):
    set_jobs(tmp_path, "7|PENDING|(null)|Resources|N/A|moss:submit=abc")
    watcher = watcher_for(
        squeue, interval=60, fast_interval=0.1, timeout=5, start_interval=5, pending_interval=0.6
    )
    watcher.watch("7", fast=True)
    times = await poll_times(tmp_path, watcher, 3.0)
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert gaps[0] < 0.2, gaps
    assert max(gaps) < 0.6 + 0.1, gaps
    assert min(gaps[-2:]) > 0.6 * (1 - PAUSE_JITTER) - 0.05, gaps

    # The job starts: seen within the pending pace, then at the booting pace from
    # its start (0.4 s, 0.4 s, 0.8 s...), not at the pending pace it had reached.
    set_jobs(tmp_path, "7|RUNNING|node1|None|N/A|moss:submit=abc")
    changed = time.monotonic()
    while not watcher.status("7").running:
        await watcher.next_poll(1.0)
    assert time.monotonic() - changed < 0.6 + 0.1
    times = await poll_times(tmp_path, watcher, 1.0)
    assert len(times) >= 2, times

    # A new job is asked about at once, not at the pace of the first one.
    set_jobs(
        tmp_path,
        "7|RUNNING|node1|None|N/A|moss:submit=abc",
        "8|PENDING|(null)|None|N/A|moss:submit=def",
    )
    asked = time.monotonic()
    watcher.watch("8", fast=True)
    while watcher.status("8") is None and time.monotonic() - asked < 5:
        await asyncio.sleep(0.01)
    assert time.monotonic() - asked < 0.3
    assert watcher.status("8").state == "PENDING"
    watcher.stop()


async def test_callers_that_ask_together_share_one_poll_at_once(tmp_path, squeue):
    set_jobs(tmp_path, *(f"{i}|RUNNING|node1|None|N/A|moss:port=400{i}" for i in range(1, 6)))
    watcher = watcher_for(squeue, interval=60, fast_interval=0.1, timeout=5)
    for i in range(1, 6):
        watcher.watch(str(i))
    assert await watcher.refresh()
    before = polls(tmp_path)
    asked = time.monotonic()
    results = await asyncio.gather(*(watcher.refresh(job_id=str(i)) for i in range(1, 6)))
    assert all(results)
    assert time.monotonic() - asked < 0.3
    assert polls(tmp_path) - before == 1
    watcher.stop()


async def test_jobs_started_together_are_soon_asked_about_together(tmp_path, squeue):
    set_jobs(tmp_path, *(f"{i}|RUNNING|node1|None|N/A|moss:submit=x" for i in range(1, 9)))
    watcher = watcher_for(squeue, interval=60, fast_interval=0.1, timeout=5, start_interval=0.8)
    for i in range(1, 9):
        watcher.watch(str(i), fast=True)
        await asyncio.sleep(0.03)  # started over a quarter of a second
    await asyncio.sleep(3.0)
    # Each on its own would make about 8 polls in these 3 s: 64 for 8 jobs.
    assert polls(tmp_path) <= 20, polls(tmp_path)
    watcher.stop()


async def test_each_poll_asks_for_jobs_by_id_never_for_the_job_table(tmp_path, squeue):
    ids = [str(i) for i in range(100, 116)]
    set_jobs(tmp_path, *(f"{i}|RUNNING|node1|None|N/A|moss:port={4000 + int(i)}" for i in ids))
    watcher = watcher_for(squeue, interval=60, fast_interval=0.05, timeout=5)
    for job_id in ids:
        watcher.watch(job_id, owner="moss01")
    for _ in range(3):
        assert await watcher.refresh()
    assert all(watcher.status(i, "moss01").port == 4000 + int(i) for i in ids)
    # One scontrol per poll, one "show job" (a single-job request) per job ...
    assert 3 <= polls(tmp_path) <= 4
    # ... and no squeue listing several jobs in detail (that sends the whole table).
    for line in argvs(tmp_path, "squeue"):
        assert "--only-job-state" in line or "," not in line.split("--jobs ")[-1].split()[0]
    watcher.stop()


async def test_servers_booting_together_are_asked_about_in_one_request(tmp_path, squeue):
    booting = [str(i) for i in range(100, 116)]  # running, no port yet: a class starting
    pending = [str(i) for i in range(200, 204)]
    set_jobs(
        tmp_path,
        *(f"{i}|RUNNING|node1|None|N/A|moss:submit=ab" for i in booting),
        *(f"{i}|PENDING|(null)|Priority|N/A|moss:submit=ab" for i in pending),
    )
    watcher = watcher_for(squeue, interval=60, fast_interval=0.05, timeout=5)
    for job_id in booting + pending:
        watcher.watch(job_id, owner="moss01", fast=True)
    assert await watcher.refresh()  # the first look: each job by its id
    assert polls(tmp_path) == 1
    assert await watcher.refresh()
    # The 16 booting: one squeue listing them; the 4 pending: one request each.
    listings = [line for line in argvs(tmp_path, "squeue") if "--format" in line]
    assert len(listings) == 1 and ",".join(booting) in listings[0]
    assert polls(tmp_path) == 2
    assert all(watcher.status(j, "moss01").running for j in booting)
    assert all(watcher.status(j, "moss01").waiting for j in pending)
    watcher.stop()


async def test_where_slurm_limits_the_rate_a_spent_budget_brings_one_request_for_all(
    tmp_path, squeue, slurm_version
):
    slurm_version.write_text("slurm 24.11.5\n")
    ids = [str(i) for i in range(100, 104)]
    set_jobs(tmp_path, *(f"{i}|PENDING|(null)|Priority|N/A|moss:submit=ab" for i in ids))
    watcher = watcher_for(squeue, interval=60, fast_interval=0.05, timeout=5)
    for job_id in ids:
        watcher.watch(job_id, owner="moss01", fast=True)
    assert await watcher.refresh()
    assert polls(tmp_path) == 1  # 4 requests: within the budget
    watcher.query.budget.spend(watcher.query.budget.size)  # as after a burst
    listings = len([line for line in argvs(tmp_path, "squeue") if "--format" in line])
    assert await watcher.refresh()
    assert polls(tmp_path) == 1
    assert len([line for line in argvs(tmp_path, "squeue") if "--format" in line]) == listings + 1
    watcher.stop()


async def test_another_users_job_under_the_same_id_counts_as_gone(tmp_path, squeue):
    ended = []
    set_jobs(tmp_path, "5|RUNNING|node1|None|N/A|moss:port=4000|moss02")
    watcher = watcher_for(squeue, interval=60, fast_interval=0.05, timeout=5)
    watcher.watch("5", owner="moss01", on_finished=ended.append)
    assert await watcher.refresh()
    assert watcher.status("5", "moss01") is GONE
    assert ended == [GONE]
    # The same answer about the owner's own job is taken as it is.
    watcher.watch("6", owner="moss02")
    set_jobs(tmp_path, "6|RUNNING|node1|None|N/A|moss:port=4000|moss02")
    assert await watcher.refresh()
    assert watcher.status("6", "moss02").running and watcher.status("6", "moss02").user == "moss02"
    watcher.stop()


async def test_a_record_faking_its_fields_is_asked_again_through_squeue(tmp_path, squeue):
    # The owner's comment repeats "UserId=": scontrol's record is ambiguous.
    set_jobs(tmp_path, "8|RUNNING|node1|None|N/A|x UserId=moss01(1002)|moss03")
    watcher = watcher_for(squeue, interval=60, fast_interval=0.05, timeout=5)
    watcher.watch("8", owner="moss01")
    assert await watcher.refresh()
    assert calls(tmp_path, "squeue") == 1  # the one job, asked again by id
    assert watcher.status("8", "moss01") is GONE  # squeue says whose it really is
    watcher.stop()


@pytest.mark.parametrize("version, state_only", [("22.05.8", False), ("24.11.5", True)])
async def test_running_servers_are_asked_for_their_state_alone_where_slurm_can(
    tmp_path, squeue, slurm_version, version, state_only
):
    slurm_version.write_text(f"slurm {version}\n")
    set_jobs(
        tmp_path,
        "7|RUNNING|node1|None|N/A|moss:port=4000",
        "8|PENDING|(null)|Resources|N/A|moss:submit=abc",
    )
    watcher = watcher_for(squeue, interval=60, fast_interval=0.05, timeout=5)
    watcher.watch("7", owner="moss01")
    watcher.watch("8", owner="moss01")
    assert await watcher.refresh()  # first answer: in detail, owners checked
    for _ in range(3):
        assert await watcher.refresh()
    state_calls = [a for a in argvs(tmp_path, "squeue") if "--only-job-state" in a]
    details = [a for a in argvs(tmp_path, "scontrol")]
    if state_only:
        # The running server by its state; the pending job still in detail.
        assert len(state_calls) >= 3 and all(a.split()[-3] == "7" for a in state_calls)
        assert len(details) >= 4
    else:
        assert state_calls == []
    assert watcher.status("7", "moss01").port == 4000 and watcher.status("8", "moss01").waiting

    # A state that changes brings a detailed look, in the same poll.
    set_jobs(tmp_path, "7|TIMEOUT|node1|None|N/A|moss:port=4000", "8|RUNNING|node2|None|N/A|")
    assert await watcher.refresh()
    assert (
        watcher.status("7", "moss01").state == "TIMEOUT"
        and watcher.status("7", "moss01").user == "moss01"
    )
    assert watcher.status("8", "moss01").running
    watcher.stop()


async def test_two_owners_of_one_job_id_each_keep_their_own_watch(tmp_path, squeue):
    # Job ids start again after slurmctld loses its state: moss01's stale state and
    # moss02's new job share id 7. Each watch keeps its owner and its callback;
    # forgetting one leaves the other; Slurm is asked about the id once a poll.
    set_jobs(tmp_path, "7|RUNNING|node1|None|N/A|moss:port=4000|moss02")
    watcher = watcher_for(squeue, interval=60, fast_interval=0.05, timeout=5)
    ended = {"moss01": [], "moss02": []}
    watcher.watch("7", owner="moss02", on_finished=ended["moss02"].append)
    watcher.watch("7", owner="moss01", on_finished=ended["moss01"].append)
    assert await watcher.refresh()
    assert polls(tmp_path) == 1 and argvs(tmp_path, "scontrol")
    assert watcher.status("7", "moss01") is GONE  # not moss01's job
    assert watcher.status("7", "moss02").running
    assert ended == {"moss01": [GONE], "moss02": []}
    watcher.forget("7", "moss01")
    assert watcher.watched == ["7"]
    assert await watcher.refresh()
    assert watcher.status("7", "moss02").running
    # moss02's job ends: its own callback, once.
    set_jobs(tmp_path, "7|COMPLETED|node1|None|N/A|moss:port=4000|moss02")
    assert await watcher.refresh()
    assert watcher.status("7", "moss02").finished
    assert len(ended["moss02"]) == 1 and ended["moss01"] == [GONE]
    watcher.stop()


def test_the_request_budget_refills_at_its_rate_and_never_above_its_size():
    from jupyterhub_moss.slurm.jobquery import RequestBudget

    now = [0.0]
    budget = RequestBudget(size=10, rate=2, clock=lambda: now[0])
    assert budget.take(8)
    assert not budget.take(3)  # 2 left: nothing spent
    assert budget.take(2)
    now[0] = 1.0  # 2 more
    assert not budget.take(3) and budget.take(2)
    budget.spend(3)  # a request that must be made: the bucket owes 3
    now[0] = 2.0
    assert not budget.take(1)
    assert budget.wait_time(2) == pytest.approx((2 - (-1)) / 2)  # owes 1, wants 2, at 2/s
    now[0] = 100.0
    assert budget.wait_time(2) == 0
    assert budget.take(10) and not budget.take(1)  # refilled to its size, not beyond
