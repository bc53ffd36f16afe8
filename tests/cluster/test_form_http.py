"""The spawn page and its endpoint over plain HTTP (both JupyterHub versions)."""

import json
import re

import httpx
import pytest
from support.hubtools import SERVICE_TOKEN, shared_folder

pytestmark = pytest.mark.cluster


def page_data(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="moss-data">(.*?)</script>', html, re.S)
    assert match, "no data block in the page"
    return json.loads(match.group(1))


def test_spawn_page_carries_the_partitions(hub):
    client = hub.login("moss09")
    page = client.get("/hub/spawn")
    assert page.status_code == 200
    data = page_data(page.text)
    names = [p["name"] for p in data["partitions"]]
    assert names == ["cpu", "gpu", "long"]
    gpu = data["partitions"][1]
    assert (gpu["max_nprocs"], gpu["max_ngpus"], gpu["max_runtime"], gpu["has_gpu"]) == (
        128,
        2,
        3600,
        True,
    )
    assert data["resources_url"] == "/hub/api/moss/resources"
    assert data["state"]["tab"] == "simple"
    # The script and style are served by the hub.
    for asset in ("moss-facts.js", "moss-form.js", "moss-estimate.js", "moss-form.css"):
        r = client.get(f"/hub/moss/static/{asset}")
        assert r.status_code == 200 and len(r.content) > 500


def test_resources_endpoint_is_for_logged_in_users_only(hub):
    url = f"{hub.url}/hub/api/moss/resources"
    assert httpx.get(url, timeout=30).status_code == 403
    # A service's token is not a user: no partitions to show.
    r = httpx.get(url, headers={"Authorization": f"token {SERVICE_TOKEN}"}, timeout=30)
    assert r.status_code == 403
    client = hub.login("moss09")
    r = client.get("/hub/api/moss/resources", headers=hub.xsrf(client))
    assert r.status_code == 200
    body = r.json()
    assert [p["name"] for p in body["partitions"]] == ["cpu", "gpu", "long"]
    long = body["partitions"][2]["resources"]
    assert (long["cpus_total"], long["nodes_total"]) == (120, 3)
    assert body["error"] is None
    # It changes nothing: other methods are not there.
    assert client.post("/hub/api/moss/resources", headers=hub.xsrf(client)).status_code in (
        403,
        405,
    )


def test_resources_endpoint_needs_a_token_that_may_start_the_users_servers(hub):
    user = "moss09"
    narrow = hub.user_token(user, scopes=[f"read:users:name!user={user}"])
    r = hub.request_with(narrow, "GET", "/hub/api/moss/resources")
    assert r.status_code == 403, r.text
    wide = hub.user_token(user, scopes=[f"servers!user={user}"])
    r = hub.request_with(wide, "GET", "/hub/api/moss/resources")
    assert r.status_code == 200, r.text
    assert [p["name"] for p in r.json()["partitions"]] == ["cpu", "gpu", "long"]


def test_user_partitions_limit_what_is_shown_and_accepted(hub_factory):
    hub = hub_factory(
        """
        def only_cpu_for_odd_users(spawner):
            return ["cpu"] if int(spawner.user.name[-1]) % 2 else ["cpu", "gpu", "long"]

        c.MOSlurmSpawner.user_partitions = only_cpu_for_odd_users
        """
    )
    client = hub.login("moss09")
    assert [p["name"] for p in page_data(client.get("/hub/spawn").text)["partitions"]] == ["cpu"]
    r = hub.api("POST", "/users/moss09/server", json={"user_options": {"partition": "gpu"}})
    assert r.status_code == 400
    assert r.json()["message"] == "partition: 'gpu' is not one you can use; choose one of: cpu"
    client = hub.login("moss10")
    names = [p["name"] for p in page_data(client.get("/hub/spawn").text)["partitions"]]
    assert names == ["cpu", "gpu", "long"]


def test_admin_template_adds_a_footer_without_copying_the_page(hub_factory):
    with shared_folder() as folder:  # one the hub's account may read
        templates = folder / "templates"
        templates.mkdir()
        check_admin_footer(hub_factory, templates)


def check_admin_footer(hub_factory, templates):
    (templates / "moss_form.html").write_text(
        '{% extends "moss_form_base.html" %}\n'
        "{% block footer %}<p id='site-help'>Help: "
        "<a href='https://hpc.example.org/jupyter'>site documentation</a></p>{% endblock %}\n"
    )
    hub = hub_factory(f"c.JupyterHub.template_paths = [{str(templates)!r}]\n")
    client = hub.login("moss09")
    html = client.get("/hub/spawn").text
    assert "<p id='site-help'>Help: <a href='https://hpc.example.org/jupyter'>" in html
    assert page_data(html)["partitions"]  # the rest of the form is still there
    assert 'id="moss-tab-advanced"' in html


EVIL = "</script><script>window.pwned = 1</script>\"'&<b>bold</b>{{ 7*7 }}"


def test_page_escapes_admin_and_slurm_text(hub_factory):
    hub = hub_factory(
        f"""
        c.MOSlurmSpawner.partitions["cpu"]["description"] = {EVIL!r}
        c.MOSlurmSpawner.partitions["cpu"]["architecture"] = {EVIL!r}
        """
    )
    client = hub.login("moss09")
    html = client.get("/hub/spawn").text
    assert "<script>window.pwned" not in html
    assert "<b>bold</b>" not in html
    assert "49" not in re.findall(r"moss-partition-title\">([^<]*)<", html)[0]
    # The data block still parses and holds the text unchanged.
    data = page_data(html)
    assert data["partitions"][0]["description"] == EVIL
    assert data["partitions"][0]["architecture"] == EVIL
