"""The spawn page in a real headless Chromium, against a real hub on the local cluster.

Screenshots of both tabs, in the light and the dark theme, are saved to
test-artifacts/ (the README's pictures come from there).
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from support import REPO
from support.hubtools import (
    PASSWORD,
    Hub,
    active_jobs,
    block_partition,
    cancel_all,
    job_info,
    slurm,
)

pytestmark = [pytest.mark.cluster, pytest.mark.browser]

if os.environ.get("MOSS_REQUIRE_CLUSTER") == "1":
    # The test command: a missing browser driver is an error, never a skip.
    import playwright.sync_api as playwright_api
else:
    playwright_api = pytest.importorskip("playwright.sync_api")

ARTIFACTS = Path(os.environ.get("MOSS_ARTIFACTS", REPO / "test-artifacts"))
CHROMIUM = os.environ.get("MOSS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# A partition whose MaxTime (30 min) is under an hour, offered on the Simple tab.
DEBUG_PARTITION = """
c.MOSlurmSpawner.partitions["debug"] = {
    "description": "Quick tests",
    "architecture": "x86_64",
    "max_runtime": 1800,
    "simple": True,
    "venv": c.MOSlurmSpawner.partitions["cpu"]["venv"],
}
c.MOSlurmSpawner.sinfo_cache_ttl = 2.0
"""


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def shared_hub(tmp_path_factory):
    hub = Hub(tmp_path_factory.mktemp("browserhub"), DEBUG_PARTITION).start()
    yield hub
    hub.stop()
    cancel_all([f"moss{i:02d}" for i in range(10, 16)])


def open_spawn_page(browser, hub, user, *, scheme="light", viewport=None, path="/hub/spawn"):
    context = browser.new_context(
        color_scheme=scheme,
        reduced_motion="reduce",
        viewport=viewport or {"width": 1000, "height": 1200},
    )
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(hub.url + "/hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", PASSWORD)
    page.click("#login_submit")
    page.wait_for_load_state()
    page.goto(hub.url + path)
    if path.startswith("/hub/spawn"):
        page.wait_for_selector("#moss-form[data-moss-ready=true]")
    page.moss_errors = errors
    return page


def labels(page, container_id):
    return page.locator(f"#{container_id} label").all_inner_texts()


def test_simple_tab_follows_the_partition(browser, shared_hub):
    page = open_spawn_page(browser, shared_hub, "moss10")
    simple = page.locator("#moss-panel-simple")
    assert simple.locator("input[name=partition]").evaluate_all("els => els.map(e => e.value)") == [
        "cpu",
        "gpu",
        "debug",
    ]  # long is simple: False
    assert "Partition 1" in simple.inner_text() and "x86_86" in simple.inner_text()

    assert labels(page, "moss-simple-nprocs") == ["Minimum (1)", "Half (14)", "Maximum (28)"]
    assert page.locator("#moss-simple-gpu-row").is_hidden()
    runtimes = labels(page, "moss-simple-runtime")
    assert runtimes[0] == "1 hour" and runtimes[-1] == "12 hours" and len(runtimes) == 12

    page.check("#moss-panel-simple input[value=gpu]")
    assert labels(page, "moss-simple-nprocs") == ["Minimum (1)", "Half (64)", "Maximum (128)"]
    assert page.locator("#moss-simple-gpu-row").is_visible()
    assert labels(page, "moss-simple-ngpus") == ["0", "1", "2"]
    assert labels(page, "moss-simple-runtime") == ["1 hour"]

    page.check("#moss-panel-simple input[value=debug]")
    assert labels(page, "moss-simple-nprocs") == ["Minimum (1)", "Half (32)", "Maximum (64)"]
    assert page.locator("#moss-simple-gpu-row").is_hidden()
    assert labels(page, "moss-simple-runtime") == ["30 min"]  # under an hour: one usable choice

    # The table lists simple partitions only, the selected one stands out.
    rows = page.locator("#moss-resources tbody tr:visible")
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.partition)") == ["cpu", "gpu", "debug"]
    assert (
        page.locator("#moss-resources tr[aria-current=true]").get_attribute("data-partition")
        == "debug"
    )
    assert page.moss_errors == []


def test_advanced_tab_offers_every_partition_with_limits(browser, shared_hub):
    page = open_spawn_page(browser, shared_hub, "moss10")
    page.click("#moss-tab-advanced")
    options = page.locator("#moss-adv-partition option").evaluate_all("os => os.map(o => o.value)")
    assert options == ["cpu", "gpu", "long", "debug"]
    page.select_option("#moss-adv-partition", "gpu")
    assert page.get_attribute("#moss-adv-nprocs", "max") == "128"
    assert page.get_attribute("#moss-adv-ngpus", "max") == "2"
    assert page.inner_text("#moss-adv-runtime-limit") == "1 min to 1 h (01:00:00)"
    assert page.inner_text("#moss-adv-memory-limit").startswith("1 to 250 GB")
    page.select_option("#moss-adv-partition", "long")
    assert page.inner_text("#moss-adv-ngpus-limit") == "This partition has no GPUs"
    assert page.inner_text("#moss-adv-nprocs-limit") == "1 to 28 cores"
    # The inputs enforce the limits.
    page.fill("#moss-adv-nprocs", "29")
    assert page.evaluate("document.getElementById('moss-adv-nprocs').validity.valid") is False
    page.fill("#moss-adv-nprocs", "3")
    page.fill("#moss-adv-hours", "13")
    assert page.evaluate("document.getElementById('moss-adv-hours').validity.valid") is False
    # The table lists every partition in the Advanced tab.
    rows = page.locator("#moss-resources tbody tr:visible")
    assert rows.count() == 4
    assert page.moss_errors == []


# The local cluster's partitions, all idle (dev/cluster-up.sh): cores, nodes and GPUs,
# each as "idle / total".
IDLE_CLUSTER = {
    "cpu": ["56 / 56", "2 / 2", "–"],  # node1 and node2, 28 cores each
    "gpu": ["128 / 128", "1 / 1", "2 / 2"],  # node3, 128 cores and 2 GPUs
    "long": ["120 / 120", "3 / 3", "–"],  # node1, node2 and node4 (64 cores), summed
    "debug": ["64 / 64", "1 / 1", "–"],  # node4
}


def wait_for_idle_cluster(timeout: float = 30) -> None:
    """Wait until no job holds a node (those of earlier tests may still be ending)."""
    deadline = time.time() + timeout
    while slurm("squeue", "-h", "-o", "%i").split():
        assert time.time() < deadline, "the cluster is busy:\n" + slurm("squeue")
        time.sleep(0.5)


def test_table_shows_the_clusters_resources_and_refreshes_without_reload(browser, shared_hub):
    wait_for_idle_cluster()
    page = open_spawn_page(browser, shared_hub, "moss11")
    page.click("#moss-tab-advanced")

    def table():
        out = {}
        for row in page.locator("#moss-resources tbody tr").all():
            cells = row.locator("td").all_inner_texts()
            out[row.get_attribute("data-partition")] = cells
        return out

    assert table() == IDLE_CLUSTER
    # Take 20 cores of node4 (partitions long and debug): the page updates by itself.
    job = slurm(
        "sudo",
        "-u",
        "moss15",
        "sbatch",
        "--parsable",
        "-p",
        "debug",
        "-c",
        "20",
        "-t",
        "5",
        "--chdir=/tmp",
        "--output=/dev/null",
        "--wrap",
        "sleep 120",
    ).strip()
    try:
        page.wait_for_function(
            "document.querySelector('tr[data-partition=debug] td').textContent.startsWith('44 /')",
            timeout=20000,
        )
        assert int(page.get_attribute("#moss-form", "data-moss-refreshed")) >= 1
        # node4 is no longer idle: in debug, and in long (summed with node1 and node2).
        assert table() == dict(
            IDLE_CLUSTER, debug=["44 / 64", "0 / 1", "–"], long=["100 / 120", "2 / 3", "–"]
        )
    finally:
        slurm("scancel", job)
    assert page.moss_errors == []


def test_simple_start_submits_exactly_the_choice(browser, shared_hub):
    user = "moss12"
    page = open_spawn_page(browser, shared_hub, user)
    page.check("#moss-panel-simple input[value=gpu]")
    page.click("#moss-simple-nprocs label:has-text('Half (64)')")
    page.click("#moss-simple-ngpus label:text-is('1')")
    page.click("#moss-simple-runtime label:text-is('1 hour')")
    page.click("#spawn_form button[type=submit]")
    model = shared_hub.wait_ready(user)
    info = job_info(model["state"]["job_id"])
    assert (info["Partition"], info["NumCPUs"], info["TimeLimit"]) == ("gpu", "64", "01:00:00")
    assert info["TresPerNode"] == "gres:gpu:V100-SXM2-32GB:1"
    shared_hub.api("DELETE", f"/users/{user}/server")
    shared_hub.wait_stopped(user)

    # Next time, the last choices are preselected (from JupyterHub's stored user_options),
    # in a new browser context: nothing comes from the browser's storage.
    page = open_spawn_page(browser, shared_hub, user)
    assert page.is_checked("#moss-panel-simple input[value=gpu]")
    assert page.is_checked("#moss-simple-nprocs input[value='64']")
    assert page.is_checked("#moss-simple-ngpus input[value='1']")
    assert page.moss_errors == []


def test_advanced_start_submits_exactly_the_choice(browser, shared_hub):
    user = "moss13"
    page = open_spawn_page(browser, shared_hub, user)
    page.click("#moss-tab-advanced")
    page.select_option("#moss-adv-partition", "long")
    page.fill("#moss-adv-nprocs", "3")
    page.fill("#moss-adv-hours", "2")
    page.fill("#moss-adv-minutes", "30")
    page.fill("#moss-adv-memory-gb", "2")
    page.select_option("#moss-adv-default-url", "/tree")
    page.click("#spawn_form button[type=submit]")
    model = shared_hub.wait_ready(user)
    info = job_info(model["state"]["job_id"])
    assert (info["Partition"], info["NumCPUs"], info["TimeLimit"]) == ("long", "3", "02:30:00")
    assert info["MinMemoryNode"] == "2G"
    assert "TresPerNode" not in info
    # The pending page takes the user to the server, whose front page sends them on
    # to the interface they chose.
    page.wait_for_url(re.compile(rf".*/user/{user}/tree(\?.*)?$"), timeout=60000)
    shared_hub.api("DELETE", f"/users/{user}/server")
    shared_hub.wait_stopped(user)

    # Not representable on the Simple tab: the Advanced tab opens, filled in.
    page = open_spawn_page(browser, shared_hub, user)
    assert page.get_attribute("#moss-tab-advanced", "aria-selected") == "true"
    assert page.input_value("#moss-adv-partition") == "long"
    assert page.input_value("#moss-adv-nprocs") == "3"
    assert (page.input_value("#moss-adv-hours"), page.input_value("#moss-adv-minutes")) == (
        "2",
        "30",
    )
    assert page.input_value("#moss-adv-memory-gb") == "2"
    assert page.input_value("#moss-adv-default-url") == "/tree"


def test_switching_tabs_keeps_the_choice(browser, shared_hub):
    page = open_spawn_page(browser, shared_hub, "moss14")
    page.check("#moss-panel-simple input[value=gpu]")
    page.click("#moss-simple-nprocs label:has-text('Maximum')")
    page.click("#moss-tab-advanced")
    assert page.input_value("#moss-adv-partition") == "gpu"
    assert page.input_value("#moss-adv-nprocs") == "128"
    page.fill("#moss-adv-nprocs", "1")
    page.click("#moss-tab-simple")
    assert page.is_checked("#moss-panel-simple input[value=gpu]")
    assert page.is_checked("#moss-simple-nprocs input[value='1']")
    # Only the visible tab's fields are submitted.
    assert (
        page.locator(
            "#moss-panel-advanced input:enabled, #moss-panel-advanced select:enabled"
        ).count()
        == 0
    )
    # Keyboard: arrow keys move between the tabs.
    page.focus("#moss-tab-simple")
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.id") == "moss-tab-advanced"
    assert page.get_attribute("#moss-tab-advanced", "aria-selected") == "true"


def test_server_side_error_names_the_field(browser, shared_hub):
    page = open_spawn_page(browser, shared_hub, "moss14")
    page.click("#moss-tab-advanced")
    page.select_option("#moss-adv-partition", "cpu")
    page.fill("#moss-adv-nprocs", "500")
    # Skip the browser's own check, as a hand-made request would.
    page.evaluate("document.getElementById('spawn_form').noValidate = true")
    page.click("#spawn_form button[type=submit]")
    page.wait_for_selector(".spawn-error-msg")
    message = page.inner_text(".spawn-error-msg")
    assert "nprocs: 500 is out of range: partition 'cpu' allows 1 to 28" in message
    assert active_jobs("moss14") == []


def test_page_is_accessible_and_fits_a_phone(browser, shared_hub):
    page = open_spawn_page(browser, shared_hub, "moss15", viewport={"width": 375, "height": 740})
    for tab in ("simple", "advanced"):
        page.click(f"#moss-tab-{tab}")
        # No horizontal scrolling on a phone-sized window.
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        # Every visible field has a label; radio groups sit in fieldsets with a legend.
        unlabelled = page.evaluate(
            """() => [...document.querySelectorAll('#moss-form input, #moss-form select')]
                .filter(e => e.type !== 'hidden' && e.offsetParent !== null)
                .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
                .map(e => e.id || e.name)"""
        )
        assert unlabelled == []
        assert page.evaluate(
            """() => [...document.querySelectorAll('#moss-form input[type=radio]')]
                .every(e => e.closest('fieldset')
                            && e.closest('fieldset').querySelector('legend'))"""
        )
    assert page.get_attribute("#moss-panel-advanced", "role") == "tabpanel"
    assert page.moss_errors == []


def test_screenshots_of_the_seed_example(browser, hub):
    # The hub fixture serves the seed's three partitions, as in the README.
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for scheme in ("light", "dark"):
        page = open_spawn_page(browser, hub, "moss10", scheme=scheme)
        assert page.evaluate("document.documentElement.getAttribute('data-bs-theme')") == scheme
        page.check("#moss-panel-simple input[value=cpu]")
        page.screenshot(path=str(ARTIFACTS / f"spawn-simple-{scheme}.png"), full_page=True)
        page.check("#moss-panel-simple input[value=gpu]")
        page.screenshot(path=str(ARTIFACTS / f"spawn-simple-gpu-{scheme}.png"), full_page=True)
        page.click("#moss-tab-advanced")
        page.screenshot(path=str(ARTIFACTS / f"spawn-advanced-{scheme}.png"), full_page=True)
        for name in ("simple", "simple-gpu", "advanced"):
            assert (ARTIFACTS / f"spawn-{name}-{scheme}.png").stat().st_size > 10_000
        page.context.close()


def test_a_shared_link_opens_the_filled_in_form_and_start_runs_it(browser, shared_hub):
    # A link opened from outside the hub's pages (here typed into the address bar,
    # as a link on a course page would be followed) starts nothing by itself: the
    # form shows its options, and the Start button runs exactly them.
    user = "moss15"
    for query, expected in (
        ("partition=long&nprocs=2&runtime=30", ("long", "2", "00:30:00")),  # minutes
        ("opt-partition=long&opt-nprocs=4&opt-runtime=1:00:00", ("long", "4", "01:00:00")),
    ):
        page = open_spawn_page(browser, shared_hub, user, path=f"/hub/spawn?{query}")
        assert "This link asks to start a server" in page.inner_text("#moss-link-notice")
        assert active_jobs(user) == []
        page.click("#spawn_form button[type=submit]")
        model = shared_hub.wait_ready(user)
        info = job_info(model["state"]["job_id"])
        assert (info["Partition"], info["NumCPUs"], info["TimeLimit"]) == expected, query
        shared_hub.api("DELETE", f"/users/{user}/server")
        shared_hub.wait_stopped(user)
        assert page.moss_errors == []
        page.context.close()
    # A refused link shows the form again, with the message, and submits nothing.
    page = open_spawn_page(browser, shared_hub, user, path="/hub/spawn?partition=gpu&ngpus=7")
    assert "ngpus: 7 is out of range: partition 'gpu' allows 0 to 2" in page.inner_text(
        ".spawn-error-msg"
    )
    assert active_jobs(user) == []


def test_non_default_base_url(browser, hub_factory):
    hub = hub_factory(DEBUG_PARTITION, base_url="/jupyter/")
    user = "moss09"
    page = open_spawn_page(browser, hub, user)
    assert page.url.startswith(hub.url + "/hub/spawn")
    # The script and the resource endpoint are found under the prefix.
    page.wait_for_function(
        "Number(document.getElementById('moss-form').dataset.mossRefreshed || 0) >= 1",
        timeout=15000,
    )
    page.check("#moss-panel-simple input[value=debug]")
    page.click("#spawn_form button[type=submit]")
    model = hub.wait_ready(user)
    assert job_info(model["state"]["job_id"])["Partition"] == "debug"
    # The pending page takes the user to the server, under the prefix.
    page.wait_for_url(re.compile(rf".*/jupyter/user/{user}/.*"), timeout=60000)
    assert page.url.startswith(f"{hub.url}/user/{user}/")
    hub.api("DELETE", f"/users/{user}/server")
    hub.wait_stopped(user)
    assert page.moss_errors == []


def test_hostile_text_renders_as_text(browser, hub_factory):
    evil = "</script><script>window.pwned = 1</script>\"'&<b>bold</b>"
    hub = hub_factory(f'c.MOSlurmSpawner.partitions["cpu"]["description"] = {evil!r}\n')
    page = open_spawn_page(browser, hub, "moss09")
    assert page.evaluate("window.pwned === undefined")
    assert page.locator("#moss-panel-simple .moss-partition-title").first.inner_text() == evil
    assert page.locator("#moss-form b").count() == 0
    page.click("#moss-tab-advanced")
    assert page.inner_text("#moss-adv-partition-help").startswith(evil)
    assert page.moss_errors == []


def test_pending_page_explains_the_wait_then_opens_the_server(browser, shared_hub):
    user = "moss11"
    blocker = block_partition()
    try:
        page = open_spawn_page(browser, shared_hub, user)
        page.check("#moss-panel-simple input[value=cpu]")
        page.click("#spawn_form button[type=submit]")
        page.wait_for_url(re.compile(r".*/hub/spawn-pending/moss11.*"))
        page.wait_for_function(
            "document.getElementById('progress-message').textContent"
            ".startsWith('Pending: waiting')",
            timeout=20000,
        )
        text = page.inner_text("#progress-message")
        assert "waiting for free resources" in text or "higher-priority jobs" in text
        slurm("scancel", blocker)
        # Once the job runs, the page takes the user to the server.
        page.wait_for_url(re.compile(r".*/user/moss11/.*"), timeout=60000)
    finally:
        slurm("scancel", blocker, check=False)
    shared_hub.api("DELETE", f"/users/{user}/server")
    shared_hub.wait_stopped(user)
    assert active_jobs(user) == []


def test_pending_page_says_why_a_job_still_queued_was_given_up(browser, hub_factory):
    hub = hub_factory(DEBUG_PARTITION + "c.Spawner.start_timeout = 15\n")
    user = "moss09"
    blocker = block_partition()
    try:
        page = open_spawn_page(browser, hub, user)
        page.check("#moss-panel-simple input[value=cpu]")
        page.click("#spawn_form button[type=submit]")
        page.wait_for_url(re.compile(rf".*/hub/spawn-pending/{user}.*"))
        page.wait_for_function(
            "document.getElementById('progress-message').textContent.includes('still queued')",
            timeout=40000,
        )
        text = page.inner_text("#progress-message")
        job_id = re.search(r"Job ([0-9]+) was still queued after 15 s", text)
        assert job_id, text
        assert "Pending: waiting" in text and "has been cancelled" in text, text
        # The page marks the failure: the bar turns red, the event log opens.
        assert "bg-danger" in page.get_attribute("#progress-bar", "class")
        assert page.evaluate("document.getElementById('progress-details').open")
        hub.wait_stopped(user, timeout=30)
        assert job_info(job_id.group(1))["JobState"] == "CANCELLED"
    finally:
        slurm("scancel", blocker, check=False)
    assert active_jobs(user) == []
    assert page.moss_errors == []


def test_failed_start_shows_the_job_output(browser, hub_factory):
    hub = hub_factory(
        'c.MOSlurmSpawner.partitions["cpu"]["venv"] = "/usr/local/no-such-env/bin/"\n'
    )
    page = open_spawn_page(browser, hub, "moss09")
    page.check("#moss-panel-simple input[value=cpu]")
    page.click("#spawn_form button[type=submit]")
    # The page goes from the form to the pending page: between the two there may be
    # no body yet.
    shown = "document.body !== null && document.body.innerText.includes('{}')"
    page.wait_for_function(shown.format("before the server started"), timeout=30000)
    body = page.inner_text("body")
    assert "/usr/local/no-such-env/bin/jupyterhub-singleuser is not there" in body
    assert active_jobs("moss09") == []


TWO_ENVIRONMENTS = """
venv = c.MOSlurmSpawner.partitions["cpu"].pop("venv")
c.MOSlurmSpawner.partitions["cpu"]["jupyter_environments"] = {
    "lab": {"description": "JupyterLab, Python 3", "path": venv},
    "lab2": {"description": "Second environment", "path": venv, "prologue": "true"},
}
"""


def test_environments_are_offered_where_a_partition_has_several(browser, hub_factory):
    hub = hub_factory(TWO_ENVIRONMENTS)
    user = "moss14"
    page = open_spawn_page(browser, hub, user)
    simple = page.locator("#moss-simple-environment")
    assert page.locator("#moss-simple-environment-row").is_visible()
    assert simple.locator("option").all_inner_texts() == [
        "JupyterLab, Python 3",
        "Second environment",
    ]
    page.check("#moss-panel-simple input[value=gpu]")  # one environment: nothing to choose
    assert page.locator("#moss-simple-environment-row").is_hidden()
    assert simple.is_disabled()

    page.click("#moss-tab-advanced")
    assert page.locator("#moss-adv-environment-row").is_hidden()
    page.select_option("#moss-adv-partition", "cpu")
    assert page.locator("#moss-adv-environment-row").is_visible()
    page.select_option("#moss-adv-environment", "lab2")
    page.click("#spawn_form button[type=submit]")
    hub.wait_ready(user)
    stored = hub.api("GET", f"/users/{user}").json()["servers"][""]["user_options"]
    assert stored["environment_id"] == "lab2"
    hub.api("DELETE", f"/users/{user}/server")
    hub.wait_stopped(user)

    # Chosen again next time (the Advanced tab opens: the interface was chosen there),
    # and kept on the way to the Simple tab.
    page = open_spawn_page(browser, hub, user)
    assert page.get_attribute("#moss-tab-advanced", "aria-selected") == "true"
    assert page.input_value("#moss-adv-environment") == "lab2"
    page.click("#moss-tab-simple")
    assert page.input_value("#moss-simple-environment") == "lab2"
    assert page.moss_errors == []
