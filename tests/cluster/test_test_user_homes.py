"""After everything else has run: no test, hub or job left a path in a test user's
home that the user does not own. (A folder made there as root breaks every later
server of that user, and is hidden on a machine where the user's home is old.)"""

import os
import pwd
from types import SimpleNamespace

import pytest
from support.hubtools import TEST_USERS, foreign_paths_in_home


# The cluster mark puts it in every run that touches the users' homes; conftest.py
# moves tests marked run_last to the end of the run.
@pytest.mark.cluster
@pytest.mark.run_last
def test_every_path_in_the_test_users_homes_belongs_to_its_user():
    foreign = {user: paths for user in TEST_USERS if (paths := foreign_paths_in_home(user))}
    assert foreign == {}


def test_the_home_check_reports_folders_made_as_another_user(tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / ".local" / "state").mkdir(parents=True)
    (home / ".local" / "state" / "mine.txt").write_text("x")
    os.chown(home / ".local" / "state" / "mine.txt", os.getuid() + 1, -1)
    monkeypatch.setattr(
        pwd, "getpwnam", lambda name: SimpleNamespace(pw_dir=str(home), pw_uid=os.getuid() + 1)
    )
    found = foreign_paths_in_home("someone")
    assert sorted(found) == sorted(
        f"{p} (uid {os.getuid()})" for p in (home, home / ".local", home / ".local" / "state")
    )
