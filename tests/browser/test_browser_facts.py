"""What Slurm knows, on the spawn page, in a real headless Chromium against a real
hub on the local cluster with accounting on: accounts and QOS, GPU types,
reservations, and "Start again".

The accounts of the test users are listed at the top of dev/cluster-up.sh.
Screenshots of the Advanced tab with these parts shown, light and dark, are saved
to test-artifacts/ (the README's pictures come from there).
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from datetime import datetime

import pytest
from support.hubtools import (
    GPUMIX_PARTITION,
    PARTITIONS,
    active_jobs,
    block_partition,
    job_info,
    node4_reservation,
    slurm,
)
from test_browser import ARTIFACTS, browser, open_spawn_page  # noqa: F401 - fixture

pytestmark = [pytest.mark.cluster, pytest.mark.browser]

GPUMIX = {**GPUMIX_PARTITION, "simple": False}
DEBUG = {**PARTITIONS["cpu"], "description": "Quick tests", "max_runtime": 1800, "simple": True}
CONFIG = f"""
c.MOSlurmSpawner.partitions["gpumix"] = {GPUMIX!r}
c.MOSlurmSpawner.partitions["debug"] = {DEBUG!r}
"""


@pytest.fixture(autouse=True)
def accounting():
    if "accounting_storage/slurmdbd" not in slurm("scontrol", "show", "config"):
        pytest.skip("this cluster runs without slurmdbd")


def options_of(page, selector: str) -> list[str]:
    return page.locator(f"{selector} option").evaluate_all("os => os.map(o => o.value)")


def sacctmgr(user: str, fmt: str = "Account") -> set[str]:
    out = slurm("sacctmgr", "-nP", "show", "assoc", "where", f"user={user}", f"format={fmt}")
    return {line for line in out.splitlines() if line}


def test_accounts_and_qos_offered_are_those_sacctmgr_lists(browser, hub_factory):  # noqa: F811
    hub = hub_factory(CONFIG)
    user = "moss01"
    page = open_spawn_page(browser, hub, user)
    # Simple tab: the user's accounts, the default one first and preselected.
    assert page.locator("#moss-simple-account-row").is_visible()
    assert set(options_of(page, "#moss-simple-account")) == sacctmgr(user)
    assert options_of(page, "#moss-simple-account")[0] == "moss"
    assert page.input_value("#moss-simple-account") == "moss"

    page.click("#moss-tab-advanced")
    page.select_option("#moss-adv-partition", "cpu")
    assert page.locator("#moss-adv-qos-col").is_hidden()  # account moss: QOS normal only
    page.select_option("#moss-adv-account", "proj1")
    assert page.locator("#moss-adv-qos-col").is_visible()
    qos = sacctmgr(user, "Account,QOS")
    assert "proj1|" + ",".join(sorted(options_of(page, "#moss-adv-qos"))) in qos
    assert page.input_value("#moss-adv-qos") == "normal"  # proj1's DefaultQOS

    # QOS short's MaxWall (30 min) caps the run time, and more cannot be submitted.
    page.select_option("#moss-adv-qos", "short")
    assert "the limit of QOS short" in page.inner_text("#moss-adv-runtime-limit")
    page.fill("#moss-adv-hours", "1")
    page.fill("#moss-adv-minutes", "0")
    assert page.evaluate("document.getElementById('moss-adv-hours').validity.valid") is False
    page.fill("#moss-adv-hours", "0")
    page.fill("#moss-adv-minutes", "25")
    page.click("#spawn_form button[type=submit]")
    model = hub.wait_ready(user)
    info = job_info(model["state"]["job_id"])
    assert (info["Account"], info["QOS"], info["TimeLimit"]) == ("proj1", "short", "00:25:00")
    assert page.moss_errors == []


def test_screenshots_of_accounts_qos_and_gpu_types(browser, hub_factory):  # noqa: F811
    hub = hub_factory(CONFIG)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for scheme in ("light", "dark"):
        page = open_spawn_page(browser, hub, "moss01", scheme=scheme)
        page.click("#moss-tab-advanced")
        page.select_option("#moss-adv-partition", "gpumix")
        page.select_option("#moss-adv-account", "proj1")
        page.select_option("#moss-adv-qos", "short")
        page.select_option("#moss-adv-gpu-type", "a100_1g.5gb")
        page.fill("#moss-adv-ngpus", "1")
        page.fill("#moss-adv-hours", "0")
        page.fill("#moss-adv-minutes", "30")
        path = ARTIFACTS / f"spawn-accounts-{scheme}.png"
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 10_000
        assert page.moss_errors == []
        page.context.close()


def test_an_account_limited_to_one_partition_is_offered_only_there(browser, hub_factory):  # noqa: F811
    hub = hub_factory(CONFIG)
    page = open_spawn_page(browser, hub, "moss03")
    page.click("#moss-tab-advanced")
    page.select_option("#moss-adv-partition", "cpu")
    assert options_of(page, "#moss-adv-account") == ["moss"]
    assert page.locator("#moss-adv-accounting-row").is_hidden()
    assert page.locator("#moss-adv-account").is_disabled()  # nothing to choose: not sent
    page.select_option("#moss-adv-partition", "debug")
    assert options_of(page, "#moss-adv-account") == ["moss", "physics"]
    assert page.locator("#moss-adv-account").is_visible()


def test_a_gpu_type_chosen_on_the_page_gives_that_exact_gres(browser, hub_factory):  # noqa: F811
    hub = hub_factory(CONFIG)
    user = "moss04"
    page = open_spawn_page(browser, hub, user)
    page.click("#moss-tab-advanced")
    page.select_option("#moss-adv-partition", "gpu")
    assert page.locator("#moss-adv-gpu-type-row").is_hidden()  # one type
    page.select_option("#moss-adv-partition", "gpumix")
    assert page.locator("#moss-adv-gpu-type-row").is_visible()
    assert options_of(page, "#moss-adv-gpu-type") == [
        "any",
        "A100-SXM4-40GB",
        "a100_1g.5gb",
        "V100-SXM2-32GB",
    ]
    labels = page.locator("#moss-adv-gpu-type option").all_inner_texts()
    assert "a100_1g.5gb · 3 idle of 3" in labels
    page.select_option("#moss-adv-gpu-type", "A100-SXM4-40GB")
    assert page.get_attribute("#moss-adv-ngpus", "max") == "2"
    page.select_option("#moss-adv-gpu-type", "a100_1g.5gb")
    assert page.get_attribute("#moss-adv-ngpus", "max") == "3"
    page.fill("#moss-adv-ngpus", "2")
    page.click("#spawn_form button[type=submit]")
    model = hub.wait_ready(user)
    info = job_info(model["state"]["job_id"])
    assert info["TresPerNode"].replace("gres/", "gres:") == "gres:gpu:a100_1g.5gb:2"
    assert page.moss_errors == []


@pytest.fixture
def reservation():
    """A reservation of node4 (partitions long and debug) for moss05."""
    with node4_reservation("moss05", prefix="moss-page") as name:
        yield name


def test_a_reservation_the_user_may_use_gives_a_job_in_it(browser, reservation, hub_factory):  # noqa: F811
    hub = hub_factory(CONFIG)
    outsider = open_spawn_page(browser, hub, "moss06")
    outsider.click("#moss-tab-advanced")
    outsider.select_option("#moss-adv-partition", "debug")
    assert outsider.locator("#moss-adv-reservation-row").is_hidden()
    outsider.context.close()

    user = "moss05"
    page = open_spawn_page(browser, hub, user)
    page.click("#moss-tab-advanced")
    page.select_option("#moss-adv-partition", "cpu")  # node1, node2: not reserved
    assert page.locator("#moss-adv-reservation-row").is_hidden()
    page.select_option("#moss-adv-partition", "debug")
    assert page.locator("#moss-adv-reservation-row").is_visible()
    assert options_of(page, "#moss-adv-reservation") == ["", reservation]
    page.select_option("#moss-adv-reservation", reservation)
    page.fill("#moss-adv-hours", "0")  # debug allows 30 min
    page.fill("#moss-adv-minutes", "20")
    page.click("#spawn_form button[type=submit]")
    model = hub.wait_ready(user)
    info = job_info(model["state"]["job_id"])
    assert (info["Reservation"], info["NodeList"]) == (reservation, "node4")
    hub.api("DELETE", f"/users/{user}/server")
    hub.wait_stopped(user)


@pytest.mark.slow  # two spawns, then up to a minute for the partitions' cache
def test_start_again_offers_the_last_launches_and_starts_one(browser, hub_factory):  # noqa: F811
    hub = hub_factory(CONFIG)
    user = "moss02"
    for options in (
        {"partition": "cpu", "nprocs": 2, "runtime": "02:00:00", "account": "proj1"},
        {"partition": "debug", "nprocs": 1, "runtime": "00:20:00"},
    ):
        r = hub.api("POST", f"/users/{user}/server", json={"user_options": options})
        assert r.status_code in (201, 202), r.text
        hub.wait_ready(user)
        hub.api("DELETE", f"/users/{user}/server")
        hub.wait_stopped(user)

    page = open_spawn_page(browser, hub, user)
    presets = page.locator("#moss-presets a")
    assert presets.all_inner_texts() == [
        "debug · 1 core · 20 min · account moss · QOS normal",
        "cpu · 2 cores · 2 h · account proj1 · QOS normal",
    ]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "spawn-start-again-light.png"), full_page=True)
    presets.nth(1).click()
    model = hub.wait_ready(user)
    info = job_info(model["state"]["job_id"])
    assert (info["Partition"], info["NumCPUs"], info["Account"]) == ("cpu", "2", "proj1")

    # Once the account no longer allows it, the preset is shown disabled, with why.
    hub.api("DELETE", f"/users/{user}/server")
    hub.wait_stopped(user)
    assert active_jobs(user) == []
    slurm("scontrol", "update", "PartitionName=cpu", "AllowAccounts=moss")
    try:
        page = open_spawn_page(browser, hub, user)
        # The partitions' access lists are cached for a minute.
        deadline = time.time() + 75
        while "No longer possible" not in page.inner_text("#moss-presets"):
            assert time.time() < deadline, page.inner_text("#moss-presets")
            time.sleep(5)
            page.reload()
            page.wait_for_selector("#moss-form[data-moss-ready=true]")
        text = page.inner_text("#moss-presets")
        assert re.search(r"No longer possible: .*proj1", text), text
        assert page.locator("#moss-presets button[disabled]").count() == 1
    finally:
        slurm("scontrol", "update", "PartitionName=cpu", "AllowAccounts=ALL")


def test_the_page_says_when_slurm_would_start_the_server(browser, hub_factory):  # noqa: F811
    hub = hub_factory(CONFIG)
    page = open_spawn_page(browser, hub, "moss06")
    page.check("#moss-panel-simple input[value=cpu]")
    page.wait_for_function(
        "document.getElementById('moss-estimate').textContent === 'Starts now'", timeout=20000
    )
    # Behind a job that holds node4 for 10 minutes, debug's start is in the future.
    blocker = block_partition("debug", 1, minutes=10)
    deadline = time.time() + 30
    while job_info(blocker)["JobState"] != "RUNNING":
        assert time.time() < deadline, job_info(blocker)
        time.sleep(0.5)
    page.check("#moss-panel-simple input[value=debug]")
    page.wait_for_function(
        "document.getElementById('moss-estimate').textContent.startsWith('Expected around')",
        timeout=20000,
    )
    text = page.inner_text("#moss-estimate")
    assert re.fullmatch(r"Expected around \d\d:\d\d \(in (9|10) min\)", text), text
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        page.evaluate(f"document.documentElement.setAttribute('data-bs-theme', '{scheme}')")
        page.locator("#moss-form").screenshot(path=str(ARTIFACTS / f"spawn-estimate-{scheme}.png"))
    assert page.moss_errors == []


def squeue_end_clock(job_id: str) -> str:
    """The job's end as squeue reports it, as the page words it: HH:MM in local time,
    after the day ("Tue, Dec 8 ") when the job ends on another day than today."""
    out = subprocess.run(
        ["squeue", "-h", "-j", job_id, "-o", "%e"],
        capture_output=True,
        text=True,
        env={**os.environ, "SLURM_TIME_FORMAT": "standard"},
        check=True,
    ).stdout.strip()
    end = datetime.fromisoformat(out)
    clock = end.strftime("%H:%M")
    if end.date() == datetime.now().date():
        return clock
    return f"{end:%a}, {end:%b} {end.day} {clock}"


def test_home_page_shows_each_servers_job_and_when_it_ends(browser, hub_factory):  # noqa: F811
    hub = hub_factory(CONFIG)
    user = "moss09"
    for path, options in (
        (f"/users/{user}/server", {"partition": "cpu", "nprocs": 2, "runtime": "01:00:00"}),
        (f"/users/{user}/servers/second", {"partition": "debug", "runtime": "00:20:00"}),
    ):
        r = hub.api("POST", path, json={"user_options": options})
        assert r.status_code in (201, 202), r.text
    default = hub.wait_ready(user)["state"]["job_id"]
    second = hub.wait_ready(user, "second")["state"]["job_id"]

    page = open_spawn_page(browser, hub, user, path="/hub/home")
    page.wait_for_selector("#moss-job-default .moss-job-text")
    text = page.inner_text("#moss-job-default .moss-job-text")
    node = job_info(default)["BatchHost"]
    assert text.startswith(f"cpu · 2 cores · {node} · ends at {squeue_end_clock(default)}"), text
    row = page.locator('tr[data-server-name="second"] .moss-job-text')
    row.wait_for()
    assert f"ends at {squeue_end_clock(second)}" in row.inner_text()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        page.evaluate(f"document.documentElement.setAttribute('data-bs-theme', '{scheme}')")
        page.screenshot(path=str(ARTIFACTS / f"home-{scheme}.png"), full_page=True)

    # The job's output, from the home page's link: to its owner ...
    page.click("#moss-job-default a.moss-job-log")
    page.wait_for_selector("#moss-log")
    page.wait_for_function(
        "document.getElementById('moss-log').textContent.includes('server listening on')",
        timeout=20000,
    )
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        page.evaluate(f"document.documentElement.setAttribute('data-bs-theme', '{scheme}')")
        page.screenshot(path=str(ARTIFACTS / f"job-output-{scheme}.png"), full_page=True)
    log_url = page.url
    assert page.moss_errors == []
    # ... and a 403 to another user.
    other = open_spawn_page(browser, hub, "moss08", path="/hub/home")
    response = other.goto(log_url)
    assert response.status == 403
    assert "server listening on" not in other.content()
