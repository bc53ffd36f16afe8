"""What a view of the spawn page costs the hub, with this checkout's code against an
earlier commit's (``--baseline``, default the commit before the Slurm facts of the
spawn page), side by side on the same cluster, hub settings and users.

For each code it starts one hub, logs the users in, warms the caches (one view per
user), then views the page ``--views`` times per user in turn and reports:

- the server's render time: the duration JupyterHub logs for each ``GET /hub/spawn``
  (the hub's own measure, without the network or the client);
- the Slurm commands the views caused, from the hub's own counter
  (``jupyterhub_moss_slurm_commands``), per view.

Not part of the test suite. Run as root on the local cluster:

    bench/run.sh --pageview              # writes the pageview section of docs/benchmarks.md
    bench/run.sh --pageview --views 40
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.sections import write_section
from tests.support.hubtools import GPUMIX_PARTITION, Hub

REPO = Path(__file__).resolve().parent.parent

BASELINE = "d1c9275"  # main before accounts, QOS, GPU types, reservations and presets
USERS = ["moss01", "moss03", "moss05", "moss07"]
NEW_CONFIG = f'c.MOSlurmSpawner.partitions["gpumix"] = {GPUMIX_PARTITION!r}\n'
_REQUEST = re.compile(r"\b200 GET /hub/spawn \(\S+\) ([0-9.]+)ms")


def log(*args):
    print(time.strftime("%H:%M:%S"), *args, file=sys.stderr, flush=True)


def baseline_tree(commit: str, into: Path) -> Path:
    """The package of ``commit``, exported (not installed): the hub imports it first."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", commit, "jupyterhub_moss"],
        check=True,
        capture_output=True,
    ).stdout
    into.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def slurm_commands(hub: Hub) -> float:
    return hub.metric("jupyterhub_moss_slurm_commands_total")


def measure(label: str, hub: Hub, views: int, new_code: bool) -> dict:
    clients = {user: hub.login(user) for user in USERS}
    cold = slurm_commands(hub)
    for client in clients.values():  # warm: facts, sinfo and rendered pages cached
        page = client.get(f"{hub.url}/hub/spawn")
        assert page.status_code == 200
        # The hub runs the code it is meant to (the baseline has no facts script).
        assert ("moss-facts.js" in page.text) == new_code, label
    cold = (slurm_commands(hub) - cold) / len(clients)
    offset = len(hub.log())
    before = slurm_commands(hub)
    started = time.perf_counter()
    for _ in range(views):
        for client in clients.values():
            r = client.get(f"{hub.url}/hub/spawn")
            assert r.status_code == 200, r.status_code
    wall = time.perf_counter() - started
    calls = slurm_commands(hub) - before
    times = [float(ms) for ms in _REQUEST.findall(hub.log()[offset:])]
    count = views * len(clients)
    result = {
        "label": label,
        "views": count,
        "render_ms_median": statistics.median(times),
        "render_ms_p90": statistics.quantiles(times, n=10)[-1],
        "slurm_commands_per_view": calls / count,
        "slurm_commands_first_view": cold,
        "client_seconds": wall,
    }
    log(label, json.dumps(result))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--views", type=int, default=25, help="views per user (default 25)")
    parser.add_argument("--baseline", default=BASELINE, help="the earlier commit")
    args = parser.parse_args()

    results = []
    with tempfile.TemporaryDirectory(prefix="moss-pageview-") as tmp:
        tmp = Path(tmp)
        old = baseline_tree(args.baseline, tmp / "baseline")
        for label, env, extra, new_code in (
            (f"before ({args.baseline})", {"PYTHONPATH": str(old)}, "", False),
            ("after (this checkout)", {}, NEW_CONFIG, True),
            (f"before ({args.baseline}), again", {"PYTHONPATH": str(old)}, "", False),
            ("after (this checkout), again", {}, NEW_CONFIG, True),
        ):
            hub = Hub(tmp / f"hub{len(results)}", extra, env=env).start()
            try:
                results.append(measure(label, hub, args.views, new_code))
            finally:
                hub.stop()

    before = statistics.mean(r["render_ms_median"] for r in results if r["label"].startswith("b"))
    after = statistics.mean(r["render_ms_median"] for r in results if r["label"].startswith("a"))
    lines = [
        "## The spawn page's cost per view",
        "",
        f"`bench/run.sh --pageview` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}), "
        f"{len(USERS)} users, {args.views} views each per run, caches warm. The render time",
        "is the duration JupyterHub logs for `GET /hub/spawn`; the runs alternate.",
        "",
        "| code | median ms | p90 ms | Slurm commands per view | first view of a user |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['label']} | {r['render_ms_median']:.1f} | {r['render_ms_p90']:.1f} | "
            f"{r['slurm_commands_per_view']:.3f} | {r['slurm_commands_first_view']:.2f} |"
        )
    lines += [
        "",
        f"Median render time, after / before: {after / before:.2f} "
        f"(+{after - before:.1f} ms a view). The first view of a user (caches cold for",
        "that user) runs the commands the last column counts (the average over the",
        "users): its associations and default account (`sacctmgr`, 5 min), and for the",
        "first user of the hub",
        "the QOS table, the partitions, the reservations, the configuration and `sinfo`.",
    ]
    text = "\n".join(lines)
    print(text)
    write_section("pageview", text)
    (REPO / "bench" / "pageview.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
