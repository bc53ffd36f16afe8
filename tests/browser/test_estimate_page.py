"""The spawn page's estimate line in Chromium, without a hub or a cluster: the
form as the hub renders it, inside a <form> as JupyterHub's page has it, and the
hub's endpoint answered by the test."""

import json
import os
from pathlib import Path

import pytest
from support import REPO
from support.forms import FormSpawner, render, snapshot
from support.partitions import SEED

pytestmark = pytest.mark.browser

playwright_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = os.environ.get("MOSS_CHROMIUM", "/usr/bin/chromium")
STATIC = REPO / "jupyterhub_moss" / "static"
ORIGIN = "http://moss.test"
JSON = "application/json"
LATER = {"state": "later", "text": "expected around 14:05 (in 25 min)", "start": None}


@pytest.fixture
def page():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    html = render(FormSpawner(SEED, snapshot()))
    document = (
        '<!doctype html><html><body><form id="spawn_form" method="post">'
        f'<input type="hidden" name="_xsrf" value="form-xsrf">{html}'
        '<button type="submit">Start</button></form>'
        '<script>window.jhdata = {xsrf_token: "page-xsrf"};</script></body></html>'
    )
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        page.asked = []
        page.answer = lambda options: (200, LATER)
        page.errors = []
        page.on("pageerror", lambda e: page.errors.append(str(e)))

        def handle(route, request):
            url = request.url.split("?")[0]
            if url == f"{ORIGIN}/page":
                route.fulfill(body=document, content_type="text/html")
            elif url.startswith(f"{ORIGIN}/hub/moss/static/"):
                name = url.rsplit("/", 1)[1]
                kind = "application/javascript" if name.endswith(".js") else "text/css"
                route.fulfill(body=(STATIC / name).read_text(), content_type=kind)
            elif url == f"{ORIGIN}/hub/api/moss/estimate":
                body = json.loads(request.post_data)
                page.asked.append((body["user_options"], request.headers.get("x-xsrftoken")))
                status, answer = page.answer(body["user_options"])
                route.fulfill(status=status, body=json.dumps(answer), content_type=JSON)
            elif url == f"{ORIGIN}/hub/api/moss/resources":
                route.fulfill(body='{"partitions": [], "error": null}', content_type=JSON)
            else:
                route.abort()

        page.route("**/*", handle)
        page.goto(f"{ORIGIN}/page")
        page.wait_for_selector("#moss-form[data-moss-ready=true]")
        yield page
        assert page.errors == []
        browser.close()


def sent(page) -> int:
    return int(page.evaluate("document.getElementById('moss-form').dataset.mossEstimates"))


def line(page):
    return page.evaluate(
        "(() => { const p = document.getElementById('moss-estimate');"
        " return [p.hidden, p.textContent, p.dataset.state]; })()"
    )


def test_the_line_shows_slurms_answer_for_the_options_shown(page):
    page.wait_for_function("document.getElementById('moss-form').dataset.mossEstimates === '1'")
    page.wait_for_function("!document.getElementById('moss-estimate').hidden")
    options, xsrf = page.asked[0]
    assert xsrf == "page-xsrf"
    # The Simple tab's fields only: not JupyterHub's _xsrf, not the Advanced tab's.
    assert options == {"partition": "cpu", "nprocs": "1", "runtime": "1:00:00"}
    assert line(page) == [False, "Expected around 14:05 (in 25 min)", "later"]


def test_five_quick_changes_make_one_request(page):
    page.wait_for_function("document.getElementById('moss-form').dataset.mossEstimates === '1'")
    page.click("#moss-tab-advanced")
    for nprocs in ("2", "3", "4", "5", "6"):
        page.fill("#moss-adv-nprocs", nprocs)
        page.wait_for_timeout(150)
    page.wait_for_timeout(1500)
    assert sent(page) == 2
    assert page.asked[-1][0]["nprocs"] == "6"


def test_nothing_is_asked_while_a_field_is_refused_by_the_page(page):
    page.wait_for_function("document.getElementById('moss-form').dataset.mossEstimates === '1'")
    page.click("#moss-tab-advanced")
    page.fill("#moss-adv-nprocs", "999")
    page.wait_for_timeout(1500)
    assert sent(page) == 1
    assert line(page)[0] is True


def test_no_answer_hides_the_line_and_a_refusal_says_why(page):
    page.wait_for_function("!document.getElementById('moss-estimate').hidden")
    page.answer = lambda options: (200, {"state": "unknown", "text": "", "start": None})
    page.click("#moss-tab-advanced")
    page.fill("#moss-adv-nprocs", "7")
    page.wait_for_function("document.getElementById('moss-estimate').dataset.state === 'unknown'")
    assert line(page)[0] is True
    page.answer = lambda options: (
        400,
        {"status": 400, "field": "account", "message": "account: 'x' is not one of yours"},
    )
    page.fill("#moss-adv-nprocs", "8")
    page.wait_for_function("document.getElementById('moss-estimate').dataset.state === 'invalid'")
    assert line(page) == [False, "Cannot start: account: 'x' is not one of yours", "invalid"]
