"""POST /api/moss/estimate without a hub or a cluster: the cache key, the answer's
words, the cache and in-flight sharing, the rate limits, the handler's refusals,
and the command it runs (with a fake runner)."""

import asyncio
import getpass
import json
from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest
from support.partitions import SEED, SINFO
from tornado import web

import jupyterhub_moss.web.estimate as estimate_module
from jupyterhub_moss.choices.options import unwrap_user_options, validate_options
from jupyterhub_moss.errors import user_error
from jupyterhub_moss.site.partitions import merge_partitions, validate_partitions
from jupyterhub_moss.slurm.client import SlurmClient
from jupyterhub_moss.slurm.runner import CommandResult, SlurmCommandError
from jupyterhub_moss.slurm.sinfo import parse_sinfo
from jupyterhub_moss.slurm.testonly import Estimate, TokenBucket
from jupyterhub_moss.spawner.lifecycle import MOSlurmSpawner
from jupyterhub_moss.web.base import MossAPIHandler
from jupyterhub_moss.web.estimate import (
    EstimateHandler,
    Estimator,
    RateLimited,
    answer,
    ask_slurm,
    options_key,
)

NOW = datetime(2026, 11, 26, 13, 40).astimezone()
VIEWS = merge_partitions(validate_partitions(SEED), parse_sinfo(SINFO), None)
LATER = Estimate("later", start=NOW + timedelta(minutes=25), nodes="node1", partition="cpu")


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class FakeAsk:
    """What sbatch --test-only would answer, counting its calls."""

    def __init__(self, result=LATER, delay=0.0):
        self.result = result
        self.delay = delay
        self.calls = 0
        self.running = 0
        self.most_at_once = 0

    async def __call__(self):
        self.calls += 1
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.running -= 1
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


# -- the key and the answer ---------------------------------------------------------


def test_the_key_is_the_user_and_the_validated_options_whatever_their_spelling():
    a = validate_options({"partition": "cpu", "nprocs": "4", "runtime": "2:00:00"}, VIEWS)
    b = validate_options({"runtime": "02:00:00", "nprocs": 4, "partition": "cpu"}, VIEWS)
    assert options_key("moss01", a) == options_key("moss01", b)
    assert options_key("moss02", a) != options_key("moss01", a)
    c = validate_options({"partition": "cpu", "nprocs": 5, "runtime": "2:00:00"}, VIEWS)
    assert options_key("moss01", c) != options_key("moss01", a)


def test_the_answer_of_a_later_start():
    body = answer(LATER, NOW)
    assert body == {
        "state": "later",
        "text": "expected around 14:05 (in 25 min)",
        "start": LATER.start.isoformat(),
    }
    assert json.loads(json.dumps(body)) == body


def test_a_kept_later_start_that_has_come_is_now():
    assert answer(LATER, NOW + timedelta(minutes=24, seconds=30))["state"] == "now"
    assert answer(LATER, NOW + timedelta(minutes=24, seconds=30))["text"] == "starts now"


def test_the_answer_of_a_refusal_and_of_no_answer():
    never = Estimate(
        "never",
        reason="Job violates accounting/QOS policy",
        code="QOSMaxWallDurationPerJobLimit",
    )
    assert answer(never, NOW) == {
        "state": "never",
        "text": "cannot start: the run time is longer than your QOS allows",
        "start": None,
    }
    unknown = Estimate("unknown", reason="sudo: a password is required")
    assert answer(unknown, NOW) == {"state": "unknown", "text": "", "start": None}


# -- the cache, in-flight sharing, limits -----------------------------------------------


async def test_an_answer_is_kept_20_s():
    clock = Clock()
    estimator = Estimator(clock=clock)
    ask = FakeAsk()
    assert await estimator.estimate("k", "moss01", ask) == LATER
    clock.now += 19
    assert await estimator.estimate("k", "moss01", ask) == LATER
    assert ask.calls == 1
    clock.now += 2
    await estimator.estimate("k", "moss01", ask)
    assert ask.calls == 2


async def test_a_refusal_is_kept_60_s_and_no_answer_not_at_all():
    clock = Clock()
    estimator = Estimator(clock=clock)
    never = FakeAsk(Estimate("never", reason="Invalid qos specification"))
    await estimator.estimate("never", "moss01", never)
    clock.now += 59
    await estimator.estimate("never", "moss01", never)
    assert never.calls == 1
    clock.now += 2
    await estimator.estimate("never", "moss01", never)
    assert never.calls == 2

    unknown = FakeAsk(Estimate("unknown", reason="Socket timed out"))
    await estimator.estimate("unknown", "moss02", unknown)
    await estimator.estimate("unknown", "moss02", unknown)
    assert unknown.calls == 2


async def test_requests_for_the_same_key_share_one_call():
    estimator = Estimator()
    ask = FakeAsk(delay=0.05)
    results = await asyncio.gather(*(estimator.estimate("k", "moss01", ask) for _ in range(10)))
    assert results == [LATER] * 10
    assert ask.calls == 1
    assert estimator.calls == 1


async def test_a_user_may_ask_slurm_four_times_then_once_every_3_s():
    clock = Clock()
    estimator = Estimator(clock=clock)
    ask = FakeAsk()
    for i in range(4):
        await estimator.estimate(f"k{i}", "moss01", ask)
    with pytest.raises(RateLimited) as refused:
        await estimator.estimate("k4", "moss01", ask)
    assert refused.value.retry_after == pytest.approx(3.0)
    # Kept answers cost nothing, and other users have their own bucket.
    await estimator.estimate("k0", "moss01", ask)
    await estimator.estimate("k9", "moss02", ask)
    clock.now += 3
    await estimator.estimate("k4", "moss01", ask)
    assert ask.calls == 6


async def test_the_hub_runs_at_most_four_at_once():
    estimator = Estimator(bucket=TokenBucket(100, 1.0))
    ask = FakeAsk(delay=0.05)
    await asyncio.gather(*(estimator.estimate(f"k{i}", f"user{i}", ask) for i in range(10)))
    assert ask.calls == 10
    assert ask.most_at_once == 4


async def test_waiting_too_long_for_a_slot_gives_no_answer():
    estimator = Estimator(concurrency=1, wait=0.05, bucket=TokenBucket(100, 1.0))
    slow = FakeAsk(delay=0.5)
    first = asyncio.ensure_future(estimator.estimate("a", "moss01", slow))
    await asyncio.sleep(0.01)
    second = await estimator.estimate("b", "moss01", slow)
    assert second.state == "unknown"
    assert (await first) == LATER


async def test_a_failing_ask_gives_no_answer_and_is_not_kept():
    estimator = Estimator()
    ask = FakeAsk(RuntimeError("boom"))
    assert (await estimator.estimate("k", "moss01", ask)).state == "unknown"
    await estimator.estimate("k", "moss01", ask)
    assert ask.calls == 2


async def test_the_cache_is_bounded():
    estimator = Estimator(max_keys=3, bucket=TokenBucket(100, 1.0))
    ask = FakeAsk()
    for i in range(10):
        await estimator.estimate(f"k{i}", "moss01", ask)
    assert estimator.cached("k9") == LATER
    assert estimator.cached("k0") is None
    assert len(estimator) == 3


# -- the command ---------------------------------------------------------------------------


class CommandSpawner:
    """What ask_slurm uses of the spawner: its user, their home, its Slurm client
    (``runner`` stands in for the process)."""

    slurm_username = "moss01"

    def __init__(self, runner):
        self.runner = runner

    def home_folder(self, required=True):
        return "/home/moss01"

    def slurm_client(self):
        return SlurmClient(exec_prefix=("sudo", "-n", "-u", "{username}"), runner=self.runner)


async def test_sbatch_test_only_runs_as_the_user_with_the_script_on_stdin(monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "hub-secret")
    seen = {}

    async def fake_run(argv, **kwargs):
        seen["argv"] = argv
        seen.update(kwargs)
        stderr = (
            "sbatch: Job 37642 to start at 2026-12-03T12:36:18 using 1 processors on nodes "
            "node4 in partition debug\n"
        )
        return CommandResult(tuple(argv), 0, "", stderr, 0.1)

    result = await ask_slurm(CommandSpawner(fake_run), "#!/bin/bash\n")
    assert seen["argv"] == ["sudo", "-n", "-u", "moss01", "sbatch", "--test-only"]
    assert seen["input"] == "#!/bin/bash\n"
    assert seen["check"] is False
    assert seen["timeout"] == 10
    env = seen["env"]
    assert env["USER"] == "moss01" and env["HOME"] == "/home/moss01"
    assert env["SLURM_TIME_FORMAT"] == "standard"
    assert "JUPYTERHUB_API_TOKEN" not in env
    assert (result.partition, result.nodes) == ("debug", "node4")


async def test_a_timeout_or_a_missing_sbatch_gives_no_answer(monkeypatch):
    async def fake_run(argv, **kwargs):
        raise SlurmCommandError(argv, "sbatch did not answer within 10 s", timed_out=True)

    assert (await ask_slurm(CommandSpawner(fake_run), "")).state == "unknown"


def test_the_estimate_script_has_no_token_no_comment_and_no_hub_environment():
    spawner = MOSlurmSpawner(partitions=SEED)
    spawner.user = SimpleNamespace(name=getpass.getuser())
    spawner.get_env = lambda: {"JUPYTERHUB_API_TOKEN": "secret-token", "JUPYTERHUB_USER": "x"}
    options = validate_options({"partition": "cpu", "nprocs": "4"}, VIEWS)
    full = spawner.batch_script_for(options, VIEWS["cpu"], "tok123")
    assert "secret-token" in full and "tok123" in full
    script = spawner.batch_script_for(options, VIEWS["cpu"], "tok123", estimate=True)
    assert "secret-token" not in script
    assert "export JUPYTERHUB_USER=" in full
    assert "export JUPYTERHUB_USER=" not in script
    assert "tok123" not in script and "--comment" not in script
    assert "#SBATCH --cpus-per-task=4" in script


# -- the handler ------------------------------------------------------------------------------


class EstimateSpawner:
    """The parts of MOSlurmSpawner the handler uses."""

    def __init__(self):
        self.scripts = []
        self.raw = []

    def choices(self):
        return self  # the checker's one method the handler calls

    async def validated_options_and_views(self, raw):
        self.raw.append(raw)
        if unwrap_user_options(raw).get("nprocs") == "999":
            raise user_error(
                "nprocs: 999 is out of range: partition 'cpu' allows 1 to 28",
                reason="invalid_options",
            )
        return validate_options(raw, VIEWS), VIEWS

    def batch_script_for(self, options, partition, token="", *, estimate=False):
        assert estimate is True and token == ""
        self.scripts.append(options)
        return "#!/bin/bash\n"


class FakeHandler:
    """Stands in for the tornado request the handler answers."""

    def __init__(self, user, body, scopes=None):
        self.current_user = user
        self.body = body
        self.scopes = {f"servers!user={user.name}"} if scopes is None and user else scopes
        self.status = 200
        self.headers = {}
        self.written = []
        self.logged_in_spawner = MossAPIHandler.logged_in_spawner.__get__(self)
        self.write_json = MossAPIHandler.write_json.__get__(self)

    def get_json_body(self):
        return self.body

    def has_scope(self, scope):
        return scope in self.scopes

    def set_status(self, status):
        self.status = status

    def set_header(self, name, value):
        self.headers[name] = value

    def write(self, text):
        self.written.append(text)

    def json(self):
        return json.loads("".join(self.written))


def user(name="moss01", kind="user"):
    return SimpleNamespace(name=name, kind=kind, spawner=EstimateSpawner())


@pytest.fixture
def fresh_estimator(monkeypatch):
    estimator = Estimator()
    monkeypatch.setattr(estimate_module, "shared_estimator", lambda: estimator)
    return estimator


async def post(handler):
    await EstimateHandler.post(handler)
    return handler


async def refusal(handler) -> dict:
    """The status and the JSON answer of a request the handler refuses, as the
    base handler's ``write_error`` writes them."""
    with pytest.raises(web.HTTPError) as raised:
        await EstimateHandler.post(handler)
    error = raised.value
    MossAPIHandler.write_error(handler, error.status_code, exc_info=(type(error), error, None))
    return {"status_code": error.status_code, **handler.json()}


@pytest.mark.parametrize("who", [None, SimpleNamespace(name="svc", kind="service")])
async def test_anonymous_and_services_are_refused(who, fresh_estimator):
    with pytest.raises(web.HTTPError) as refused:
        await post(FakeHandler(who, {"user_options": {}}))
    assert refused.value.status_code == 403
    assert fresh_estimator.calls == 0


async def test_a_token_that_may_not_start_the_users_servers_is_refused(fresh_estimator):
    # The token a server is given: access to itself, not the right to start servers.
    scopes = {"access:servers!server=moss01/", "users:activity!user=moss01"}
    with pytest.raises(web.HTTPError) as refused:
        await post(FakeHandler(user(), {"user_options": {}}, scopes=scopes))
    assert refused.value.status_code == 403
    assert fresh_estimator.calls == 0


async def test_a_refused_option_is_a_400_naming_the_field(fresh_estimator):
    caller = user()
    answer = await refusal(FakeHandler(caller, {"user_options": {"nprocs": "999"}}))
    assert answer == {
        "status_code": 400,
        "status": 400,
        "field": "nprocs",
        "message": "nprocs: 999 is out of range: partition 'cpu' allows 1 to 28",
    }
    assert caller.spawner.scripts == []
    assert fresh_estimator.calls == 0


async def test_a_body_that_is_no_object_is_a_400():
    answer = await refusal(FakeHandler(user(), ["cpu"]))
    assert answer["status_code"] == 400
    assert answer["field"] == "user_options"


async def test_the_answer_for_the_users_options(monkeypatch, fresh_estimator):
    async def fake_ask(spawner, script):
        assert script == "#!/bin/bash\n"
        return LATER

    monkeypatch.setattr(estimate_module, "ask_slurm", fake_ask)
    caller = user()
    handler = await post(FakeHandler(caller, {"user_options": {"partition": "cpu"}}))
    assert handler.status == 200
    assert handler.headers["Cache-Control"] == "no-store"
    assert handler.json()["state"] in ("now", "later")
    # The body goes to the spawner's checks as it came (they unwrap it, once) ...
    assert caller.spawner.raw == [{"user_options": {"partition": "cpu"}}]
    # ... and the options alone, without "user_options", are read the same way.
    handler = await post(FakeHandler(caller, {"partition": "cpu"}))
    assert caller.spawner.raw[-1] == {"partition": "cpu"}
    assert handler.json()["state"] in ("now", "later")
    assert fresh_estimator.calls == 1


async def test_asking_too_often_is_a_429_with_retry_after(monkeypatch, fresh_estimator):
    async def fake_ask(spawner, script):
        return LATER

    monkeypatch.setattr(estimate_module, "ask_slurm", fake_ask)
    caller = user()
    for nprocs in range(1, 5):
        await post(FakeHandler(caller, {"partition": "cpu", "nprocs": nprocs}))
    with pytest.raises(web.HTTPError) as refused:
        await post(FakeHandler(caller, {"partition": "cpu", "nprocs": 5}))
    assert refused.value.status_code == 429
    assert refused.value.headers == {"Retry-After": "3"}


# -- the page -----------------------------------------------------------------------------------


def test_the_page_has_the_estimate_line_its_script_and_url():
    from support.forms import FormSpawner, page_data, render, snapshot

    html = render(FormSpawner(SEED, snapshot()))
    assert page_data(html)["estimate_url"] == "/hub/api/moss/estimate"
    line = '<p id="moss-estimate" class="form-text" aria-live="polite"></p>'
    assert line in html
    # Inside the form's own block, after the tabs and before the resource table.
    assert html.index("moss-panel-advanced") < html.index(line) < html.index("moss-resources")
    assert html.index("moss-form.js?v=") < html.index("moss-estimate.js?v=")
