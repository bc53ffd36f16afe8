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

With ``internal_ssl`` both directions speak TLS. The job gets a certificate
signed by the servers' authority in the hub's store (``notebooks-ca``), with the
names a server's certificate would carry: its listener presents it to the hub's
side, which checks it against the node's address, and it shows it to the hub's
API, which asks servers for one.
"""

from __future__ import annotations

import asyncio
import ipaddress
import shlex
import socket
import ssl
import time
from pathlib import Path

from ..choices.facts import SlurmFacts
from ..slurm.runner import SlurmCommandError
from ..slurm.squeue import new_marker, parse_squeue, squeue_argv
from ..slurm.text import JOB_ID
from ..spawner.tls import node_alt_names
from .config import hub_for_jobs
from .findings import ERROR, INFO, Finding

__all__ = [
    "NETWORK_PREFIX",
    "network_findings",
    "network_script",
    "parse_network_comment",
    "throwaway_certificate",
]

#: How the job's comment begins once it has something to say.
NETWORK_PREFIX = "moss-net:"
GREETING = b"moss-net ok\n"
#: How :func:`_greeting` begins when the connection opened but TLS failed.
TLS_FAILED = "the TLS handshake failed"

_JOB_CODE = r"""
import os, random, socket, ssl, subprocess, sys, tempfile, urllib.request
api, low, high, ca = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
cert, key = sys.argv[5], sys.argv[6]

def plain(text):
    return "".join(c if c.isalnum() or c in " .:/_-" else " " for c in text)[:160]

served, context = None, None
if api.startswith("https"):
    context = ssl.create_default_context(cadata=ca or None)
if cert:
    # The listener speaks TLS with this certificate, which the hub's side checks;
    # the same one is the job's client certificate for the hub's API.
    served = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    folder = tempfile.mkdtemp()
    try:
        for name, text in (("c.pem", cert), ("k.pem", key)):
            with open(os.path.join(folder, name), "w") as f:
                f.write(text)
        for side in (served, context):
            if side is not None:
                side.load_cert_chain(os.path.join(folder, "c.pem"), os.path.join(folder, "k.pem"))
    finally:
        for name in ("c.pem", "k.pem"):
            try:
                os.unlink(os.path.join(folder, name))
            except OSError:
                pass
        os.rmdir(folder)
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
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
    )
    with opener.open(api, timeout=10) as answer:
        hub = "ok" if answer.status == 200 else "HTTP %d" % answer.status
except Exception as e:
    hub = "%s %s" % (type(e).__name__, e)
comment = "moss-net:port=%d;hub=%s" % (port, plain(hub))
print(comment, flush=True)
if os.environ.get("SLURM_JOB_ID"):
    subprocess.call(["scontrol", "update", "JobId=" + os.environ["SLURM_JOB_ID"],
                     "Comment=" + comment])
if listener is None:
    sys.exit(1)
listener.settimeout(300)
while True:
    conn, _ = listener.accept()
    try:
        if served is not None:
            conn.settimeout(10)
            conn = served.wrap_socket(conn, server_side=True)
        conn.sendall(b"moss-net ok\n")
    except OSError:
        pass
    finally:
        conn.close()
"""


def network_script(
    partition: str,
    api_url: str,
    port_range: tuple[int, int],
    directives=(),
    ca: str = "",
    served: tuple[str, str] = ("", ""),
) -> str:
    """The batch script of the check (pure). ``ca``: the authority of the hub's
    certificate (with internal_ssl); ``served``: the certificate and key of the
    job's listener, which then speaks TLS."""
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
            for word in (_JOB_CODE, api_url, str(port_range[0]), str(port_range[1]), ca, *served)
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


def _servers_ca(config, base: Path) -> tuple[str, str] | None:
    """With internal_ssl, the certificate and key of the authority that signs the
    servers' certificates (``notebooks-ca`` in the hub's store); None if they cannot
    be read here."""
    section = config.get("JupyterHub", {})
    store = base / section.get("internal_certs_location", "internal-ssl") / "notebooks-ca"
    try:
        return (
            (store / "notebooks-ca.crt").read_text(),
            (store / "notebooks-ca.key").read_text(),
        )
    except OSError:
        return None


def throwaway_certificate(alt_names, ca: tuple[str, str] | None = None) -> tuple[str, str]:
    """A certificate and its key (PEM) naming ``alt_names`` (``DNS:...``,
    ``IP:...``), valid for an hour: what the check's job serves and shows the hub.
    Signed by ``ca`` (its certificate and key, PEM), as a server's would be; else by
    itself."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    names = []
    for name in alt_names:
        kind, _, value = name.partition(":")
        if kind.upper() == "IP":
            names.append(x509.IPAddress(ipaddress.ip_address(value)))
        else:
            names.append(x509.DNSName(value))
    common_name = next(iter(alt_names), ":jupyterhub-moss network check").partition(":")[2]
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])])
    issuer, signer = subject, key
    if ca is not None:
        issuer = x509.load_pem_x509_certificate(ca[0].encode()).subject
        signer = serialization.load_pem_private_key(ca[1].encode(), password=None)
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca is None, path_length=None), critical=True)
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(signer, hashes.SHA256())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()


def _greeting(host: str, port: int, trusted: str = "") -> str | None:
    """None if the job's listener answered; else why not. With ``trusted`` (PEM),
    over TLS, checking that the listener presents a certificate for the name
    ``host`` that ``trusted`` signed."""
    try:
        conn = socket.create_connection((host, port), timeout=5)
    except OSError as e:
        return f"{type(e).__name__}: {e}"
    try:
        conn.settimeout(5)
        if trusted:
            context = ssl.create_default_context(cadata=trusted)
            try:
                conn = context.wrap_socket(conn, server_hostname=host)
            except OSError as e:
                return f"{TLS_FAILED}: {type(e).__name__}: {e}"
        said = conn.recv(64)
    except OSError as e:
        return f"{type(e).__name__}: {e}"
    finally:
        conn.close()
    return None if said == GREETING else f"another program answered ({said[:20]!r})"


async def _run(spawner, config, base: Path, user: str, partition: str, wait: float):
    client = spawner.slurm_client()
    home = spawner.home_folder()
    api_url = hub_for_jobs(config).api_url
    served, trusted = ("", ""), ""
    if config.get("JupyterHub", {}).get("internal_ssl"):
        ca = _servers_ca(config, base)
        if ca is None:
            return [
                Finding(
                    ERROR,
                    "network-tls-unreadable",
                    str(base),
                    "with internal_ssl, the check needs the hub's certificate store: run it "
                    "as the hub's account, with the hub's config file in the hub's folder",
                )
            ]
        # A certificate signed as a server's is, with the names a server's would
        # carry (see spawner/tls.py).
        names = list(spawner.ssl_alt_names)
        if not names:
            entry = await SlurmFacts(spawner.slurm_client(), "").read("partitions")
            info = (entry.value or {}).get(partition)
            names = node_alt_names(info.nodes if info else (), spawner.node_address)
        served, trusted = throwaway_certificate(names, ca), ca[0]
    script = network_script(
        partition,
        api_url,
        tuple(spawner.server_port_range),
        spawner.admin_directives(),
        _hub_ca(config, base),
        served,
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
        return await _follow(client, spawner, job_id, api_url, wait, trusted)
    finally:
        try:
            await client.run(client.as_user(user, [client.path("scancel"), job_id]))
        except SlurmCommandError:
            pass


async def _follow(
    client, spawner, job_id: str, api_url: str, wait: float, trusted: str
) -> list[Finding]:
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
    elif "Certificate" in said.get("hub", "") or "SSL" in said.get("hub", ""):
        findings.append(
            Finding(
                ERROR,
                "node-cannot-reach-hub",
                node,
                f"node {node} reached the hub at {api_url} but TLS failed "
                f"({said.get('hub', '')}): the hub's certificate must name the address the "
                "nodes use (c.JupyterHub.trusted_alt_names)",
            )
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
        problem = await asyncio.get_running_loop().run_in_executor(
            None, _greeting, address, port, trusted
        )
    over = " over TLS" if trusted else ""
    if problem is None:
        findings.append(
            Finding(
                INFO, "hub-reaches-node", node, f"the hub reaches {address}:{port} on {node}{over}"
            )
        )
    elif problem.startswith(TLS_FAILED):
        findings.append(
            Finding(
                ERROR,
                "hub-tls-to-node-failed",
                node,
                f"the hub reaches {address}:{port} on {node}, but {problem}: a server's "
                "certificate names the partition's nodes as c.MOSlurmSpawner.node_address "
                "gives them, or c.Spawner.ssl_alt_names",
            )
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
