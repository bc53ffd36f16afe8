"""The job's output on the local cluster: where the job puts it (the user's state
folder, the newest five kept), and the page that shows it, to its owner and the
admins only."""

import os
import pwd
import shutil
import time
from pathlib import Path

import pytest
from support.hubtools import block_partition, job_info, make_user_folder, slurm, state_folder

pytestmark = pytest.mark.cluster

LISTENING = "jupyterhub_moss: server listening on"
ADMIN = "moss15"
ADMIN_PASSWORD = "admin-password-of-the-log-tests-0123456789"


def start(hub, user, server="", **options):
    options.setdefault("partition", "cpu")
    path = f"/users/{user}/server" if not server else f"/users/{user}/servers/{server}"
    r = hub.api("POST", path, json={"user_options": options})
    assert r.status_code in (201, 202), r.text
    return r


def stop(hub, user, server=""):
    path = f"/users/{user}/server" if not server else f"/users/{user}/servers/{server}"
    r = hub.api("DELETE", path)
    assert r.status_code in (202, 204), r.text
    hub.wait_stopped(user, server)


def log_json(hub, client, user, server=""):
    path = f"/hub/api/moss/log/{user}" + (f"/{server}" if server else "")
    return client.get(path, headers=hub.xsrf(client))


def read_log(hub, client, user, server="", wanted=LISTENING, timeout=15):
    """The API's answer once its lines hold ``wanted`` (reads are spaced as the
    per-viewer limit asks)."""
    deadline = time.time() + timeout
    while True:
        r = log_json(hub, client, user, server)
        if r.status_code == 429:
            time.sleep(float(r.headers.get("Retry-After", "2")))
            continue
        assert r.status_code == 200, r.text
        body = r.json()
        if any(wanted in line for line in body["lines"]) or time.time() > deadline:
            return body
        time.sleep(2.1)


def test_log_page_shows_the_last_lines_to_its_owner(hub_factory):
    hub = hub_factory()
    user = "moss13"
    # The job pends behind another one, so that the pending page has something to say.
    blocker = block_partition("gpu", 1, minutes=5)
    try:
        start(hub, user, partition="gpu")
        events = hub.progress_events(user, until="Pending", timeout=30)
    finally:
        slurm("scancel", blocker, check=False)
    # The pending page links to the output.
    assert any(f"/hub/moss/log/{user}" in e.get("html_message", "") for e in events), events
    job_id = hub.wait_ready(user)["state"]["job_id"]
    client = hub.login(user)

    page = client.get(f"/hub/moss/log/{user}")
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    assert LISTENING in page.text
    assert f"job {job_id}" in page.text
    assert 'data-active="true"' in page.text and "moss-log.js" in page.text

    body = read_log(hub, client, user)
    assert (body["job_id"], body["state"], body["truncated"]) == (job_id, "RUNNING", False)
    assert any(LISTENING in line for line in body["lines"])
    # No login, no log.
    assert hub.request_with("nope", "GET", f"/hub/api/moss/log/{user}").status_code == 403

    # Once the server stops, its last job's output is still there, not refreshed.
    stop(hub, user)
    time.sleep(3.1)
    body = read_log(hub, client, user)
    assert (body["job_id"], body["state"]) == (job_id, "ENDED")
    assert any(LISTENING in line for line in body["lines"])


def test_log_page_is_403_for_another_user(hub_factory):
    hub = hub_factory()
    owner, other = "moss14", "moss13"
    start(hub, owner)
    hub.wait_ready(owner)
    stranger = hub.login(other)
    assert stranger.get(f"/hub/moss/log/{owner}").status_code == 403
    assert log_json(hub, stranger, owner).status_code == 403
    # Whether the server exists or not: nothing is given away.
    assert stranger.get(f"/hub/moss/log/{owner}/nope").status_code == 403
    assert stranger.get("/hub/moss/log/nobody-at-all").status_code == 403
    # The owner's unknown server: 404.
    client = hub.login(owner)
    assert client.get(f"/hub/moss/log/{owner}/nope").status_code == 404
    assert client.get(f"/hub/moss/log/{owner}").status_code == 200


def test_admin_can_read_it(hub_factory):
    # The shared-password login lets admins in with a password of their own.
    hub = hub_factory(
        f"c.Authenticator.admin_users = {{{ADMIN!r}}}\n"
        f"c.SharedPasswordAuthenticator.admin_password = {ADMIN_PASSWORD!r}\n"
    )
    owner = "moss14"
    start(hub, owner)
    job_id = hub.wait_ready(owner)["state"]["job_id"]
    admin = hub.login(ADMIN, ADMIN_PASSWORD)
    body = read_log(hub, admin, owner)
    assert body["job_id"] == job_id
    assert any(LISTENING in line for line in body["lines"])
    page = admin.get(f"/hub/moss/log/{owner}")
    assert page.status_code == 200 and LISTENING in page.text
    # An admin asking for a user who does not exist: 404.
    assert admin.get("/hub/moss/log/nobody-at-all").status_code == 404


def test_reading_logs_too_fast_is_a_429_that_says_when_to_ask_again(hub_factory):
    hub = hub_factory(
        f"c.Authenticator.admin_users = {{{ADMIN!r}}}\n"
        f"c.SharedPasswordAuthenticator.admin_password = {ADMIN_PASSWORD!r}\n"
    )
    owners = ("moss13", "moss14")
    for owner in owners:
        start(hub, owner)
    for owner in owners:
        hub.wait_ready(owner)
    admin = hub.login(ADMIN, ADMIN_PASSWORD)
    read_log(hub, admin, owners[0])
    # A second job's output at once: one read per viewer every 2 s.
    r = log_json(hub, admin, owners[1])
    assert r.status_code == 429, r.text
    assert r.headers.get("Retry-After") in ("1", "2"), dict(r.headers)
    assert r.json()["message"] == "Too many reads of the job output"
    time.sleep(int(r.headers["Retry-After"]))
    assert log_json(hub, admin, owners[1]).status_code == 200


def test_output_lands_in_the_state_folder_and_only_the_last_five_stay(hub_factory):
    user = "moss16"
    account = pwd.getpwnam(user)
    home = Path(account.pw_dir)
    folder = state_folder(user)
    shutil.rmtree(folder, ignore_errors=True)
    make_user_folder(user, folder)
    # Six outputs of earlier jobs, and a file of the user's own.
    now = time.time()
    for n in range(1, 7):
        old = folder / f"{n}.log"
        old.write_text(f"old job {n}\n")
        os.utime(old, (now - 3600 + n, now - 3600 + n))
    (folder / "notes.txt").write_text("mine\n")
    for path in [folder, *folder.iterdir()]:
        os.chown(path, account.pw_uid, account.pw_gid)
    folder.chmod(0o700)

    hub = hub_factory()
    start(hub, user)
    job_id = hub.wait_ready(user)["state"]["job_id"]
    output = folder / f"{job_id}.log"
    assert LISTENING in output.read_text()
    assert output.stat().st_uid == account.pw_uid
    assert folder.stat().st_mode & 0o777 == 0o700
    # Nothing at the top of the home folder: neither the old name nor the hidden one.
    assert not (home / f"jupyterhub_moss_{job_id}.log").exists()
    assert not (home / f".jupyterhub_moss_{job_id}.log").exists()
    assert job_info(job_id)["StdOut"] == str(home / f".jupyterhub_moss_{job_id}.log")
    kept = sorted(p.name for p in folder.iterdir())
    assert kept == sorted([f"{job_id}.log", "3.log", "4.log", "5.log", "6.log", "notes.txt"])
    # The hub reads it there.
    state = hub.server_model(user)["state"]
    assert state["job_output"][0] == str(output)
    body = read_log(hub, hub.login(user), user)
    assert any(LISTENING in line for line in body["lines"])

    stop(hub, user)
    start(hub, user)
    second = hub.wait_ready(user)["state"]["job_id"]
    kept = sorted(p.name for p in folder.iterdir())
    assert kept == sorted(
        [f"{second}.log", f"{job_id}.log", "4.log", "5.log", "6.log", "notes.txt"]
    )
    stop(hub, user)
