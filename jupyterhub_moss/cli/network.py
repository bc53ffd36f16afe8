"""``jupyterhub-moss check --network --as USER``: can a server's job and the hub
reach each other? One short job, submitted as USER, answers it.

The job, on its node:

1. listens on a free port in ``server_port_range``, as a server would;
2. asks the hub's API at the address JupyterHub gives servers
   (``hub_connect_url``, else ``hub_connect_ip``/``hub_ip`` and ``hub_port``; with
   ``internal_ssl``, over TLS against the hub's certificate authority);
3. writes both results into its comment (``moss-net:port=N;hub=...``), which its
   owner may set.

The hub's host then connects to that port at the address the proxy would use
(``node_address``), reads the job's greeting, and the job is cancelled. Each
direction is a finding, in plain words, with what to look at when it fails.
"""

from __future__ import annotations

import asyncio
import shlex
import socket
import time
from pathlib import Path

from ..slurm.runner import SlurmCommandError
from ..slurm.squeue import new_marker, parse_squeue, squeue_argv
from ..slurm.text import JOB_ID
from .config import hub_for_jobs
from .findings import ERROR, INFO, Finding

__all__ = ["NETWORK_PREFIX", "network_findings", "network_script", "parse_network_comment"]

#: How the job's comment begins once it has something to say.
NETWORK_PREFIX = "moss-net:"
GREETING = b"moss-net ok\n"

_JOB_CODE = r"""
import os, random, socket, ssl, subprocess, sys, urllib.request
api, low, high, ca = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]

def plain(text):
    return "".join(c if c.isalnum() or c in " .:/_-" else " " for c in text)[:160]

listener, port = None, 0
for candidate in random.sample(range(low, high + 1), min(300, high - low + 1)):
    s = socket.socket()
    try:
        s.bind(("", candidate))
        s.listen(4)
        listener, port = s, candidate
        break
    except OSError:
        s.close()
try:
    context = None
    if api.startswith("https"):
        context = ssl.create_default_context(cadata=ca or None)
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
    )
    with opener.open(api, timeout=10) as answer:
        hub = "ok" if answer.status == 200 else "HTTP %d" % answer.status
except Exception as e:
    hub = "%s %s" % (type(e).__name__, e)
comment = "moss-net:port=%d;hub=%s" % (port, plain(hub))
subprocess.call(["scontrol", "update", "JobId=" + os.environ.get("SLURM_JOB_ID", ""),
                 "Comment=" + comment])
if listener is None:
    sys.exit(1)
listener.settimeout(300)
while True:
    conn, _ = listener.accept()
    conn.sendall(b"moss-net ok\n")
    conn.close()
"""


def network_script(
    partition: str, api_url: str, port_range: tuple[int, int], directives=(), ca: str = ""
) -> str:
    """The batch script of the check (pure)."""
    lines = [
        "#!/bin/bash",
        "#SBATCH --job-name=jupyterhub-moss-network-check",
        f"#SBATCH --partition={partition}",
        "#SBATCH --time=5",
        "#SBATCH --nodes=1",
        "#SBATCH --ntasks=1",
        "#SBATCH --cpus-per-task=1",
        "#SBATCH --output=/dev/null",
        "#SBATCH --chdir=/tmp",
        *(f"#SBATCH {d}" for d in directives),
        "exec python3 -I -S -c "
        + " ".join(
            shlex.quote(word)
            for word in (_JOB_CODE, api_url, str(port_range[0]), str(port_range[1]), ca)
        ),
    ]
    return "\n".join(lines) + "\n"


def parse_network_comment(comment: str) -> dict[str, str] | None:
    """``moss-net:port=N;hub=...`` -> ``{"port": "N", "hub": "..."}``; None before."""
    if not comment.startswith(NETWORK_PREFIX):
        return None
    fields = {}
    for part in comment[len(NETWORK_PREFIX) :].split(";"):
        key, _, value = part.partition("=")
        fields[key] = value
    return fields


def _hub_ca(config, base: Path) -> str:
    """With internal_ssl, the authority of the hub's certificate, as text (its
    store is relative to the hub's working folder, taken as ``base``)."""
    section = config.get("JupyterHub", {})
    if not section.get("internal_ssl"):
        return ""
    store = base / section.get("internal_certs_location", "internal-ssl")
    try:
        return (store / "hub-ca" / "hub-ca.crt").read_text()
    except OSError:
        return ""


def _greeting(host: str, port: int) -> str | None:
    """None if the job's listener answered; else why not."""
    try:
        with socket.create_connection((host, port), timeout=5) as conn:
            conn.settimeout(5)
            said = conn.recv(64)
    except OSError as e:
        return f"{type(e).__name__}: {e}"
    return None if said == GREETING else f"another program answered ({said[:20]!r})"


async def _run(spawner, config, base: Path, user: str, partition: str, wait: float):
    client = spawner.slurm_client()
    home = spawner.home_folder()
    api_url = hub_for_jobs(config).api_url
    script = network_script(
        partition,
        api_url,
        tuple(spawner.server_port_range),
        spawner.admin_directives(),
        _hub_ca(config, base),
    )
    try:
        submitted = await client.run_as(
            user, home, [client.path("sbatch"), "--parsable"], input=script
        )
    except SlurmCommandError as e:
        return [Finding(ERROR, "network-job-refused", user, f"the check's job was refused: {e}")]
    job_id = submitted.stdout.strip().split(";", 1)[0]
    if not JOB_ID.match(job_id):
        return [Finding(ERROR, "network-job-refused", user, f"sbatch said {submitted.stdout!r}")]
    try:
        return await _follow(client, spawner, job_id, api_url, wait)
    finally:
        try:
            await client.run(client.as_user(user, [client.path("scancel"), job_id]))
        except SlurmCommandError:
            pass


async def _follow(client, spawner, job_id: str, api_url: str, wait: float) -> list[Finding]:
    deadline = time.monotonic() + wait
    state, node, said = "", "", None
    while time.monotonic() < deadline:
        marker = new_marker()
        result = await client.run(squeue_argv(job_id, marker, client.path("squeue")), check=False)
        try:
            status = parse_squeue(result.stdout, marker).get(job_id)
        except ValueError:
            status = None
        if status is None:
            if result.returncode == 0:
                break  # gone
        else:
            state, node = status.state, status.node or ""
            said = parse_network_comment(status.comment)
            if said is not None:
                break
        await asyncio.sleep(1)
    if said is None:
        return [
            Finding(
                ERROR,
                "network-job-silent",
                job_id,
                f"job {job_id} did not report within {wait:g} s (state {state or 'gone'}): "
                "is python3 on the nodes, and does the partition start jobs now?",
            )
        ]
    findings = []
    if said.get("hub") == "ok":
        findings.append(
            Finding(INFO, "node-reaches-hub", node, f"node {node} reaches the hub at {api_url}")
        )
    else:
        findings.append(
            Finding(
                ERROR,
                "node-cannot-reach-hub",
                node,
                f"node {node} cannot reach the hub at {api_url} ({said.get('hub', '')}): look at "
                "the firewall between the nodes and the hub's port, and at "
                "c.JupyterHub.hub_connect_ip or hub_connect_url",
            )
        )
    port = int(said.get("port") or 0)
    address = spawner.node_address.format(node=node)
    problem = "the job found no free port in server_port_range" if not port else None
    if port:
        problem = await asyncio.get_running_loop().run_in_executor(None, _greeting, address, port)
    if problem is None:
        findings.append(
            Finding(INFO, "hub-reaches-node", node, f"the hub reaches {address}:{port} on {node}")
        )
    else:
        findings.append(
            Finding(
                ERROR,
                "hub-cannot-reach-node",
                node,
                f"the hub cannot reach a listener at {address}:{port} on {node} ({problem}): "
                "look at the firewall in front of the nodes' server_port_range, and at "
                "c.MOSlurmSpawner.node_address",
            )
        )
    return findings


def network_findings(
    spawner, config, config_path: str, user: str, partition: str | None, wait: float = 120
) -> list[Finding]:
    """The findings of one network check, run as ``user`` on ``partition`` (default:
    the first configured); ``config_path`` is the hub's config file, whose folder
    stands for the hub's working folder."""
    partition = partition or next(iter(spawner.configured_partitions()))
    base = Path(config_path).resolve().parent
    return asyncio.run(_run(spawner, config, base, user, partition, wait))
