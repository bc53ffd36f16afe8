"""The user's choices as the running Jupyter server sees them, on the real cluster."""

import os
import pwd
import secrets
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.cluster


@pytest.fixture
def user_folder():
    """A folder of moss12's own in their home, with one file in it."""
    user = "moss12"
    account = pwd.getpwnam(user)
    folder = Path(account.pw_dir) / f"moss-root-{secrets.token_hex(3)}"
    folder.mkdir()
    marker = folder / f"marker-{secrets.token_hex(3)}.txt"
    marker.write_text("written by the test\n")
    for path in (folder, marker):
        os.chown(path, account.pw_uid, account.pw_gid)
    try:
        yield user, folder, marker
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_root_dir_and_default_url_are_those_of_the_running_server(hub, user_folder):
    user, folder, marker = user_folder
    options = {"partition": "cpu", "root_dir": f"~/{folder.name}", "default_url": "/tree"}
    r = hub.api("POST", f"/users/{user}/server", json={"user_options": options})
    assert r.status_code in (201, 202), r.text
    hub.wait_ready(user)
    token = hub.user_token(user)

    # The server's files are those of the chosen folder, not of the home folder
    # (which holds the job's output files, among others).
    contents = hub.request_with(token, "GET", f"/user/{user}/api/contents")
    assert contents.status_code == 200, contents.text[:500]
    assert [item["name"] for item in contents.json()["content"]] == [marker.name]
    file = hub.request_with(token, "GET", f"/user/{user}/api/contents/{marker.name}")
    assert file.status_code == 200
    assert file.json()["content"] == "written by the test\n"

    # The server's own front page sends the user to the chosen page.
    landing = hub.request_with(token, "GET", f"/user/{user}/", follow_redirects=False)
    assert landing.status_code in (301, 302), landing.status_code
    assert landing.headers["location"].split("?")[0].endswith(f"/user/{user}/tree")
