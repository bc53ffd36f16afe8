"""Slurm faults and hub restarts on the real local cluster.

Each test ends with the user seeing a clear message or a working server, and with
no job left that the hub does not know about.
"""

import os
import signal
import socket
import subprocess
import time

import pytest
from support import REPO
from support.hubtools import (
    HUB_VENV,
    active_jobs,
    block_partition,
    job_info,
    job_output,
    shared_folder,
    slurm,
    wait_for_job,
    write_script,
)

pytestmark = pytest.mark.cluster

CLUSTER_UP = REPO / "dev" / "cluster-up.sh"


def of_the_site_layout(pid: str) -> bool:
    """Whether process ``pid`` is a daemon of dev/site-up.sh's cluster (started with
    its SLURM_CONF)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return b"SLURM_CONF=/etc/moss-dev/site/" in f.read()
    except OSError:
        return False


def controller_pids():
    """The pids of this cluster's slurmctld: those that share our root directory,
    but for the site layout's (dev/site-up.sh), which shares it too.

    The Slurm 24.11 cluster (dev/slurm24-up.sh) runs its own slurmctld in a chroot
    on the same machine; both see each other's processes.
    """
    out = subprocess.run(["pgrep", "-x", "slurmctld"], capture_output=True, text=True).stdout
    root = os.stat("/")
    pids = []
    for pid in out.split():
        try:
            theirs = os.stat(f"/proc/{pid}/root")
        except OSError:  # gone meanwhile
            continue
        if (theirs.st_dev, theirs.st_ino) == (root.st_dev, root.st_ino):
            if not of_the_site_layout(pid):
                pids.append(int(pid))
    return pids


def stop_controller():
    slurm("scontrol", "shutdown", "slurmctld", check=False)
    deadline = time.time() + 30
    while controller_pids() and time.time() < deadline:
        time.sleep(0.2)
    assert not controller_pids(), "slurmctld did not stop"


def start_controller():
    subprocess.run(["bash", str(CLUSTER_UP)], check=True, capture_output=True, timeout=120)


@pytest.fixture
def controller():
    """Stop, pause and restart slurmctld; always leave it running."""
    yield
    for pid in controller_pids():
        os.kill(pid, signal.SIGCONT)
    start_controller()


def start(hub, user, **options):
    r = hub.api("POST", f"/users/{user}/server", json={"user_options": options})
    assert r.status_code in (201, 202), r.text
    return r


def progress_messages(hub, user, until, timeout=60):
    return [e.get("message", "") for e in hub.progress_events(user, until=until, timeout=timeout)]


def assert_no_orphans(hub, users):
    """Every pending or running job of these users is one the hub knows."""
    for user in users:
        model = hub.server_model(user)
        known = {model["state"]["job_id"]} if model and model.get("state") else set()
        assert set(active_jobs(user)) <= known, (user, active_jobs(user), known)


def test_controller_down_while_pending_and_running(hub, controller):
    runner, waiter = "moss01", "moss02"
    start(hub, runner, partition="long")
    running_job = hub.wait_ready(runner)["state"]["job_id"]
    blocker = block_partition()
    try:
        start(hub, waiter, partition="cpu")
        wait_for_job(waiter)
        stop_controller()
        messages = progress_messages(hub, waiter, "not answering", timeout=30)
        assert any("The Slurm scheduler is not answering" in m for m in messages), messages
        # Several poll intervals without Slurm: the running server is not dropped.
        time.sleep(8)
        model = hub.server_model(runner)
        assert model and model["ready"] and model["state"]["job_id"] == running_job
        client = hub.login(runner)
        assert hub.server_status(client, runner).status_code == 200
        start_controller()
        slurm("scancel", blocker)
        hub.wait_ready(waiter, timeout=60)
    finally:
        slurm("scancel", blocker, check=False)
    assert hub.server_model(runner)["ready"]
    assert_no_orphans(hub, [runner, waiter])


def test_slurm_query_timing_out_marks_nothing_stopped(hub_factory, controller):
    hub = hub_factory("c.MOSlurmSpawner.slurm_command_timeout = 2.0\n")
    user = "moss03"
    start(hub, user, partition="cpu")
    job_id = hub.wait_ready(user)["state"]["job_id"]
    pids = controller_pids()
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)  # queries now hang until their timeout
    try:
        time.sleep(10)
        timeouts = sum(
            hub.metric("jupyterhub_moss_slurm_commands_total", command=c, outcome="timeout")
            for c in ("scontrol", "squeue")
        )
        assert timeouts >= 1
        model = hub.server_model(user)
        assert model and model["ready"]
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    time.sleep(4)
    assert hub.server_model(user)["state"]["job_id"] == job_id
    assert "Slurm did not answer, job states are not updated" in hub.log()
    assert_no_orphans(hub, [user])


@pytest.mark.slow
def test_job_killed_at_its_time_limit_is_noticed(hub):
    user = "moss04"
    start(hub, user, partition="cpu", runtime="1")
    job_id = hub.wait_ready(user)["state"]["job_id"]
    hub.wait_stopped(user, timeout=60 + 30 + 10)
    assert job_info(job_id)["JobState"] == "TIMEOUT"
    assert active_jobs(user) == []


def test_stop_while_pending_cancels_the_job(hub):
    user = "moss05"
    blocker = block_partition()
    try:
        start(hub, user, partition="cpu")
        job_id = wait_for_job(user)
        assert job_info(job_id)["JobState"] == "PENDING"
        r = hub.api("DELETE", f"/users/{user}/server")
        assert r.status_code in (202, 204)
        hub.wait_stopped(user, timeout=60)
        assert job_info(job_id)["JobState"] == "CANCELLED"
    finally:
        slurm("scancel", blocker, check=False)
    assert active_jobs(user) == []


def test_start_timeout_while_queued_cancels_and_says_why(hub_factory):
    hub = hub_factory("c.Spawner.start_timeout = 15\n")
    user = "moss06"
    blocker = block_partition()
    try:
        start(hub, user, partition="cpu")
        job_id = wait_for_job(user)
        messages = progress_messages(hub, user, "still queued", timeout=40)
        final = messages[-1]
        assert f"Job {job_id} was still queued after 15 s" in final, messages
        assert "Pending: waiting" in final and "has been cancelled" in final
        hub.wait_stopped(user, timeout=30)
        assert job_info(job_id)["JobState"] == "CANCELLED"
    finally:
        slurm("scancel", blocker, check=False)
    assert active_jobs(user) == []


def test_hub_restart_while_pending_follows_the_job_to_its_server(hub):
    user = "moss07"
    blocker = block_partition()
    try:
        start(hub, user, partition="cpu")
        job_id = wait_for_job(user)
        hub.stop()
        slurm("scancel", blocker)  # the job starts while the hub is down
        hub.start()
        model = hub.wait_ready(user, timeout=60)
        assert model["state"]["job_id"] == job_id
        client = hub.login(user)
        assert hub.server_status(client, user).status_code == 200
        assert active_jobs(user) == [job_id]
    finally:
        slurm("scancel", blocker, check=False)
    assert_no_orphans(hub, [user])


def test_hub_restart_while_pending_cancels_a_job_that_stays_queued(hub_factory):
    hub = hub_factory("c.Spawner.start_timeout = 15\nc.Spawner.http_timeout = 5\n")
    user = "moss07"
    blocker = block_partition()
    try:
        start(hub, user, partition="cpu")
        job_id = wait_for_job(user)
        hub.restart()
        # Still queued after start_timeout: JupyterHub gives up on it and it is cancelled.
        hub.wait_stopped(user, timeout=60)
        deadline = time.time() + 20
        while time.time() < deadline and job_info(job_id)["JobState"] == "PENDING":
            time.sleep(0.5)
        assert job_info(job_id)["JobState"] == "CANCELLED"
    finally:
        slurm("scancel", blocker, check=False)
    assert active_jobs(user) == []


def test_taken_port_is_replaced_by_a_free_one(hub_factory):
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        hub = hub_factory(f"c.Spawner.port = {port}\n")
        user = "moss08"
        start(hub, user, partition="cpu")
        model = hub.wait_ready(user)
        job_id = model["state"]["job_id"]
        info = job_info(job_id)
        assert info["Comment"].startswith("moss:port=")
        assert info["Comment"] != f"moss:port={port}"
        output = job_output(job_id)
        assert f"port {port} is taken on" in output
        client = hub.login(user)
        assert hub.server_status(client, user).status_code == 200
    assert_no_orphans(hub, [user])


def test_a_port_taken_for_a_moment_at_the_servers_bind_brings_another_port(hub_factory):
    # Another process held the port just when the server bound it (an outgoing
    # connection's own port comes from the same range), and let it go right after:
    # the server says so and exits. Its first start here plays that part.
    with shared_folder() as folder:
        first = folder / "first-start-done"
        wrapper = write_script(
            folder / "server-losing-its-port-once",
            "#!/bin/bash\n"
            "port=${JUPYTERHUB_SERVICE_URL##*:}; port=${port%%/*}\n"
            f"if [ ! -e {first} ]; then\n"
            f"    touch {first}\n"
            '    echo "[C ServerApp] ERROR: the Jupyter server could not be started because'
            ' port $port is not available." >&2\n'
            "    exit 1\n"
            "fi\n"
            f'exec {HUB_VENV}/bin/jupyterhub-singleuser "$@"\n',
        )
        folder.chmod(0o777)  # the job, as the user, marks its first start there
        hub = hub_factory(f"c.Spawner.cmd = [{str(wrapper)!r}]\n")
        user = "moss09"
        start(hub, user, partition="cpu")
        model = hub.wait_ready(user)
        output = job_output(model["state"]["job_id"])
        assert "was taken before the server could listen on it, trying another" in output
        assert first.exists()
        client = hub.login(user)
        assert hub.server_status(client, user).status_code == 200
    assert_no_orphans(hub, [user])
