"""The options form as rendered in the hub process: kept pages never leak between
users, and follow the admin's partitions and each new ``sinfo`` answer."""

import copy
import dataclasses
import re
import time
from types import SimpleNamespace

from support.forms import FormSpawner, page_data, render, snapshot
from support.partitions import SEED, SINFO

from jupyterhub_moss.slurm.sinfo import SinfoSnapshot, parse_sinfo


def test_each_user_gets_their_own_previous_choice():
    shared = snapshot()
    first = FormSpawner(SEED, shared, {"partition": "cpu", "nprocs": 14, "runtime": "2:00:00"})
    second = FormSpawner(SEED, shared, {"partition": "long", "nprocs": 3, "runtime": "5:30:00"})
    nobody = FormSpawner(SEED, shared)

    pages = [render(first), render(second), render(nobody), render(first)]
    states = [page_data(html)["state"] for html in pages]
    assert states[0]["simple"]["nprocs"] == 14 and states[0]["tab"] == "simple"
    assert states[1]["advanced"]["partition"] == "long" and states[1]["tab"] == "advanced"
    assert states[1]["advanced"]["minutes"] == 30
    assert states[2]["simple"]["nprocs"] == 1
    assert pages[3] == pages[0]


def test_a_changed_partition_config_shows_at_once():
    shared = snapshot()
    before = render(FormSpawner(SEED, shared))
    changed = copy.deepcopy(SEED)
    changed["cpu"]["description"] = "Renamed <b>partition</b>"
    after = render(FormSpawner(changed, shared))
    assert "Renamed" not in before
    assert "Renamed &lt;b&gt;partition&lt;/b&gt;" in after


def test_a_new_sinfo_answer_shows_its_numbers():
    first = snapshot()
    html = render(FormSpawner(SEED, first))
    busy = parse_sinfo(SINFO)
    cpu = busy["cpu"]
    busy["cpu"] = dataclasses.replace(cpu, cpus_idle=1)
    later = SinfoSnapshot(busy, first.fetched_at + 31)
    html_later = render(FormSpawner(SEED, later))

    def idle(page):
        parts = {p["name"]: p for p in page_data(page)["partitions"]}
        return parts["cpu"]["resources"]["cpus_idle"]

    assert idle(html) == parse_sinfo(SINFO)["cpu"].cpus_idle == 56
    assert idle(html_later) == 1


def test_text_from_slurm_renders_as_text():
    # sinfo's error output reaches the page when the controller does not answer.
    evil = "</script><script>window.pwned = 1</script>\"'&<b>bold</b>"
    broken = SinfoSnapshot({}, time.monotonic(), error=evil)
    html = render(FormSpawner(SEED, broken))
    assert "<script>window.pwned" not in html
    assert "<b>bold</b>" not in html
    assert "The Slurm controller did not answer: &lt;/script&gt;" in html
    # The page's data still parses; the admin's limits keep the partitions usable.
    data = page_data(html)
    assert [p["available"] for p in data["partitions"]] == [True, True, True]


def with_launches(spawner, *histories):
    """The user's spawners' stored launches, as the hub's database holds them: a dict
    of the user's servers by name."""
    spawner.user = SimpleNamespace(
        name="moss01",
        orm_user=SimpleNamespace(
            orm_spawners={
                f"server{i}": SimpleNamespace(state={"moss_launches": h})
                for i, h in enumerate(histories)
            }
        ),
    )
    spawner.name = ""
    return spawner


def test_start_again_offers_the_last_three_distinct_launches_as_links():
    launches = [
        {"options": {"partition": "cpu", "nprocs": 4, "runtime": "02:00:00"}, "time": 40},
        {"options": {"partition": "long", "nprocs": 2, "runtime": "05:00:00"}, "time": 30},
        {"options": {"partition": "cpu", "nprocs": 4, "runtime": "02:00:00"}, "time": 20},
    ]
    named = [{"options": {"partition": "cpu", "nprocs": 1, "runtime": "01:00:00"}, "time": 35}]
    old = [{"options": {"partition": "cpu", "nprocs": 28, "runtime": "03:00:00"}, "time": 1}]
    html = render(with_launches(FormSpawner(SEED, snapshot()), launches, named, old))
    links = re.findall(
        r'<a class="btn btn-sm btn-outline-primary" href="([^"]+)">([^<]+)</a>', html
    )
    assert [label for _, label in links] == [
        "cpu · 4 cores · 2 h",
        "cpu · 1 core · 1 h",
        "long · 2 cores · 5 h",
    ]
    assert links[0][0] == (
        "/hub/spawn/moss01?opt-partition=cpu&amp;opt-nprocs=4&amp;opt-runtime=02%3A00%3A00"
    )


def test_a_preset_no_longer_valid_is_disabled_with_the_reason():
    launches = [{"options": {"partition": "cpu", "nprocs": 64, "runtime": "01:00:00"}, "time": 9}]
    html = render(with_launches(FormSpawner(SEED, snapshot()), launches))
    assert "moss-preset-1-why" in html
    assert re.search(r"<button[^>]*disabled[^>]*>cpu · 64 cores · 1 h</button>", html)
    assert "No longer possible: 64 is out of range: partition &#39;cpu&#39; allows 1 to" in html
    assert "opt-nprocs=64" not in html
