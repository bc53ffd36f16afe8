"""The batch script's own helpers, run in bash outside Slurm: its clock, and the one
process that checks the server's port, records it in the job's comment and tells the
hub (``moss_report``). A small HTTP server plays the hub and a script plays
``scontrol``; the cluster tests cover the same path in real jobs."""

from __future__ import annotations

import http.server
import json
import os
import re
import shlex
import socket
import ssl
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from support.scripts import render


def function(script: str, name: str) -> str:
    """The text of one shell function of the rendered script."""
    start = script.index(f"{name}() {{")
    return script[start : script.index("\n}\n", start) + 3]


SCRIPT = render()


def bash(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-c", code],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": os.environ["PATH"], **(env or {})},
    )


@pytest.mark.parametrize("bash_clock", [True, False], ids=["EPOCHREALTIME", "date"])
def test_the_script_times_its_steps_in_seconds_with_or_without_bashs_own_clock(bash_clock):
    code = function(SCRIPT, "moss_clock") + function(SCRIPT, "moss_since")
    if not bash_clock:
        code += "unset EPOCHREALTIME\n"
    code += 'moss_clock a; sleep 0.3; moss_since b "$a"; echo "$a $b"\n'
    result = bash(code)
    assert result.returncode == 0, result.stderr
    start, elapsed = result.stdout.split()
    assert int(start) > 1_700_000_000 * 10**6
    assert 0.29 <= float(elapsed) < 2.0
    assert len(elapsed.split(".")[1]) == 2


@pytest.mark.parametrize(
    "reading, micros",
    [("1700000000.089123", 1700000000089123), ("1700000000,000001", 1700000000000001)],
)
def test_the_scripts_clock_reads_fractions_with_leading_zeros_and_decimal_commas(reading, micros):
    # Once unset, EPOCHREALTIME is a plain variable: set it to a known reading.
    code = function(SCRIPT, "moss_clock") + function(SCRIPT, "moss_since")
    code += f"unset EPOCHREALTIME; EPOCHREALTIME={reading}\n"
    code += 'moss_clock a; moss_since b "$((a - 1500000))" "$a"; moss_since c "$a" 1\n'
    code += 'echo "$a $b $c"\n'
    result = bash(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(micros), "1.50", "0.00"]


class FakeHub(http.server.BaseHTTPRequestHandler):
    calls: list[dict] = []
    status = 200

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        FakeHub.calls.append(
            {"path": self.path, "auth": self.headers["Authorization"], "body": json.loads(body)}
        )
        self.send_response(FakeHub.status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"message": "the server is not starting"}')

    def log_message(self, *args):
        pass


@pytest.fixture
def hub():
    FakeHub.calls, FakeHub.status = [], 200
    server = http.server.HTTPServer(("127.0.0.1", 0), FakeHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def fake_scontrol(tmp_path):
    """A scontrol that writes its arguments down and exits with the status in a file."""
    (tmp_path / "status").write_text("0")
    path = tmp_path / "scontrol"
    path.write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/args\nexit $(cat {tmp_path}/status)\n')
    path.chmod(0o755)
    return tmp_path


def report(
    hub,
    folder: Path,
    port: int,
    pid: int,
    user: str = "alice/x",
    name: str = "",
    url: str | None = None,
    extra_env: dict[str, str] | None = None,
):
    code = f"moss_python={shlex.quote(sys.executable)}\nmoss_submit_comment=lab\n"
    code += function(SCRIPT, "moss_report") + f"moss_report {port} {pid}\n"
    env = {
        "PATH": f"{folder}:{os.environ['PATH']}",
        "SLURM_JOB_ID": "42",
        "JUPYTERHUB_API_URL": url or f"http://127.0.0.1:{hub.server_port}/hub/api/",
        "JUPYTERHUB_USER": user,
        "JUPYTERHUB_SERVER_NAME": name,
        "JUPYTERHUB_API_TOKEN": "the-servers-token",
        **(extra_env or {}),
    }
    return bash(code, env)


def test_the_report_checks_the_port_records_it_and_tells_the_hub(hub, fake_scontrol):
    # The fake hub's own socket stands for the server's: this process holds it.
    result = report(hub, fake_scontrol, hub.server_port, os.getpid(), name="gpu run")
    assert result.returncode == 0, result.stderr
    assert (fake_scontrol / "args").read_text().split() == [
        "update",
        "JobId=42",
        f"Comment=moss:port={hub.server_port};lab",
    ]
    assert FakeHub.calls == [
        {
            "path": "/hub/api/moss/ready/alice%2Fx/gpu%20run",
            "auth": "token the-servers-token",
            "body": {"port": hub.server_port},
        }
    ]


def test_the_report_refuses_a_port_whose_socket_another_process_holds(hub, fake_scontrol):
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        result = report(hub, fake_scontrol, hub.server_port, sleeper.pid)
    finally:
        sleeper.kill()
        sleeper.wait()
    assert result.returncode == 10
    assert not (fake_scontrol / "args").exists()
    assert FakeHub.calls == []


def test_a_failed_comment_update_stops_the_report_before_the_hub_is_told(hub, fake_scontrol):
    (fake_scontrol / "status").write_text("1")
    result = report(hub, fake_scontrol, hub.server_port, os.getpid())
    assert result.returncode == 11
    assert FakeHub.calls == []


def test_a_refusal_from_the_hub_is_reported_with_its_status_and_message(hub, fake_scontrol):
    FakeHub.status = 409
    result = report(hub, fake_scontrol, hub.server_port, os.getpid())
    assert result.returncode == 12
    assert "409" in result.stderr
    assert "the server is not starting" in result.stderr
    assert (fake_scontrol / "args").exists()


def test_a_hub_that_cannot_be_reached_is_reported_and_the_comment_stays(fake_scontrol):
    class Gone:
        server_port = 1  # nothing listens on port 1

    # The port checked is one this process holds: a listening socket of its own.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        result = report(Gone, fake_scontrol, s.getsockname()[1], os.getpid())
    assert result.returncode == 12
    assert "ConnectionRefusedError" in result.stderr
    assert (fake_scontrol / "args").exists()


def test_every_function_the_script_calls_is_defined_in_it():
    # A call to a missing function fails quietly where its errors are discarded
    # (the probe of the server runs with 2>/dev/null).
    defined = set(re.findall(r"^(moss_\w+)\(\) \{", SCRIPT, re.M))
    called = set(
        re.findall(r"(?:^|[;&|(!]|\bif|\bthen|\bdo|\$\()[ \t]*(moss_\w+)\b(?!=)", SCRIPT, re.M)
    )
    variables = set(re.findall(r"\b(moss_\w+)=", SCRIPT))
    called -= variables - defined  # $((moss_probes + 1)) is arithmetic, not a call
    assert called, "the pattern finds no call at all"
    assert called - defined == set()


def test_a_failure_after_the_comment_is_written_never_stops_the_server(hub, fake_scontrol):
    # A malformed hub address fails inside the call, after the comment holds the port.
    result = report(hub, fake_scontrol, hub.server_port, os.getpid(), url="http://[::1:80/hub/api")
    assert result.returncode == 12
    assert "ValueError" in result.stderr
    assert (fake_scontrol / "args").exists()


def self_signed(folder: Path, name: str, *extra: str) -> Path:
    """A new self-signed certificate for 127.0.0.1, ``folder/name.crt`` (its key
    ``name.key``); ``extra``: more ``openssl req`` arguments."""
    cert = folder / f"{name}.crt"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-subj", "/CN=127.0.0.1", *extra]
        + ["-keyout", str(folder / f"{name}.key"), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return cert


@pytest.fixture
def tls_hub(tmp_path):
    """The fake hub behind TLS, with a certificate for 127.0.0.1 signed by itself."""
    cert = self_signed(tmp_path, "hub", "-addext", "subjectAltName=IP:127.0.0.1")
    key = tmp_path / "hub.key"
    FakeHub.calls, FakeHub.status = [], 200
    server = http.server.HTTPServer(("127.0.0.1", 0), FakeHub)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, cert
    server.shutdown()
    server.server_close()


def test_an_https_hub_is_verified_with_the_ca_jupyterhub_gives_the_server(tls_hub, fake_scontrol):
    server, cert = tls_hub
    url = f"https://127.0.0.1:{server.server_port}/hub/api"
    without = report(server, fake_scontrol, server.server_port, os.getpid(), url=url)
    assert without.returncode == 12
    assert "CERTIFICATE_VERIFY_FAILED" in without.stderr
    assert FakeHub.calls == []
    # internal_ssl: JupyterHub sets JUPYTERHUB_SSL_CLIENT_CA for the server.
    trusted = report(
        server,
        fake_scontrol,
        server.server_port,
        os.getpid(),
        url=url,
        extra_env={"JUPYTERHUB_SSL_CLIENT_CA": str(cert)},
    )
    assert trusted.returncode == 0, trusted.stderr
    assert [call["body"] for call in FakeHub.calls] == [{"port": server.server_port}]


def tls_report(server, folder: Path, certificate: Path, tmp_path: Path):
    """The report with internal_ssl: the job's folder holds ``certificate`` as its own."""
    tls_dir = tmp_path / "tls"
    tls_dir.mkdir(exist_ok=True)
    (tls_dir / "server.crt").write_text(certificate.read_text())
    code = f"moss_probe_ip=127.0.0.1\nmoss_tls_dir={shlex.quote(str(tls_dir))}\n"
    url = f"https://127.0.0.1:{server.server_port}/hub/api"
    env = {"JUPYTERHUB_SSL_CLIENT_CA": str(certificate)}
    code += f"moss_python={shlex.quote(sys.executable)}\nmoss_submit_comment=\n"
    code += function(SCRIPT, "moss_report") + f"moss_report {server.server_port} {os.getpid()}\n"
    return bash(
        code,
        {
            "PATH": f"{folder}:{os.environ['PATH']}",
            "SLURM_JOB_ID": "42",
            "JUPYTERHUB_API_URL": url,
            "JUPYTERHUB_USER": "alice",
            "JUPYTERHUB_API_TOKEN": "the-servers-token",
            **env,
        },
    )


def test_with_tls_the_report_accepts_only_a_listener_presenting_the_jobs_own_certificate(
    tls_hub, fake_scontrol, tmp_path
):
    server, cert = tls_hub
    # The listener (the fake hub's socket, held by this process) presents cert.
    ours = tls_report(server, fake_scontrol, cert, tmp_path)
    assert ours.returncode == 0, ours.stderr
    other = self_signed(tmp_path, "other")
    FakeHub.calls = []
    theirs = tls_report(server, fake_scontrol, other, tmp_path)
    assert theirs.returncode == 10, theirs.stderr
    assert FakeHub.calls == []


def test_with_tls_a_listener_that_speaks_no_tls_is_not_ready_yet(fake_scontrol, tmp_path):
    plain = socket.socket()
    plain.bind(("127.0.0.1", 0))
    plain.listen()
    port = plain.getsockname()[1]
    closer = threading.Thread(target=lambda: plain.accept()[0].close(), daemon=True)
    closer.start()
    tls_dir = tmp_path / "tls"
    tls_dir.mkdir()
    cert = self_signed(tmp_path, "c")
    (tls_dir / "server.crt").write_text(cert.read_text())
    code = f"moss_probe_ip=127.0.0.1\nmoss_tls_dir={shlex.quote(str(tls_dir))}\n"
    code += f"moss_python={shlex.quote(sys.executable)}\nmoss_submit_comment=\n"
    code += function(SCRIPT, "moss_report") + f"moss_report {port} {os.getpid()}\n"
    try:
        result = bash(code, {"PATH": f"{fake_scontrol}:{os.environ['PATH']}", "SLURM_JOB_ID": "42"})
    finally:
        plain.close()
    assert result.returncode == 14, result.stderr
    assert f"TLS on port {port}" in result.stderr
    assert not (fake_scontrol / "args").exists()  # nothing recorded
