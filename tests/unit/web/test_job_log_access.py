"""The job output page and its API: who may read it, how often, and what is read
(the output file's end, from the first of its paths that exists, as the user)."""

import asyncio
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PrefixLoader
from support.templates import jupyterhub_template_folders
from tornado import web

import jupyterhub_moss.web.joblog as joblog
from jupyterhub_moss.hubconfig import templates_folder
from jupyterhub_moss.slurm.client import SlurmClient
from jupyterhub_moss.slurm.job import ServerJob
from jupyterhub_moss.slurm.output import Tail
from jupyterhub_moss.slurm.squeue import JobStatus
from jupyterhub_moss.web.base import MossAPIHandler
from jupyterhub_moss.web.joblog import JobLogAPIHandler, LogReads, TooSoon, log_access

# -- the rules ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "viewer, admin, owner, owner_exists, server_exists, code",
    [
        ("moss01", False, "moss01", True, True, 200),  # the owner
        ("root", True, "moss01", True, True, 200),  # an admin
        ("moss02", False, "moss01", True, True, 403),  # anyone else
        ("moss02", False, "moss01", True, False, 403),  # ... who learns nothing more
        ("moss02", False, "nobody", False, False, 403),
        (None, False, "moss01", True, True, 403),  # not logged in
        ("moss01", False, "moss01", True, False, 404),  # the owner's unknown server
        ("root", True, "nobody", False, False, 404),  # an admin, an unknown user
    ],
)
def test_only_the_owner_and_admins_read_a_servers_output(
    viewer, admin, owner, owner_exists, server_exists, code
):
    assert (
        log_access(viewer, admin, owner, owner_exists=owner_exists, server_exists=server_exists)
        == code
    )


def test_a_token_without_the_right_to_read_the_server_is_refused():
    assert log_access("moss01", False, "moss01", allowed_by_token=False) == 403
    assert log_access("root", True, "moss01", allowed_by_token=False) == 403


# -- how often ------------------------------------------------------------------------------


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def reader(answer="x"):
    calls = []

    async def fetch():
        calls.append(1)
        await asyncio.sleep(0)
        return Tail([f"{answer}{len(calls)}"], False)

    return fetch, calls


async def test_a_servers_read_is_kept_three_seconds_for_everyone():
    clock = Clock()
    reads = LogReads(clock=clock)
    fetch, calls = reader()
    assert (await reads.read("moss01", "k", fetch)).lines == ["x1"]
    clock.now += 2.9
    assert (await reads.read("root", "k", fetch)).lines == ["x1"]
    assert len(calls) == 1
    clock.now += 0.2
    assert (await reads.read("root", "k", fetch)).lines == ["x2"]


async def test_a_viewer_reads_at_most_once_every_two_seconds():
    clock = Clock()
    reads = LogReads(clock=clock)
    fetch, calls = reader()
    await reads.read("moss01", "a", fetch)
    clock.now += 1.0
    # Another server, too soon: nothing to give yet.
    with pytest.raises(TooSoon) as too_soon:
        await reads.read("moss01", "b", fetch)
    assert 0.9 <= too_soon.value.retry_after <= 1.0
    clock.now += 3.5
    # The first server's read is stale, but the viewer just read: they get it again.
    await reads.read("moss01", "b", fetch)
    clock.now += 0.5
    assert (await reads.read("moss01", "a", fetch)).lines == ["x1"]
    assert len(calls) == 2
    # Someone else is not held back by that viewer.
    assert (await reads.read("moss02", "a", fetch)).lines == ["x3"]


async def test_concurrent_viewers_share_one_read():
    clock = Clock()
    reads = LogReads(clock=clock)
    started = asyncio.Event()
    release = asyncio.Event()
    calls = []

    async def slow():
        calls.append(1)
        started.set()
        await release.wait()
        return Tail(["done"], False)

    first = asyncio.ensure_future(reads.read("moss01", "k", slow))
    await started.wait()
    second = asyncio.ensure_future(reads.read("root", "k", slow))
    await asyncio.sleep(0)
    release.set()
    assert (await first).lines == (await second).lines == ["done"]
    assert len(calls) == 1


# -- the handler, with stand-ins for JupyterHub's objects ---------------------------------


class LogSpawner:
    """The parts of MOSlurmSpawner the handler uses."""

    def __init__(
        self, job_id="12", state="RUNNING", lines=("hello",), output_of=None, readable=True
    ):
        self.job_id = job_id
        self.job_output_of = output_of or job_id
        self.state = state
        self.lines = list(lines)
        self.readable = readable
        self.reads = []

    def job_log_url(self):
        return "/hub/moss/log/x"

    async def load_account(self):
        return None

    def job_status(self):
        if not self.state:
            return None
        return JobStatus(self.job_id, self.state, None, None, None, "")

    def server_job(self):
        async def read_output(job_id):
            self.reads.append(job_id)
            return Tail(self.lines, False) if self.readable else None

        async def output_places(job_id):
            return [f"/home/moss01/.jupyterhub-moss/output/{job_id}.log", f"/tmp/{job_id}.log"]

        return SimpleNamespace(read_output=read_output, output_places=output_places)


def owner_with(name="moss01", servers=None):
    servers = {"": LogSpawner()} if servers is None else servers
    return SimpleNamespace(
        name=name,
        spawners=servers,
        orm_user=SimpleNamespace(orm_spawners=dict.fromkeys(servers)),
    )


class FakeHandler:
    """The parts of JupyterHub's APIHandler that the job output handler uses."""

    # What the handlers' base class gives them, as it is.
    logged_in_spawner = MossAPIHandler.logged_in_spawner
    write_json = MossAPIHandler.write_json

    def __init__(self, viewer, owners, scopes=None):
        self.current_user = viewer
        self.owners = owners
        self.scopes = scopes
        self.headers = {}
        self.written = []

    def find_user(self, name):
        return self.owners.get(name)

    def has_scope(self, scope):
        if self.scopes is not None:
            return scope in self.scopes
        viewer = self.current_user
        return viewer is not None and (
            viewer.admin or scope.startswith(f"read:servers!server={viewer.name}/")
        )

    def set_header(self, name, value):
        self.headers[name] = value

    def write(self, text):
        self.written.append(text)

    job_log = joblog._JobLog.job_log


def viewer(name="moss01", admin=False, kind="user"):
    return SimpleNamespace(name=name, admin=admin, kind=kind)


@pytest.fixture(autouse=True)
def fresh_reads(monkeypatch):
    reads = LogReads()
    monkeypatch.setattr(joblog, "shared_log_reads", lambda: reads)
    return reads


async def get(handler, user_name, server_name=None):
    await JobLogAPIHandler.get(handler, user_name, server_name)
    return json.loads("".join(handler.written))


async def test_the_owner_reads_the_last_lines_of_the_current_job():
    owners = {"moss01": owner_with()}
    answer = await get(FakeHandler(viewer(), owners), "moss01")
    assert answer == {
        "job_id": "12",
        "state": "RUNNING",
        "lines": ["hello"],
        "truncated": False,
        "found": True,
        "where": None,
    }


async def test_an_output_the_hub_cannot_read_is_said_to_be_on_the_cluster_with_its_path():
    owners = {"moss01": owner_with(servers={"": LogSpawner(readable=False)})}
    answer = await get(FakeHandler(viewer(), owners), "moss01")
    assert (answer["found"], answer["lines"]) == (False, [])
    assert answer["where"] == "/home/moss01/.jupyterhub-moss/output/12.log"


async def test_an_admin_reads_it_and_another_user_does_not():
    owners = {"moss01": owner_with()}
    assert (await get(FakeHandler(viewer("root", admin=True), owners), "moss01"))["lines"]
    with pytest.raises(web.HTTPError) as refused:
        await get(FakeHandler(viewer("moss02"), owners), "moss01")
    assert refused.value.status_code == 403
    assert owners["moss01"].spawners[""].reads == ["12"]  # the refused viewer read nothing


@pytest.mark.parametrize(
    "who, user, server, code",
    [
        ("moss01", "moss01", "nope", 404),
        ("root", "nobody", None, 404),
        ("moss02", "nobody", None, 403),
        ("moss02", "moss01", "nope", 403),
    ],
)
async def test_unknown_users_and_servers(who, user, server, code):
    owners = {"moss01": owner_with()}
    handler = FakeHandler(viewer(who, admin=who == "root"), owners)
    with pytest.raises(web.HTTPError) as refused:
        await get(handler, user, server)
    assert refused.value.status_code == code


async def test_services_and_narrow_tokens_are_refused():
    owners = {"moss01": owner_with()}
    for handler in [
        FakeHandler(None, owners),
        FakeHandler(viewer("svc", kind="service"), owners),
        FakeHandler(viewer(), owners, scopes={"access:servers!server=moss01/"}),
    ]:
        with pytest.raises(web.HTTPError) as refused:
            await get(handler, "moss01")
        assert refused.value.status_code == 403


async def test_a_named_servers_ended_job_is_still_readable():
    ended = LogSpawner(job_id=None, output_of="11", lines=["Traceback", "Error: boom"])
    owners = {"moss01": owner_with(servers={"": LogSpawner(), "work": ended})}
    answer = await get(FakeHandler(viewer(), owners), "moss01", "work")
    assert answer["job_id"] == "11" and answer["state"] == "ENDED"
    assert answer["lines"] == ["Traceback", "Error: boom"]


async def test_a_server_without_a_job_has_no_lines():
    owners = {"moss01": owner_with(servers={"": LogSpawner(job_id=None)})}
    answer = await get(FakeHandler(viewer(), owners), "moss01")
    assert answer == {
        "job_id": None,
        "state": None,
        "lines": [],
        "truncated": False,
        "found": False,
        "where": None,
    }


async def test_too_many_reads_are_a_429_with_retry_after():
    owners = {"moss01": owner_with(servers={"": LogSpawner(), "b": LogSpawner(job_id="13")})}
    await get(FakeHandler(viewer(), owners), "moss01")
    handler = FakeHandler(viewer(), owners)
    with pytest.raises(web.HTTPError) as refused:
        await get(handler, "moss01", "b")
    assert refused.value.status_code == 429
    # On the error, where JupyterHub's write_error sets it (the handler's own headers
    # are cleared before the error is written).
    assert refused.value.headers["Retry-After"] in ("1", "2")


# -- the reading itself -------------------------------------------------------------------


def server_job(paths, reported=None, log_url=None):
    return ServerJob(
        username="nobody",
        log_name="test",
        watcher=None,
        client=SlurmClient(bin_dir="/nonexistent", timeout=10),
        home=None,
        report=(lambda *a, **k: reported.append((a, k))) if reported is not None else print,
        output_paths=lambda job_id: list(paths),
        log_url=log_url,
    )


async def test_the_output_is_read_from_the_first_path_that_exists(tmp_path):
    moved = tmp_path / "state" / "5.log"
    first = tmp_path / ".jupyterhub_moss_5.log"
    first.write_bytes(b"started\n\x1b[31mred\x1b[0m \xff\n")
    tail = await server_job([str(moved), str(first)]).read_output("5")
    assert tail == Tail(["started", "red \ufffd"], False)
    moved.parent.mkdir()
    moved.write_text("moved\n")
    assert (await server_job([str(moved), str(first)]).read_output("5")).lines == ["moved"]
    assert await server_job([str(tmp_path / "none")]).read_output("5") is None


async def test_a_long_output_is_read_from_its_end_and_said_to_be_cut(tmp_path):
    out = tmp_path / "5.log"
    with open(out, "w") as f:
        for i in range(20000):
            f.write(f"line {i}\n")
    tail = await server_job([str(out)]).read_output("5")
    assert tail.truncated and tail.lines[-1] == "line 19999"
    assert tail.lines[0].startswith("line ") and sum(len(x) + 1 for x in tail.lines) <= 65536


async def test_a_failed_start_links_to_the_output_page(tmp_path):
    out = tmp_path / "5.log"
    out.write_text("jupyterhub_moss: error: The folder /x does not exist on node n1.\n")
    job = server_job([str(out)], log_url="/hub/moss/log/a<b")
    error = await job.failure("5", None)
    assert "The folder /x does not exist" in error.message
    html = error.html_message
    assert '<a href="/hub/moss/log/a&lt;b">Job output</a>' in html
    assert "<br>" in html and "a<b" not in html


def test_pending_messages_carry_the_link_as_html():
    reported = []
    job = server_job([], reported=reported, log_url="/hub/moss/log/moss01")
    job._say("Waiting for free resources", 30)
    ((args, kwargs),) = reported
    assert args == ("Waiting for free resources", 30)
    assert kwargs["html"].startswith('Waiting for free resources · <a href="/hub/moss/log/moss01"')
    reported.clear()
    server_job([], reported=reported)._say("plain", 10)
    assert reported == [(("plain", 10), {})]


# -- the page -----------------------------------------------------------------------------


def render_log_page(jupyterhub_folder, log: dict) -> str:
    loader = ChoiceLoader(
        [
            PrefixLoader({"templates": FileSystemLoader([jupyterhub_folder])}, "/"),
            FileSystemLoader([templates_folder(), jupyterhub_folder]),
        ]
    )
    env = Environment(loader=loader, autoescape=True)
    return env.get_template("moss_log.html").render(
        owner="moss01",
        server_name="",
        log=log,
        active=True,
        api_url="/hub/api/moss/log/moss01",
        home_url="/hub/home",
        script_url="/hub/moss/static/moss-log.js?v=1",
        static_url=lambda *a, **k: "/hub/static/x",
        base_url="/hub/",
        prefix="/",
        user=SimpleNamespace(
            name="moss01", json_escaped_name="moss01", spawner=SimpleNamespace(options_form=None)
        ),
    )


@pytest.mark.parametrize("jupyterhub_folder", jupyterhub_template_folders())
def test_the_page_escapes_the_output_and_refreshes_only_an_active_job(jupyterhub_folder):
    log = {
        "job_id": "12",
        "state": "RUNNING",
        "lines": ["<script>alert(1)</script>", "a & b"],
        "truncated": True,
        "found": True,
        "where": None,
    }
    html = render_log_page(jupyterhub_folder, log)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;\na &amp; b</pre>" in html
    assert "<script>alert(1)" not in html
    assert 'data-active="true"' in html and 'data-api-url="/hub/api/moss/log/moss01"' in html
    assert '<script src="/hub/moss/static/moss-log.js?v=1"></script>' in html
    assert "Only the end of the output is shown." in html


@pytest.mark.parametrize("jupyterhub_folder", jupyterhub_template_folders())
def test_the_page_says_where_on_the_cluster_an_output_the_hub_cannot_read_is(jupyterhub_folder):
    where = "/home/moss01/<b>.log"
    log = {"job_id": "12", "state": "RUNNING", "lines": [], "truncated": False}
    html = render_log_page(jupyterhub_folder, {**log, "found": False, "where": where})
    said = "cannot be read from the hub (yet). On the cluster, it is /home/moss01/&lt;b&gt;.log"
    assert said in html
    assert "<b>" not in html


def test_the_scripts_are_in_the_package():
    static = Path(templates_folder()).parent / "static"
    for name in ("moss-home.js", "moss-log.js"):
        text = (static / name).read_text()
        assert "innerHTML" not in text  # text only
