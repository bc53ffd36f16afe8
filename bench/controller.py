"""What following the users' jobs costs slurmctld, with a realistic queue: this
project and jupyterhub-moss 10.1.0 side by side, on the same local cluster.

The figure is the controller's own time per minute: the sum, over every RPC type
the hub causes, of sdiag's ``total_time``, with the RPC count beside it. The
queue holds N held jobs of another user (N = 0, 1,000, 4,000), submitted in
batches. For each implementation, one hub goes through these steps:

- 8 users' servers pending behind a job that fills the partition; after the
  first 30 s (a job waiting for free nodes may wait for hours), a window at each
  queue size;
- 8 more (16 pending), a window at each queue size;
- the partition freed: all 16 start, 8 are stopped, and 8 running servers give
  a window at each queue size (``--running-window``, longer: the hubs make only a
  few calls a minute then, and one that waits on a lock must not stand for all).

Then 64 users press Start within one second (this project only): every server
must become ready or fail with a message; the hub's event-loop lag and the time
until the last server is ready are printed.

Run through bench/run.sh --controller (as root). Loads stay on this machine.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

from bench.sections import write_section
from bench.steady import (
    COMMON,
    IMPLS,
    OURS,
    THEIRS,
    USERS,
    Impl,
    log,
    login,
    machine,
    make_wrappers,
    spawn_form,
    stop_and_wait_gone,
    wait_status,
    wrapper_calls,
)
from tests.support.hubtools import Hub, active_jobs, block_partition, cancel_all, slurm

QUEUE_USER = "moss-demo"  # the other user whose held jobs fill the queue
QUEUE_NAME = "moss-bench-filler"


# ---- the controller's figures ----------------------------------------------------


def sdiag_rpcs() -> dict[str, tuple[int, int]]:
    """``{rpc_type: (count, total_time in microseconds)}`` from sdiag."""
    out = slurm("sdiag")
    section = out.split("Remote Procedure Call statistics by message type", 1)[1]
    section = section.split("Remote Procedure Call statistics by user", 1)[0]
    pattern = r"^\s*(\w+)\s+\(\s*\d+\)\s+count:(\d+)\s+ave_time:\d+\s+total_time:(\d+)"
    return {name: (int(c), int(t)) for name, c, t in re.findall(pattern, section, re.M)}


def controller_window(wrappers: Path, seconds: float) -> dict:
    """RPCs and controller time per minute over ``seconds``, and the Slurm commands
    the hub started (from its logging wrappers)."""
    before = sdiag_rpcs()
    t0 = time.time()
    time.sleep(seconds)
    t1 = time.time()
    after = sdiag_rpcs()
    scale = 60 / (t1 - t0)
    by_type = {}
    for name, (count, total) in after.items():
        if name == "REQUEST_STATS_INFO":  # sdiag's own
            continue
        c0, u0 = before.get(name, (0, 0))
        if count > c0:
            by_type[name] = {
                "per_min": (count - c0) * scale,
                "ms_per_min": (total - u0) * scale / 1000,
            }
    return {
        "rpcs_per_min": sum(v["per_min"] for v in by_type.values()),
        "ms_per_min": sum(v["ms_per_min"] for v in by_type.values()),
        "by_type": by_type,
        "processes_per_min": sum(wrapper_calls(wrappers, t0, t1).values()) * scale,
    }


# ---- the queue ---------------------------------------------------------------------


def queued() -> list[str]:
    out = slurm("squeue", "-h", "-u", QUEUE_USER, "-n", QUEUE_NAME, "-o", "%i")
    return out.split()


def set_queue(size: int) -> None:
    """Make the queue hold ``size`` held jobs of QUEUE_USER."""
    jobs = queued()
    if len(jobs) > size:
        extra = jobs[size:]
        for i in range(0, len(extra), 500):
            slurm("scancel", *extra[i : i + 500])
    missing = size - len(jobs)
    script = (
        f"for i in $(seq {{n}}); do sbatch -Q --hold -t 1 -J {QUEUE_NAME} "
        "--chdir=/tmp --output=/dev/null --wrap true || exit 1; done"
    )
    with ThreadPoolExecutor(4) as pool:
        batches = [min(250, missing - i) for i in range(0, max(missing, 0), 250)]
        list(
            pool.map(
                lambda n: subprocess.run(
                    ["sudo", "-u", QUEUE_USER, "bash", "-c", script.format(n=n)],
                    check=True,
                    capture_output=True,
                ),
                batches,
            )
        )
    deadline = time.time() + 120
    while abs(len(queued()) - size) > 0 and time.time() < deadline:
        time.sleep(1)
    time.sleep(3)  # let the controller settle (submissions, cancellations)


# ---- one implementation --------------------------------------------------------------


def measure_impl(impl: Impl, workdir: Path, args) -> dict:
    wrappers = make_wrappers(workdir / "wrappers")
    hub = impl.hub(workdir / "hub", wrappers)
    blocker = block_partition(user=QUEUE_USER, minutes=60)
    cells: dict[str, dict] = {}
    clients = {}
    try:
        for n in (8, 16):
            new_users = USERS[len(clients) : n]
            with ThreadPoolExecutor(8) as pool:
                logged_in = pool.map(lambda u: login(hub, u), new_users)
                clients.update(zip(new_users, logged_in, strict=True))
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(lambda u: spawn_form(hub, clients[u], impl), new_users))
            deadline = time.time() + 60
            while time.time() < deadline and sum(len(active_jobs(u)) for u in USERS[:n]) < n:
                time.sleep(0.5)
            time.sleep(args.grace)  # past the first 30 s of waiting
            for size in args.queues if n == 8 else reversed(args.queues):
                set_queue(size)
                cells[f"{n} pending, {size} queued"] = cell = controller_window(
                    wrappers, args.window
                )
                log(f"{impl.name}: {n} pending, {size} queued: {cell['ms_per_min']:.1f} ms/min")
        slurm("scancel", blocker)
        for user in USERS[:16]:
            wait_status(hub, clients[user], user, timeout=600)
        with ThreadPoolExecutor(8) as pool:
            gone = list(pool.map(lambda u: stop_and_wait_gone(hub, u), USERS[8:16]))
        stop_median = statistics.median(gone)
        time.sleep(20)  # quick polls end once nothing is starting or stopping
        for size in args.queues:
            set_queue(size)
            # A few calls a minute: a longer window, once the controller has settled
            # after the queue's change, so that one call that waits on a lock does not
            # stand for the whole cell.
            time.sleep(args.running_settle)
            cells[f"8 running, {size} queued"] = cell = controller_window(
                wrappers, args.running_window
            )
            log(f"{impl.name}: 8 running, {size} queued: {cell['ms_per_min']:.1f} ms/min")
        return {"cells": cells, "stop_to_gone_median_s": stop_median}
    finally:
        slurm("scancel", blocker, check=False)
        hub.stop()
        cancel_all(USERS)
        set_queue(0)


# ---- 64 users at once ------------------------------------------------------------------


def ensure_users(names: list[str]) -> None:
    for name in names:
        if subprocess.run(["id", name], capture_output=True).returncode != 0:
            subprocess.run(["useradd", "-m", "-s", "/bin/bash", name], check=True)


def event_loop_lag(hub, stop: threading.Event, samples: list[float]) -> None:
    """The hub's event-loop lag, seen from outside: how much longer than usual a
    trivial API request takes (it is served by the loop alone)."""
    import httpx

    with httpx.Client(timeout=30) as client:
        while not stop.is_set():
            t0 = time.perf_counter()
            client.get(f"{hub.url}/hub/api/")
            samples.append((time.perf_counter() - t0) * 1000)
            time.sleep(0.1)


def measure_burst(impl: Impl, workdir: Path, users: list[str]) -> dict:
    ensure_users(users)
    wrappers = make_wrappers(workdir / "wrappers-burst")
    hub = Hub(
        workdir / "hub-burst",
        COMMON + f"c.Authenticator.allowed_users = set({users!r})\n",
        venv=impl.venv,
        spawner_config=impl.config(wrappers),
    ).start()
    try:
        with ThreadPoolExecutor(16) as pool:
            clients = dict(zip(users, pool.map(lambda u: login(hub, u), users), strict=True))
        samples: list[float] = []
        stop = threading.Event()
        sampler = threading.Thread(target=event_loop_lag, args=(hub, stop, samples))
        sampler.start()
        started = time.perf_counter()
        barrier = threading.Barrier(len(users))

        def press_start(user):
            barrier.wait()
            return time.perf_counter(), spawn_form(hub, clients[user], impl, "long")

        with ThreadPoolExecutor(len(users)) as pool:
            pressed = [t for t, _ in pool.map(press_start, users)]

        def outcome(user):
            try:
                return wait_status(hub, clients[user], user, timeout=900) - started, None
            except RuntimeError as e:
                model = hub.server_model(user)
                return None, f"{e}; hub says {json.dumps(model)[:300]}"

        with ThreadPoolExecutor(len(users)) as pool:
            outcomes = list(pool.map(outcome, users))
        stop.set()
        sampler.join()
        ready = [t for t, err in outcomes if t is not None]
        failed = [err for t, err in outcomes if err is not None]
        jobs = {u: active_jobs(u) for u in users}
        orphans = [u for u, j in jobs.items() if len(j) > 1 or (len(j) == 1 and not ready)]
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda u: hub.api("DELETE", f"/users/{u}/server"), users))
        return {
            "users": len(users),
            "pressed_within_s": max(pressed) - min(pressed),
            "ready": len(ready),
            "failed": failed,
            "orphans": orphans,
            "last_ready_s": max(ready) if ready else None,
            "loop_lag_p50_ms": statistics.median(samples),
            "loop_lag_p99_ms": sorted(samples)[int(0.99 * (len(samples) - 1))],
        }
    finally:
        time.sleep(5)
        hub.stop()
        cancel_all(users)


# ---- report ------------------------------------------------------------------------------


def slurm_version() -> str:
    return slurm("sinfo", "--version").strip()


def report(results: dict, queues) -> str:
    ours, theirs = results[OURS], results[THEIRS]
    lines = [
        f"Run of {results['date']} on {results['machine']}.",
        "",
        "| cell | ours: ms/min | 10.1.0: ms/min | ratio | ours: RPCs/min | 10.1.0: RPCs/min "
        "| ours: commands/min | 10.1.0: commands/min |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for cell, a in ours["cells"].items():
        b = theirs["cells"][cell]
        ratio = a["ms_per_min"] / b["ms_per_min"] if b["ms_per_min"] else float("nan")
        lines.append(
            f"| {cell} | {a['ms_per_min']:.1f} | {b['ms_per_min']:.1f} | {ratio:.2f} "
            f"| {a['rpcs_per_min']:.0f} | {b['rpcs_per_min']:.0f} "
            f"| {a['processes_per_min']:.0f} | {b['processes_per_min']:.0f} |"
        )
    lines += ["", "| target | measured | wanted | met |", "|---|---:|---|---|"]

    def target(what, value, wanted, ok):
        lines.append(f"| {what} | {value:.2f} | {wanted} | {'yes' if ok else 'NO'} |")

    for cell, a in ours["cells"].items():
        b = theirs["cells"][cell]["ms_per_min"]
        ratio = a["ms_per_min"] / b if b else float("inf")
        if "pending" in cell:
            target(f"{cell}: ours / 10.1.0", ratio, "<= 0.20", ratio <= 0.2)
        else:
            wanted = 0.2 if results["slurm_minor"] >= (24, 11) else 1.0
            target(f"{cell}: ours / 10.1.0", ratio, f"<= {wanted:.2f}", ratio <= wanted)
    for load in ("8 pending", "16 pending", "8 running"):
        big = ours["cells"][f"{load}, {max(queues)} queued"]["ms_per_min"]
        small = ours["cells"][f"{load}, {min(queues)} queued"]["ms_per_min"]
        growth = big / small if small else float("inf")
        what = f"{load}: ours at {max(queues)} queued / at {min(queues)}"
        target(what, growth, "<= 1.50", growth <= 1.5)
    a, b = ours["stop_to_gone_median_s"], theirs["stop_to_gone_median_s"]
    target(f"stop to job gone, ours {a:.2f} s / 10.1.0 {b:.2f} s", a / b, "<= 1.00", a <= b)
    burst = results.get("burst")
    if burst:
        ok = burst["ready"] == burst["users"] and not burst["orphans"]
        lines += [
            "",
            f"{burst['users']} users pressed Start within {burst['pressed_within_s']:.2f} s: "
            f"{burst['ready']} servers ready, {len(burst['failed'])} failed, "
            f"{len(burst['orphans'])} orphaned jobs; last server ready after "
            f"{burst['last_ready_s']:.1f} s; hub event-loop lag p50 "
            f"{burst['loop_lag_p50_ms']:.1f} ms, p99 {burst['loop_lag_p99_ms']:.1f} ms "
            f"({'met' if ok else 'NOT met'}).",
        ]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--window", type=float, default=30)
    parser.add_argument("--grace", type=float, default=35)
    parser.add_argument(
        "--running-window", type=float, default=120,
        help="seconds measured for each cell with servers running (few calls each minute)",
    )  # fmt: skip
    parser.add_argument("--running-settle", type=float, default=15)
    parser.add_argument("--burst", type=int, default=64)
    parser.add_argument("--queues", type=int, nargs="+", default=[0, 1000, 4000])
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--no-doc", dest="write_doc", action="store_false",
        help="do not rewrite this Slurm version's section of docs/benchmarks.md",
    )  # fmt: skip
    args = parser.parse_args()

    cancel_all(USERS)
    set_queue(0)
    version = slurm_version()
    minor = tuple(int(x) for x in re.search(r"(\d+)\.(\d+)", version).groups())
    results = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "slurm": version,
        "slurm_minor": minor,
    }
    with tempfile.TemporaryDirectory(prefix="moss-bench-ctld-") as tmp:
        workdir = Path(tmp)
        workdir.chmod(0o755)
        series = f"{minor[0]}.{minor[1]:02d}"  # as Slurm names its releases: 22.05, 24.11
        saved = Path(__file__).parent / f"controller-{series}.json"

        def save():  # kept as it comes: a later step that fails loses nothing measured
            saved.write_text(json.dumps(results, indent=1, default=str))

        for impl in IMPLS:
            log(f"== {impl.name}")
            results[impl.name] = measure_impl(impl, workdir / impl.venv.name, args)
            stop_s = results[impl.name]["stop_to_gone_median_s"]
            log(f"{impl.name}: stop to job gone {stop_s:.2f} s")
            save()
        if args.burst:
            log(f"== {args.burst} users press Start at once")
            users = [f"moss{i:02d}" for i in range(1, args.burst + 1)]
            results["burst"] = measure_burst(IMPLS[0], workdir / "burst", users)
            save()
    text = report(results, args.queues)
    print(text)
    if args.out:
        args.out.write_text(text)
    if args.write_doc:
        write_section(
            f"controller-{series}",
            f"## slurmctld's time with a big queue, Slurm {series}\n\n"
            "`bench/run.sh --controller` (Slurm 22.05 on the host) and "
            "`bench/run.sh --controller-slurm24` (Slurm 24.11 in its chroot): the sum of "
            "sdiag's `total_time` over every RPC type the hub causes, per minute, with the "
            "RPC count and the Slurm commands the hub started; the queue holds that many "
            "held jobs of another user. Both implementations run in the same run, one after "
            "the other, with JupyterHub 6.1.1. With servers running, both ask every 30 s: "
            "this project's `slurm_poll_interval`, JupyterHub's `poll_interval` for 10.1.0; "
            "on Slurm >= 23.02 this project asks for states only (REQUEST_JOB_STATE), one "
            "call for all jobs.\n\n" + text,
        )


if __name__ == "__main__":
    main()
