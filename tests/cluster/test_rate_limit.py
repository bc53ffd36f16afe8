"""The hub's queries stay within slurmctld's per-user RPC rate limit
(``SlurmctldParameters=rl_enable``, Slurm >= 23.02), on the real 24.11 cluster.

slurmctld does not limit root or its SlurmUser, so the hub's job watcher asks
Slurm here through commands run as an ordinary account (moss16), as at a site
where the hub runs unprivileged. It follows 200 running servers' jobs, 200 pending
ones, then 64 more that start together and whose servers call (a refresh each);
slurmctld's log (``rl_log_freq=0``: every back-off logged) must name no request
of that account. A flood of queries by another account shows that the log does
say so.
"""

import asyncio
import pwd
import re
import subprocess
import time
from pathlib import Path

import pytest
from support.hubtools import shared_folder, slurm, write_script

from jupyterhub_moss.slurm.watcher import JobWatcher

pytestmark = pytest.mark.cluster

HUB_ACCOUNT = "moss16"  # whose queries the rate limit counts
FLOODER = "moss15"
NAME = "moss-rl-test"


def config() -> dict[str, str]:
    out = slurm("scontrol", "show", "config")
    return dict(re.findall(r"^(\w+)\s+=\s+(.*?)\s*$", out, re.M))


@pytest.fixture
def rate_limited():
    """The cluster's slurmctld log, if it limits the rate; skip otherwise."""
    settings = config()
    if "rl_enable" not in settings.get("SlurmctldParameters", ""):
        pytest.skip("this cluster's slurmctld does not limit the rate (Slurm < 23.02)")
    return Path(settings["SlurmctldLogFile"])


def backoffs(log: Path, since: int, user: str) -> list[str]:
    uid = pwd.getpwnam(user).pw_uid
    text = log.read_bytes()[since:].decode(errors="replace")
    return [
        line
        for line in text.splitlines()
        if "rate limit exceeded" in line and re.search(rf"\buid {uid}\b", line)
    ]


def submit(count: int, *args: str) -> list[str]:
    """Jobs of root (whom slurmctld does not limit), ``count`` of them."""
    ids = []
    for _ in range(count):
        out = slurm(
            "sbatch", "--parsable", "-J", NAME, "-p", "cpu,gpu,long,gpumix", "-c", "1", "--mem=10",
            "-t", "30", "--output=/dev/null", "--chdir=/tmp", *args, "--wrap", "sleep 600",
        )  # fmt: skip
        ids.append(out.strip().split(";")[0])
    return ids


def wait_running(ids: list[str], timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        out = slurm("squeue", "-h", "-n", NAME, "-t", "RUNNING", "-o", "%i")
        if set(ids) <= set(out.split()):
            return
        time.sleep(1)
    raise AssertionError("the jobs did not all start")


def test_a_flood_of_queries_is_told_to_back_off_and_logged(rate_limited):
    log = rate_limited
    since = log.stat().st_size
    # One request each: 45 of them, beyond the bucket's 30.
    flood = "for i in $(seq 1 45); do scontrol show job 1 >/dev/null 2>&1; done"
    subprocess.run(["runuser", "-u", FLOODER, "--", "bash", "-c", flood], check=False)
    assert backoffs(log, since, FLOODER), "slurmctld logged no back-off of the flood"


def test_the_watchers_queries_stay_within_the_rate_limit(rate_limited):
    log = rate_limited
    with shared_folder() as folder:
        for command in ("squeue", "scontrol"):
            write_script(
                folder / command,
                f'#!/bin/bash\nexec runuser -u {HUB_ACCOUNT} -- /usr/bin/{command} "$@"\n',
            )
        try:
            running = submit(200, "--comment=moss:port=40000")
            pending = submit(200, "--hold")
            wait_running(running)
            since = log.stat().st_size
            asyncio.run(follow(folder, running, pending))
            found = backoffs(log, since, HUB_ACCOUNT)
        finally:
            slurm("scancel", "-n", NAME, check=False)
    assert found == [], found[:5]


async def follow(folder: Path, running: list[str], pending: list[str]) -> None:
    """What a hub's watcher does: 200 running servers, 200 pending, then 64 starting
    together whose servers call, with the spawner's default paces."""
    watcher = JobWatcher(
        squeue=str(folder / "squeue"),
        scontrol=str(folder / "scontrol"),
        interval=30,
        fast_interval=0.5,
        timeout=30,
        start_interval=15,
        pending_interval=5,
    )
    try:
        for job_id in running:
            watcher.watch(job_id, owner="root")
        for job_id in pending:
            watcher.watch(job_id, owner="root", fast=True)
        assert await watcher.refresh()
        assert all(watcher.status(j, "root").port == 40000 for j in running)
        assert all(watcher.status(j, "root").state == "PENDING" for j in pending)
        await asyncio.sleep(30)

        # A class presses Start: 64 jobs start, and their servers call one by one.
        starting = submit(64)
        for job_id in starting:
            watcher.watch(job_id, owner="root", fast=True)
        await asyncio.to_thread(wait_running, starting)
        for i, job_id in enumerate(starting):
            slurm("scontrol", "update", f"JobId={job_id}", "Comment=moss:port=40001")
            await watcher.refresh(job_id=job_id, fresh=True)
            assert watcher.status(job_id, "root").port == 40001
            await asyncio.sleep(0.3 if i % 8 else 1.0)
        await asyncio.sleep(5)
    finally:
        watcher.stop()
