"""A class pressing Start at once: what this project and jupyterhub-moss 10.1.0 cost
slurmctld, the hub and the node, side by side on the same local cluster.

For each number of users (32 and 64 by default), and for each implementation in
turn, one hub with its own users:

- every user logs in first, and one user's server is started and stopped (at 9:00
  a hub has served someone since its last restart); then all press Start on the
  spawn form (partition ``long``, 1 CPU) within a fraction of a second;
- each user's client then asks the hub's REST API once a second whether their
  server is ready, so that the benchmark's own polling does not load the hub;
- slurmd, and so the jobs and the Jupyter servers booting, run on CPU 1; the hub
  and its proxy on CPU 0, so that the servers booting do not starve the hub;
- both start their servers from the same Jupyter environment (10.1.0's).

Figures, from the press until the last server is ready: slurmctld's RPCs and its
time (the sum of sdiag's ``total_time``), the Slurm processes the hub started
(logging wrappers in front of the real commands), the CPU of the hub's own
process and of the commands it waited for (``/proc/PID/stat``), when the last
server was ready, and the hub's event-loop intervals (JupyterHub's
``jupyterhub_event_loop_interval_seconds`` histogram: its largest bucket and the
bucket of its 99th percentile).

Run through bench/run.sh --burst (as root). Loads stay on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

from bench.controller import sdiag_rpcs
from bench.sections import write_section
from bench.steady import (
    COMMON,
    OURS,
    OURS_VENV,
    THEIRS,
    THEIRS_VENV,
    USERS,
    Impl,
    log,
    machine,
    make_wrappers,
    measure_spawn_times,
    ours_config,
    spawn_form,
    theirs_config,
    wrapper_calls,
)
from bench.steady import IMPLS as BENCH_IMPLS
from tests.support.hubtools import Hub, active_jobs, cancel_all


def ours_on_the_same_stack(wrappers):
    """This project's config, its jobs starting the servers of the same Jupyter
    environment as 10.1.0's (only the spawners differ)."""
    return ours_config(wrappers).replace(str(OURS_VENV), str(THEIRS_VENV))


IMPLS = [Impl(OURS, OURS_VENV, ours_on_the_same_stack), Impl(THEIRS, THEIRS_VENV, theirs_config)]

CLK_TCK = os.sysconf("SC_CLK_TCK")
#: The CPU that slurmd, and so the jobs and their servers, are pinned to.
NODE_CPU = 1


# ---- the figures -----------------------------------------------------------------


def rpc_delta(before, after) -> dict[str, tuple[int, int]]:
    delta = {}
    for name, (count, total) in after.items():
        c0, t0 = before.get(name, (0, 0))
        if name != "REQUEST_STATS_INFO" and count > c0:  # not sdiag's own calls
            delta[name] = (count - c0, total - t0)
    return delta


def cpu_times(pid: int) -> tuple[float, float]:
    """(own CPU, CPU of the children it waited for) of a process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return (utime + stime) / CLK_TCK, (cutime + cstime) / CLK_TCK


def cpu_busy(cpu: int) -> float:
    """Seconds CPU ``cpu`` has been busy since boot (/proc/stat: all but idle and
    iowait)."""
    for line in Path("/proc/stat").read_text().splitlines():
        fields = line.split()
        if fields[0] == f"cpu{cpu}":
            ticks = [int(x) for x in fields[1:9]]
            return (sum(ticks) - ticks[3] - ticks[4]) / CLK_TCK
    raise ValueError(f"no cpu{cpu} in /proc/stat")


def loop_histogram(hub: Hub) -> dict[float, float]:
    """The cumulative counts of JupyterHub's event-loop interval histogram, by bound."""
    counts = {}
    for (name, labels), value in hub.metric_samples().items():
        if name == "jupyterhub_event_loop_interval_seconds_bucket":
            bound = dict(labels)["le"]
            counts[float("inf") if bound == "+Inf" else float(bound)] = value
    return counts


def loop_intervals(before: dict, after: dict) -> tuple[float, float]:
    """(the bound of the largest interval's bucket, the bound of the p99's bucket)."""
    delta = sorted((bound, after[bound] - before.get(bound, 0)) for bound in after)
    total = delta[-1][1]
    largest = next(bound for bound, n in delta if n >= total)
    p99 = next(bound for bound, n in delta if n >= 0.99 * total)
    return largest, p99


# ---- pinning ---------------------------------------------------------------------


def pids_of(program: str) -> list[int]:
    out = subprocess.run(["pgrep", "-x", program], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def pin(pids, cpus: str) -> None:
    for pid in pids:
        subprocess.run(["taskset", "-a", "-p", "-c", cpus, str(pid)], capture_output=True)


def proxy_pid(hub: Hub) -> int | None:
    try:
        return int((hub.workdir / "proxy.pid").read_text().strip())
    except (OSError, ValueError):
        return None


# ---- one burst -------------------------------------------------------------------


def nodes_back_in_service(partition: str, timeout: float = 300) -> None:
    """Every node of ``partition`` in service before a round, so that each round has
    the same nodes: once the jobs of the last round have left them, a node that its
    teardown drained ("Kill task failed": servers on a loaded node that did not die
    within Slurm's time) is resumed. A node drained for any other reason stops the
    benchmark."""
    deadline = time.time() + timeout
    # The last round's jobs gone first, COMPLETING ones too: a teardown still under
    # way may drain a node once this round has begun.
    while (
        time.time() < deadline
        and subprocess.run(
            ["squeue", "-h", "-p", partition, "-o", "%i"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    ):
        time.sleep(2)
    while True:
        out = subprocess.run(
            ["sinfo", "-h", "-N", "-p", partition, "-o", "%N|%T|%E"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        drained = {}
        for line in set(out.splitlines()):
            node, state, reason = line.split("|", 2)
            if "drain" in state:
                drained[node] = (state, reason)
        if not drained:
            return
        for node, (state, reason) in sorted(drained.items()):
            if "Kill task failed" not in reason:
                raise RuntimeError(f"node {node} is {state}: {reason}")
            if state.startswith("drained"):
                log(f"{node} was drained by the last teardown ({reason}): resumed")
                subprocess.run(
                    ["scontrol", "update", f"nodename={node}", "state=resume"], check=True
                )
        if time.time() > deadline:
            raise RuntimeError(f"nodes still drained: {drained}")
        time.sleep(2)


def ensure_users(names: list[str]) -> None:
    """The users, with a Slurm association (account ``moss``, as the test users) where
    the cluster keeps accounts."""
    for name in names:
        if subprocess.run(["id", name], capture_output=True).returncode != 0:
            subprocess.run(["useradd", "-m", "-s", "/bin/bash", name], check=True)
    known = subprocess.run(
        ["sacctmgr", "-nP", "show", "assoc", "format=User"], capture_output=True, text=True
    )
    if known.returncode != 0:
        return  # no accounting
    missing = sorted(set(names) - set(known.stdout.split()))
    if missing:
        subprocess.run(
            ["sacctmgr", "-i", "add", "user", ",".join(missing), "Account=moss",
             "DefaultAccount=moss"],
            check=True, capture_output=True,
        )  # fmt: skip


def server_state(client, user: str) -> str:
    """``ready``, ``pending`` or ``gone`` (failed or stopped), as the user's own
    client sees it (the user model, without the admin's view of the spawner state)."""
    try:
        r = client.get(f"/hub/api/users/{user}", headers=Hub.xsrf(client))
        model = r.json().get("servers", {}).get("")
    except Exception:  # a dropped connection under load: ask again
        return "pending"
    if not model:
        return "gone"
    return "ready" if model.get("ready") else "pending"


def loopwatch_config(path: Path) -> str:
    """Hub config lines that start bench/loopwatch.py's recorder, writing to PATH."""
    here = str(Path(__file__).resolve().parent)
    return (
        f"import sys\nsys.path.insert(0, {here!r})\nimport loopwatch\n"
        f"loopwatch.start({str(path)!r})\n"
    )


def warm_up(hub: Hub, client, user: str, impl: Impl, partition: str) -> None:
    """One server started and stopped before the class presses Start: at 9:00 a hub
    has served someone since it was last restarted."""
    spawn_form(hub, client, impl, partition)
    deadline = time.time() + 300
    while time.time() < deadline and server_state(client, user) not in ("ready", "gone"):
        time.sleep(1.0)
    hub.api("DELETE", f"/users/{user}/server")
    while time.time() < deadline and active_jobs(user):
        time.sleep(1.0)


def measure(
    impl: Impl, workdir: Path, users: list[str], partition: str, watch: bool = False
) -> dict:
    wrappers = make_wrappers(workdir / "wrappers")
    hub = Hub(
        workdir / "hub",
        COMMON
        + (loopwatch_config(workdir / "loopwatch.jsonl") if watch else "")
        # 10.1.0 hands JupyterHub the port before its server boots, and JupyterHub
        # then waits http_timeout for it: with 64 servers booting on one core, 120 s
        # lost it 52 of them. Both get the time they need here.
        + "c.Spawner.http_timeout = 900\n"
        + f"c.Authenticator.allowed_users = set({users!r})\n",
        venv=impl.venv,
        spawner_config=impl.config(wrappers),
        # asyncio's debug mode logs each callback that holds the loop for long.
        env={"PYTHONASYNCIODEBUG": "1"} if os.environ.get("MOSS_BENCH_ASYNCIO_DEBUG") else None,
    ).start()
    pin([hub.proc.pid, proxy_pid(hub) or hub.proc.pid], "0")
    try:
        with ThreadPoolExecutor(16) as pool:
            clients = dict(zip(users, pool.map(hub.login, users), strict=True))
            # The spawn page once each, as users do before they press Start.
            list(pool.map(lambda u: clients[u].get("/hub/spawn"), users))
        warm_up(hub, clients[users[0]], users[0], impl, partition)
        time.sleep(2)
        rpcs0, cpu0, loop0 = sdiag_rpcs(), cpu_times(hub.proc.pid), loop_histogram(hub)
        node0 = cpu_busy(NODE_CPU)
        barrier = threading.Barrier(len(users))

        def press_start(user):
            barrier.wait()
            pressed = time.time()
            spawn_form(hub, clients[user], impl, partition)
            return pressed

        with ThreadPoolExecutor(len(users)) as pool:
            pressed = list(pool.map(press_start, users))
        first = min(pressed)

        def wait_ready(user):
            deadline = first + 900
            while time.time() < deadline:
                state = server_state(clients[user], user)
                if state == "ready":
                    return time.time() - first
                if state == "gone":
                    log(f"{user}'s server failed: {hub.server_model(user)}")
                    return None
                time.sleep(1.0)
            return None

        with ThreadPoolExecutor(len(users)) as pool:
            ready = list(pool.map(wait_ready, users))
        until = time.time()
        rpcs = rpc_delta(rpcs0, sdiag_rpcs())
        cpu1 = cpu_times(hub.proc.pid)
        node_cpu = cpu_busy(NODE_CPU) - node0
        loop_max, loop_p99 = loop_intervals(loop0, loop_histogram(hub))
        done = [t for t in ready if t is not None]
        processes = wrapper_calls(wrappers, first - 1, until, hub_only=True)
        result = {
            "users": len(users),
            "pressed_within_s": max(pressed) - first,
            "ready": len(done),
            "last_ready_s": max(done) if done else None,
            "rpcs": sum(c for c, _ in rpcs.values()),
            "rpcs_by_type": {k: c for k, (c, _) in sorted(rpcs.items())},
            "rpc_ms_by_type": {k: round(t / 1000, 1) for k, (_, t) in sorted(rpcs.items())},
            "controller_ms": sum(t for _, t in rpcs.values()) / 1000,
            "processes": sum(processes.values()),
            "processes_by_command": processes,
            "hub_cpu_per_spawn_ms": (cpu1[0] - cpu0[0]) * 1000 / len(users),
            "children_cpu_s": cpu1[1] - cpu0[1],
            "loop_max_s": loop_max,
            "loop_p99_s": loop_p99,
            "node_cpu_per_spawn_ms": node_cpu * 1000 / len(users),
        }
        result["total_cpu_per_spawn_ms"] = result["hub_cpu_per_spawn_ms"] + result[
            "children_cpu_s"
        ] * 1000 / len(users)
        log(f"{impl.name}: {json.dumps(result)}")
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda u: hub.api("DELETE", f"/users/{u}/server"), users))
        deadline = time.time() + 120
        while time.time() < deadline and any(active_jobs(u) for u in users):
            time.sleep(1)
        return result
    finally:
        hub.stop()
        cancel_all(users)


# ---- a starting job's own cost on its node ---------------------------------------


def batch_shell(job_id: str) -> int | None:
    """The pid of the job's batch script (bash), found through its environment."""
    out = subprocess.run(["pgrep", "-f", "slurm_script"], capture_output=True, text=True).stdout
    for pid in out.split():
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"SLURM_JOB_ID={job_id}".encode() in environ:
            return int(pid)
    return None


def measure_job_wait(workdir: Path, boot: float = 40.0, window: float = 30.0) -> dict:
    """The CPU that a job's script spends waiting for a server that takes ``boot``
    seconds to answer: its own and that of the processes it waited for, over
    ``window`` seconds of the wait (from 5 s into it)."""
    workdir.mkdir(parents=True, exist_ok=True)
    workdir.chmod(0o755)
    server = workdir / "slow-server"
    server.write_text(
        f'#!/bin/bash\nsleep {boot}\nexec {THEIRS_VENV}/bin/jupyterhub-singleuser "$@"\n'
    )
    server.chmod(0o755)
    hub = Hub(
        workdir / "hub",
        COMMON + f"c.Spawner.cmd = [{str(server)!r}]\n",
        venv=OURS_VENV,
        spawner_config=ours_on_the_same_stack(None),
    ).start()
    user = "moss01"
    try:
        hub.api("POST", f"/users/{user}/server", json={"user_options": {"partition": "cpu"}})
        pid = None
        deadline = time.time() + 60
        while pid is None and time.time() < deadline:
            jobs = active_jobs(user)
            pid = batch_shell(jobs[0]) if jobs else None
            time.sleep(0.2)
        time.sleep(5)
        own0, children0 = cpu_times(pid)
        time.sleep(window)
        own1, children1 = cpu_times(pid)
        return {
            "window_s": window,
            "own_cpu_ms": round((own1 - own0) * 1000),
            "children_cpu_ms": round((children1 - children0) * 1000),
        }
    finally:
        hub.api("DELETE", f"/users/{user}/server")
        time.sleep(3)
        hub.stop()
        cancel_all([user])


# ---- one user at a time -----------------------------------------------------------


def measure_single(workdir: Path, spawns: int = 7) -> dict:
    """Time to a working server, one spawn at a time (steady.py's measure), and how
    long after its server answered each job had told the hub (the job's log)."""
    impl = BENCH_IMPLS[0]  # as steady.py measures it, with the hub's own environment
    result = measure_spawn_times([impl], workdir, argparse.Namespace(spawns=spawns))[impl.name]
    told = []
    for user in USERS[:spawns]:
        outputs = sorted(
            Path(f"/home/{user}/.local/state/jupyterhub_moss").glob("*.log"),
            key=lambda path: path.stat().st_mtime,
        )
        if outputs:  # this user's spawn just now
            text = outputs[-1].read_text(errors="replace")
            match = re.search(r"the hub was told, ([\d.]+) s after the server answered", text)
            if match:
                told.append(float(match.group(1)))
    result["told_after_answer_s"] = sorted(told)
    return result


# ---- report ----------------------------------------------------------------------


TARGETS = {
    # figure: (what the issue asks of ours / theirs, or an absolute bound)
    "controller_ms": ("ratio", 1 / 3),
    "processes": ("ratio", 1 / 2),
    "total_cpu_per_spawn_ms": ("ratio", 1.0),
    "last_ready_s": ("ratio", 1.0),
    "loop_max_s": ("bound", 0.5),
}


def combine(rounds: list[dict]) -> dict:
    """One figure per key from several rounds of one implementation: the median of
    each number (of each count, per type and per command), except the largest
    event-loop interval, which is the largest of all rounds."""
    if len(rounds) == 1:
        return rounds[0]
    combined: dict = {"rounds": len(rounds)}
    for key, first in rounds[0].items():
        values = [r[key] for r in rounds]
        if key == "loop_max_s":
            combined[key] = max(values)
        elif isinstance(first, dict):
            names = sorted({name for v in values for name in v})
            combined[key] = {n: statistics.median(v.get(n, 0) for v in values) for n in names}
        elif any(v is None for v in values):
            combined[key] = None
        else:
            combined[key] = statistics.median(values)
    return combined


def report(results: dict[int, dict], args, wait: dict | None = None) -> str:
    lines = [
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {machine()}, with "
        f"`bench/run.sh --burst` (partition `{args.partition}`, 1 CPU each; slurmd and the "
        "jobs on CPU 1, the hub and its proxy on CPU 0; each client asks whether its "
        "server is ready once a second).",
        "",
    ]
    if args.rounds > 1:
        lines += [
            f"Each figure is the median of {args.rounds} rounds, the two implementations taking "
            "turns to go first; the largest event-loop interval is the largest of all rounds. "
            "The ratios of each round are listed under each table.",
            "",
        ]
    rows = [
        ("slurmctld RPCs", "rpcs", "{:,.0f}"),
        ("slurmctld time (sum of sdiag `total_time`), ms", "controller_ms", "{:,.0f}"),
        ("Slurm processes the hub started", "processes", "{:,.0f}"),
        ("CPU of the hub's own process, per spawn, ms", "hub_cpu_per_spawn_ms", "{:,.0f}"),
        ("CPU of the commands the hub waited for, s", "children_cpu_s", "{:.1f}"),
        ("hub CPU per spawn, own and children, ms", "total_cpu_per_spawn_ms", "{:,.0f}"),
        (
            "CPU of the node (CPU 1) until the last was ready, per spawn, ms",
            "node_cpu_per_spawn_ms",
            "{:,.0f}",
        ),
        ("last server ready, after the press, s", "last_ready_s", "{:.1f}"),
        ("largest event-loop interval (bucket), s", "loop_max_s", "≤ {:g}"),
        ("event-loop interval p99 (bucket), s", "loop_p99_s", "≤ {:g}"),
    ]
    failures = []
    for users, pair in results.items():
        ours, theirs = combine(pair[OURS]), combine(pair[THEIRS])
        lines += [
            f"**{users} users** pressed Start within {ours['pressed_within_s']:.2f} s "
            f"(this project) and {theirs['pressed_within_s']:.2f} s (10.1.0); "
            f"{ours['ready']} and {theirs['ready']} servers ready.",
            "",
            "| figure during the burst | this project | 10.1.0 | ratio | target |",
            "|---|---:|---:|---:|---|",
        ]
        for label, key, fmt in rows:
            a, b = ours[key], theirs[key]
            r = f"{a / b:.2f}" if a is not None and b else "–"
            target = ""
            if key in TARGETS:
                kind, value = TARGETS[key]
                ok = a is not None and (
                    (kind == "ratio" and b and a / b <= value) or (kind == "bound" and a <= value)
                )
                wanted = f"ratio ≤ {value:.2f}" if kind == "ratio" else f"≤ {value} s"
                target = f"{wanted}: {'met' if ok else 'NOT met'}"
                if not ok:
                    failures.append(f"{users} users: {label}")
            cells = [fmt.format(v) if v is not None else "–" for v in (a, b)]
            lines.append(f"| {label} | {cells[0]} | {cells[1]} | {r} | {target} |")
        lines += [
            "",
            f"Slurm processes by command: this project {ours['processes_by_command']}, "
            f"10.1.0 {theirs['processes_by_command']}. RPCs by type, this project: "
            f"{ours['rpcs_by_type']}.",
            "",
        ]
        if len(pair[OURS]) > 1:
            lines += [
                "Ratios of each round: "
                + "; ".join(
                    f"{key} "
                    + ", ".join(
                        f"{a[key] / b[key]:.2f}" if a[key] is not None and b[key] else "–"
                        for a, b in zip(pair[OURS], pair[THEIRS], strict=True)
                    )
                    for key in TARGETS
                    if TARGETS[key][0] == "ratio"
                )
                + ".",
                "",
            ]
    lines.append(
        "Every target met." if not failures else "Targets not met: " + "; ".join(failures) + "."
    )
    if wait:
        lines += [
            "",
            f"A starting job's script, waiting for a server that takes 40 s to answer, used "
            f"{wait['own_cpu_ms']} ms of CPU in {wait['window_s']:.0f} s of that wait, and its "
            f"helper processes {wait['children_cpu_ms']} ms (the wait that forked `sleep 0.1` "
            "ten times a second used 580 ms per 30 s).",
        ]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--partition", default="long")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/moss-bench-burst"))
    parser.add_argument("--only", choices=[OURS, THEIRS], help="one implementation only")
    parser.add_argument("--no-write", action="store_true", help="leave docs/benchmarks.md")
    parser.add_argument(
        "--job-wait", action="store_true", help="only the CPU a starting job's wait costs"
    )
    parser.add_argument(
        "--single", action="store_true", help="only one user's time to a working server"
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="rounds of each burst, taking turns to go first"
    )
    parser.add_argument(
        "--loopwatch",
        action="store_true",
        help="write what held each hub's event loop for 0.2 s or more (WORKDIR/*/loopwatch.jsonl)",
    )
    args = parser.parse_args()
    if args.single:
        result = measure_single(args.workdir / "single")
        log(f"one user at a time: {json.dumps(result)}")
        if not args.no_write:
            told = result["told_after_answer_s"]
            write_section(
                "burst-single",
                "## One user at a time\n\n"
                f"`bench/run.sh --burst --single`, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} "
                f"UTC: time to a working server, median of {len(result['ready_all_s'])} "
                f"spawns one after the other: {result['ready_median_s']:.2f} s "
                f"(all: {', '.join(f'{t:.2f}' for t in result['ready_all_s'])}). "
                f"The jobs' own logs say the hub had confirmed their servers "
                f"{min(told):.2f} to {max(told):.2f} s "
                "after they first answered.",
            )
        return
    if args.job_wait:
        result = measure_job_wait(args.workdir / "job-wait")
        log(f"a starting job's wait: {json.dumps(result)}")
        return
    slurmd = pids_of("slurmd")
    pin(slurmd, str(NODE_CPU))
    results: dict[int, dict] = {}
    try:
        for n in args.users:
            users = [f"moss{i:02d}" for i in range(1, n + 1)]
            ensure_users(users)
            cancel_all(users)
            results[n] = {impl.name: [] for impl in IMPLS}
            for r in range(args.rounds):
                # Each goes first in every other round.
                for impl in IMPLS if r % 2 == 0 else IMPLS[::-1]:
                    if args.only and impl.name != args.only:
                        continue
                    log(f"== {n} users press Start at once: {impl.name}, round {r + 1}")
                    workdir = args.workdir / f"{n}-{impl.name.split()[0]}-{r + 1}"
                    nodes_back_in_service(args.partition)
                    subprocess.run(["rm", "-rf", str(workdir)], check=True)
                    results[n][impl.name].append(
                        measure(impl, workdir, users, args.partition, watch=args.loopwatch)
                    )
                    time.sleep(5)
    finally:
        pin(slurmd, f"0-{os.cpu_count() - 1}")
    wait = None if args.only else measure_job_wait(args.workdir / "job-wait")
    saved = {"bursts": results, "job_wait": wait}
    (Path(__file__).parent / "burst-results.json").write_text(json.dumps(saved, indent=1))
    if args.only:
        return
    text = report(results, args, wait)
    print(text)
    if not args.no_write:
        write_section("burst", "## A class pressing Start at once\n\n" + text)


if __name__ == "__main__":
    main()
