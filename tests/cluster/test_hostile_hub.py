"""Hostile options through a real hub: REST bodies (JupyterHub 6's user_options key
and the bare body), the spawn form, and /hub/spawn links (plain and opt- names).

sbatch is reached through the admin's exec_prefix; here that prefix is a small
script that keeps the batch script it is given and refuses to submit it, so that
hundreds of cases run in seconds and every accepted case can be checked.
"""

import html
import json
import os
import re
import stat
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from support.hostile import ALLOWED, check_script, option_sets, refusal_field, valid_option_sets
from support.hubtools import Hub

pytestmark = pytest.mark.cluster

EXAMPLES = int(os.environ.get("MOSS_HUB_HYPOTHESIS_EXAMPLES", "100"))
RECORDED = "recorded by the test, not submitted"
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    derandomize=False,
)


@pytest.fixture(scope="module")
def recording_hub(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    prefix = folder / "record-sbatch"
    prefix.write_text(
        "#!/bin/bash\n"
        "# exec_prefix stand-in: keep the script sbatch would get, submit nothing.\n"
        "user=$1; shift\n"
        'case "$1" in\n'
        f'*sbatch) cat > "{folder}/$user.sh"; echo "sbatch: error: {RECORDED}" >&2; exit 1 ;;\n'
        "esac\n"
        'exec sudo -n -u "$user" "$@"\n'
    )
    prefix.chmod(prefix.stat().st_mode | stat.S_IXUSR)
    hub = Hub(
        folder / "hub",
        f"""
        c.MOSlurmSpawner.exec_prefix = [{str(prefix)!r}, "{{username}}"]
        c.MOSlurmSpawner.allowed_sbatch_options = {ALLOWED!r}
        c.MOSlurmSpawner.allow_user_environments = True
        # Accounts and QOS are test_accounts.py's: here, every start is billed as
        # Slurm's defaults say, and the scripts differ only by the options sent.
        c.MOSlurmSpawner.slurm_accounting = "off"
        """,
    ).start()
    hub.recorded = folder
    yield hub
    hub.stop()


def take_script(hub, user):
    path = hub.recorded / f"{user}.sh"
    if not path.exists():
        return None
    text = path.read_text()
    path.unlink()
    return text


def judge(hub, user, sent, message, baselines):
    """Check one answer of the hub to the options ``sent``."""
    script = take_script(hub, user)
    if RECORDED in message:
        assert script is not None, message
        partition = sent.get("partition") or "cpu"
        # The baselines are moss16's scripts: the user's name appears in its environment.
        check_script(script, sent, baselines[partition].replace("moss16", user))
        return "accepted"
    assert script is None, f"refused ({message}) yet sbatch was called"
    field = refusal_field(message)
    names = {k[:40] for k in sent} | {repr(k)[:40] for k in sent}
    assert field in names, (message, sent)
    return "refused"


def post_options(hub, user, body):
    """POST a server start with ``body``. json.dumps escapes what UTF-8 cannot hold (a
    lone surrogate goes as "\\udc80"), as any JSON client may send it."""
    return hub.api(
        "POST",
        f"/users/{user}/server",
        content=json.dumps(body),
        headers={"Content-Type": "application/json"},
    )


def utf8(sent) -> bool:
    """Whether a browser could send ``sent``: form fields and links are UTF-8."""
    try:
        json.dumps(sent, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def rest_message(response):
    assert response.status_code == 400, (response.status_code, response.text[:500])
    return response.json()["message"]


def form_message(response):
    assert response.status_code == 400, (response.status_code, response.text[-2000:])
    match = re.search(r'class="spawn-error-msg[^"]*">(.*?)</p>', response.text, re.S)
    assert match, response.text[-2000:]
    return html.unescape(match.group(1)).strip().removeprefix("Error: ")


class Scripts(dict):
    def __repr__(self):  # keep hypothesis' failure reports short
        return f"<baseline scripts of {', '.join(self)}>"


@pytest.fixture(scope="module")
def baselines(recording_hub):
    scripts = Scripts()
    for partition in ("cpu", "gpu", "long"):
        r = recording_hub.api(
            "POST", "/users/moss16/server", json={"user_options": {"partition": partition}}
        )
        assert RECORDED in rest_message(r)
        scripts[partition] = take_script(recording_hub, "moss16")
    return scripts


@SETTINGS
@given(sent=option_sets(json_values=True))
def test_rest_user_options_key(recording_hub, baselines, sent):
    r = post_options(recording_hub, "moss01", {"user_options": sent})
    event(judge(recording_hub, "moss01", sent, rest_message(r), baselines))


@SETTINGS
@given(sent=option_sets(json_values=True))
def test_rest_bare_body(recording_hub, baselines, sent):
    # An empty body means "the options of last time" to JupyterHub, not these.
    assume(sent and "user_options" not in sent)
    r = post_options(recording_hub, "moss02", sent)
    event(judge(recording_hub, "moss02", sent, rest_message(r), baselines))


@SETTINGS
@given(case=valid_option_sets(json_values=True))
def test_rest_valid_options_are_accepted(recording_hub, baselines, case):
    sent, _ = case
    r = post_options(recording_hub, "moss07", {"user_options": sent})
    assert judge(recording_hub, "moss07", sent, rest_message(r), baselines) == "accepted"


@pytest.mark.parametrize("wrapped", [True, False])
def test_rest_text_that_cannot_be_encoded(recording_hub, wrapped):
    # JSON's "\udc80" is a lone surrogate once decoded: no UTF-8 script can hold it.
    options = {"partition": "cpu", "root_dir": "/\udc80"}
    body = {"user_options": options} if wrapped else options
    r = post_options(recording_hub, "moss06", body)
    assert refusal_field(rest_message(r)) == "root_dir"
    assert take_script(recording_hub, "moss06") is None, "sbatch was started"


@pytest.fixture(scope="module")
def browser_like(recording_hub):
    return {user: recording_hub.login(user) for user in ("moss03", "moss04", "moss05")}


@SETTINGS
@given(sent=option_sets(json_values=False))
def test_spawn_form(recording_hub, baselines, browser_like, sent):
    assume(utf8(sent))
    client = browser_like["moss03"]
    r = client.post("/hub/spawn", data=sent, headers=recording_hub.xsrf(client))
    event(judge(recording_hub, "moss03", sent, form_message(r), baselines))


@SETTINGS
@given(sent=option_sets(json_values=False), prefixed=st.booleans())
def test_spawn_links(recording_hub, baselines, browser_like, sent, prefixed):
    user = "moss04" if prefixed else "moss05"
    client = browser_like[user]
    assume(sent and not any(k in ("next", "display_name") for k in sent) and utf8(sent))
    query = urlencode({(f"opt-{k}" if prefixed else k): v for k, v in sent.items()})
    # As a link on the hub's own pages, which starts at once (test_spawn_links.py
    # checks that links from elsewhere never do).
    r = client.get(
        f"/hub/spawn?{query}", headers={"Sec-Fetch-Site": "same-origin"}, follow_redirects=False
    )
    event(judge(recording_hub, user, sent, form_message(r), baselines))


@SETTINGS
@given(case=valid_option_sets(json_values=False))
def test_spawn_form_valid_options_are_accepted(recording_hub, baselines, browser_like, case):
    sent, _ = case
    client = browser_like["moss03"]
    r = client.post("/hub/spawn", data=sent, headers=recording_hub.xsrf(client))
    assert judge(recording_hub, "moss03", sent, form_message(r), baselines) == "accepted"
