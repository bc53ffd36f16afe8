"""Spawn links (/hub/spawn?...) on a real hub: a link starts a server only when the
request shows it comes from the hub's own pages; a link from anywhere else (another
site, the address bar) opens the spawn page filled in from it, and submits nothing."""

import html
import json
import re

import pytest
from support.hubtools import active_jobs, job_info

from jupyterhub_moss.web.spawn_links import LINK_NOTICE

pytestmark = pytest.mark.cluster

#: What a page of another site made a logged-in user's browser open in the report.
ATTACK = "partition=gpu&nprocs=3&ngpus=2&runtime=1:00:00"
CROSS_SITE = {
    "Sec-Fetch-Site": "cross-site",
    "Sec-Fetch-Mode": "navigate",
    "Sec-Fetch-Dest": "document",
}


def form_state(response) -> dict:
    """The spawn page's state, as the form's script gets it."""
    match = re.search(
        r'<script type="application/json" id="moss-data">(.*?)</script>', response.text, re.S
    )
    assert match, response.text[-2000:]
    return json.loads(match.group(1))["state"]


def assert_shown_not_started(hub, user, response, server=""):
    assert response.status_code == 200, (response.status_code, response.text[-1000:])
    assert LINK_NOTICE in html.unescape(response.text)
    assert "spawn-error-msg" not in response.text  # a notice, not an error
    state = form_state(response)
    assert state["tab"] == "advanced"
    advanced = state["advanced"]
    assert (advanced["partition"], advanced["nprocs"], advanced["ngpus"]) == ("gpu", 3, 2)
    assert active_jobs(user) == []
    assert hub.server_model(user, server) is None


def test_a_cross_site_link_submits_nothing_and_shows_the_filled_in_form(hub):
    user = "moss06"
    client = hub.login(user)
    for query in (ATTACK, "&".join(f"opt-{pair}" for pair in ATTACK.split("&"))):
        r = client.get(f"/hub/spawn?{query}", headers=CROSS_SITE, follow_redirects=False)
        assert_shown_not_started(hub, user, r)


def test_a_link_without_fetch_metadata_or_with_a_wrong_token_submits_nothing(hub):
    user = "moss06"
    client = hub.login(user)
    # No Sec-Fetch-* at all: an old browser, or the address bar of one that sends none.
    r = client.get(f"/hub/spawn?{ATTACK}", follow_redirects=False)
    assert_shown_not_started(hub, user, r)
    # A token that is not the user's own, and a sibling site of the hub's.
    r = client.get(f"/hub/spawn?{ATTACK}&_xsrf=2|00000000|forged|1", follow_redirects=False)
    assert_shown_not_started(hub, user, r)
    r = client.get(
        f"/hub/spawn?{ATTACK}",
        headers={**CROSS_SITE, "Sec-Fetch-Site": "same-site"},
        follow_redirects=False,
    )
    assert_shown_not_started(hub, user, r)


def test_a_cross_site_link_to_a_named_server_creates_nothing(hub):
    user = "moss06"
    client = hub.login(user)
    r = client.get(
        f"/hub/spawn/{user}/fromlink?{ATTACK}", headers=CROSS_SITE, follow_redirects=False
    )
    assert_shown_not_started(hub, user, r, server="fromlink")
    assert hub.server_model(user, "") is None


def test_a_link_with_the_users_own_token_or_from_the_hubs_page_starts_at_once(hub):
    user = "moss07"
    client = hub.login(user)
    token = client.cookies.get("_xsrf", path=None)
    for query, headers in (
        (f"partition=cpu&nprocs=2&runtime=0:30:00&_xsrf={token}", {}),
        (
            "opt-partition=cpu&opt-nprocs=2&opt-runtime=0:30:00",
            {**CROSS_SITE, "Sec-Fetch-Site": "same-origin"},
        ),
    ):
        r = client.get(f"/hub/spawn?{query}", headers=headers, follow_redirects=False)
        assert r.status_code in (302, 303), (r.status_code, r.text[-1000:])
        model = hub.wait_ready(user)
        info = job_info(model["state"]["job_id"])
        assert (info["Partition"], info["NumCPUs"], info["TimeLimit"]) == ("cpu", "2", "00:30:00")
        hub.api("DELETE", f"/users/{user}/server")
        hub.wait_stopped(user)


def test_the_start_button_on_a_links_form_starts_the_links_options(hub):
    user = "moss07"
    client = hub.login(user)
    query = "partition=long&nprocs=3&runtime=0:45:00"
    r = client.get(f"/hub/spawn?{query}", headers=CROSS_SITE, follow_redirects=False)
    assert r.status_code == 200 and active_jobs(user) == []
    # The form posts back to the link's URL with the user's token, as JupyterHub's page does.
    action = html.unescape(re.search(r'id="spawn_form"\s+action="([^"]*)"', r.text).group(1))
    assert "_xsrf=" in action
    state = form_state(r)["advanced"]
    sent = {
        "partition": state["partition"],
        "nprocs": str(state["nprocs"]),
        "runtime": state["runtime"],
    }
    r = client.post(action, data=sent, follow_redirects=False)
    assert r.status_code == 302, r.text[-1000:]
    info = job_info(hub.wait_ready(user)["state"]["job_id"])
    assert (info["Partition"], info["NumCPUs"], info["TimeLimit"]) == ("long", "3", "00:45:00")


def preset_links(response) -> list[str]:
    section = re.search(r'id="moss-presets".*?</section>', response.text, re.S)
    assert section, response.text[-2000:]
    return [html.unescape(h) for h in re.findall(r'<a [^>]*href="([^"]*)"', section.group(0))]


def test_each_spawn_page_links_only_to_its_own_server(hub):
    # Two users with the same choices and the same history get pages that differ only
    # in where their "Start again" links lead (the form is cached by what it shows).
    options = {"partition": "cpu", "nprocs": 1, "runtime": "00:30:00"}
    users = ("moss08", "moss09")
    for user in users:
        r = hub.api("POST", f"/users/{user}/server", json={"user_options": options})
        assert r.status_code in (201, 202), r.text
    for user in users:
        hub.wait_ready(user)
        hub.api("DELETE", f"/users/{user}/server")
    for user in users:
        hub.wait_stopped(user)
    for user in users:
        client = hub.login(user)
        for page, own in (
            ("/hub/spawn", f"/hub/spawn/{user}?"),
            (f"/hub/spawn/{user}/other", f"/hub/spawn/{user}/other?"),
        ):
            links = preset_links(client.get(page))
            assert links and all(link.startswith(own) for link in links), (page, links)
