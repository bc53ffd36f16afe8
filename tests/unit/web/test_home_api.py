"""The home page's line about each server's job: ``GET {hub}/api/moss/servers`` (from
spawners and the watcher only) and the templates that add the page's script to
JupyterHub's own home page, on JupyterHub 5 and 6."""

import json
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PrefixLoader
from support.templates import jupyterhub_template_folders
from tornado import web
from traitlets.config import Config

from jupyterhub_moss import set_config
from jupyterhub_moss.hubconfig import ordered_template_paths, templates_folder
from jupyterhub_moss.slurm.squeue import JobStatus
from jupyterhub_moss.slurm.watcher import GONE
from jupyterhub_moss.web.base import MossAPIHandler
from jupyterhub_moss.web.home import ServersHandler, server_view, servers_view

END = datetime(2026, 12, 3, 16, 0, tzinfo=timezone.utc)
KEYS = {"job_id", "state", "partition", "cpus", "gpus", "node", "end", "log_url"}


class Spawner:
    """The parts of MOSlurmSpawner the view reads."""

    def __init__(self, name="", job_id=None, **fields):
        self.name = name
        self.job_id = job_id
        self.job_node = fields.pop("job_node", None)
        self.job_partition = fields.pop("job_partition", None)
        self.job_cpus = fields.pop("job_cpus", None)
        self.job_gres = fields.pop("job_gres", None)
        self.job_end = fields.pop("job_end", None)
        self.job_output_of = fields.pop("job_output_of", None)
        self.status = fields.pop("status", None)
        assert not fields

    def job_log_url(self):
        return "/hub/moss/log/moss01" + (f"/{self.name}" if self.name else "")


def running(job_id="12", **kwargs):
    fields = {
        "node": "node2",
        "reason": None,
        "start_time": None,
        "comment": "moss:port=4000",
        "end_time": END,
        "partition": "cpu",
        "cpus": 4,
        "gres": None,
    }
    fields.update(kwargs)
    state = fields.pop("state", "RUNNING")
    return JobStatus(job_id=job_id, state=state, **fields)


def urls(name):
    return "/hub/moss/log/moss01" + (f"/{name}" if name else "")


def view(spawners, now=datetime(2026, 12, 3, 15, 5, tzinfo=timezone.utc)):
    return servers_view(
        {s.name: s for s in spawners}, lambda spawner: getattr(spawner, "status", None), urls, now
    )


def test_the_answer_has_one_entry_per_server_with_the_jobs_facts():
    answer = view(
        [
            Spawner("", "12", status=running()),
            Spawner(
                "gpu-work",
                "13",
                status=running("13", gres="gres:gpu:V100-SXM2-32GB:2", partition="gpu"),
            ),
            Spawner("idle"),
        ]
    )
    assert answer["now"] == "2026-12-03T15:05:00+00:00" or answer["now"].startswith("2026-12-03")
    assert set(answer["servers"]) == {"", "gpu-work", "idle"}
    for entry in answer["servers"].values():
        assert set(entry) == KEYS
    default = answer["servers"][""]
    assert default == {
        "job_id": "12",
        "state": "RUNNING",
        "partition": "cpu",
        "cpus": 4,
        "gpus": 0,
        "node": "node2",
        "end": default["end"],
        "log_url": "/hub/moss/log/moss01",
    }
    assert datetime.fromisoformat(default["end"]) == END
    gpu = answer["servers"]["gpu-work"]
    assert (gpu["partition"], gpu["gpus"], gpu["log_url"]) == ("gpu", 2, urls("gpu-work"))
    idle = answer["servers"]["idle"]
    assert idle == dict.fromkeys(KEYS) | {"log_url": None}
    json.dumps(answer)  # JSON as it is


def test_a_pending_job_has_no_node_and_no_end_yet():
    pending = running(state="PENDING", node=None, end_time=None, reason="Resources")
    entry = view([Spawner("", "12", status=pending)])["servers"][""]
    assert entry["state"] == "PENDING" and entry["node"] is None and entry["end"] is None
    assert entry["partition"] == "cpu" and entry["cpus"] == 4


def test_before_the_watcher_answers_the_stored_state_is_shown():
    stored = Spawner(
        "",
        "12",
        job_node="node2",
        job_partition="gpu",
        job_cpus=8,
        job_gres="gres:gpu:1",
        job_end="2026-12-03T17:00:00+01:00",
    )
    entry = view([stored])["servers"][""]
    assert entry["state"] is None
    assert (entry["partition"], entry["cpus"], entry["gpus"], entry["node"]) == (
        "gpu",
        8,
        1,
        "node2",
    )
    assert datetime.fromisoformat(entry["end"]) == datetime.fromisoformat(
        "2026-12-03T17:00:00+01:00"
    )


def test_a_job_slurm_no_longer_knows_keeps_the_stored_facts_but_no_node():
    entry = view([Spawner("", "12", job_partition="cpu", job_node="node2", status=GONE)])
    entry = entry["servers"][""]
    assert entry["state"] == "GONE" and entry["partition"] == "cpu"
    assert entry["node"] is None and entry["end"] is None


def test_a_stopped_server_links_to_its_last_jobs_output():
    stopped_spawner = Spawner("", None, job_output_of="11")
    assert server_view(stopped_spawner, None, urls(""))["log_url"] == urls("")
    # JupyterHub's stored record of a named server that is not running.
    record = SimpleNamespace(name="old", state={"job_output_of": "9", "job_output": ["/x/9.log"]})
    answer = servers_view({"old": record}, lambda s: None, urls)
    assert answer["servers"]["old"]["log_url"] == urls("old")
    assert answer["servers"]["old"]["job_id"] is None
    never = SimpleNamespace(name="new", state={})
    assert servers_view({"new": never}, lambda s: None, urls)["servers"]["new"]["log_url"] is None


# -- the handler --------------------------------------------------------------------------


class FakeHandler:
    """The parts of JupyterHub's APIHandler that ServersHandler uses."""

    # What the handlers' base class gives them, as it is.
    logged_in_spawner = MossAPIHandler.logged_in_spawner
    write_json = MossAPIHandler.write_json

    def __init__(self, user, scopes=None):
        self.current_user = user
        self.hub = SimpleNamespace(base_url="/hub/")
        self.scopes = {"read:servers!user=moss01"} if scopes is None else scopes
        self.headers = {}
        self.written = []

    def has_scope(self, scope):
        return scope in self.scopes

    def set_header(self, name, value):
        self.headers[name] = value

    def write(self, text):
        self.written.append(text)


class WatchedSpawner(Spawner):
    def __init__(self, *args, watcher, **kwargs):
        super().__init__(*args, **kwargs)
        self.watcher = watcher

    def job_status(self):
        return self.watcher.status(self.job_id) if self.job_id else None


def user_with(spawners, name="moss01", kind="user"):
    return SimpleNamespace(
        name=name,
        kind=kind,
        spawner=spawners[0],
        all_spawners=lambda include_default=True: iter(spawners),
    )


async def test_the_handler_answers_for_the_logged_in_users_own_servers():
    asked = []

    class Watcher:
        def status(self, job_id):
            asked.append(job_id)
            return running(job_id)

    watcher = Watcher()
    spawners = [
        WatchedSpawner("", "12", watcher=watcher),
        WatchedSpawner("b", "13", watcher=watcher),
    ]
    handler = FakeHandler(user_with(spawners))
    await ServersHandler.get(handler)
    answer = json.loads("".join(handler.written))
    assert set(answer["servers"]) == {"", "b"}
    assert answer["servers"]["b"]["log_url"] == "/hub/moss/log/moss01/b"
    assert sorted(asked) == ["12", "13"]  # the watcher's memory: no Slurm call
    assert handler.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    "who, scopes",
    [
        (None, None),
        (SimpleNamespace(name="svc", kind="service"), None),
        # a token that may use the server but not read the user's servers
        ("user", {"access:servers!server=moss01/"}),
    ],
)
async def test_anonymous_services_and_narrow_tokens_are_refused(who, scopes):
    if who == "user":
        who = user_with([Spawner("")])
    handler = FakeHandler(who, scopes)
    with pytest.raises(web.HTTPError) as refused:
        await ServersHandler.get(handler)
    assert refused.value.status_code == 403


# -- the templates ------------------------------------------------------------------------


def hub_environment(template_paths, jupyterhub_folder):
    """JupyterHub's own template loader (jupyterhub/app.py, init_tornado_settings)."""
    paths = list(template_paths)
    if jupyterhub_folder not in paths:
        paths.append(jupyterhub_folder)
    loader = ChoiceLoader(
        [
            PrefixLoader({"templates": FileSystemLoader([jupyterhub_folder])}, "/"),
            FileSystemLoader(paths),
        ]
    )
    return Environment(loader=loader, autoescape=True)


def render_home(env):
    named = SimpleNamespace(
        name="gpu-work", display_name="", ready=True, active=True, pending=None, last_activity=None
    )
    user = SimpleNamespace(
        name="moss01",
        json_escaped_name="moss01",
        escaped_name="moss01",
        all_spawners=lambda include_default=True: [named],
        server_url=lambda name="": "/user/moss01/" + name,
        spawner=SimpleNamespace(options_form=None),
    )
    return env.get_template("home.html").render(
        user=user,
        base_url="/hub/",
        prefix="/",
        static_url=lambda *a, **k: "/hub/static/x",
        default_server=SimpleNamespace(active=True),
        url="/user/moss01",
        allow_named_servers=True,
        named_server_limit_per_user=0,
        moss_version="1.2.3",
        xsrf_token="x",
    )


def template_paths_after_set_config(config, jupyterhub_folder):
    paths = config.JupyterHub.template_paths
    if isinstance(paths, list):
        return paths
    return paths.get_value([jupyterhub_folder])


@pytest.mark.parametrize("jupyterhub_folder", jupyterhub_template_folders())
def test_the_home_page_is_jupyterhubs_with_the_script_added(jupyterhub_folder):
    c = Config()
    set_config(c)
    paths = template_paths_after_set_config(c, jupyterhub_folder)
    assert paths == [templates_folder(), jupyterhub_folder]
    html = render_home(hub_environment(paths, jupyterhub_folder))
    # JupyterHub's page, as it is ...
    assert 'data-server-name="gpu-work"' in html and 'id="start"' in html
    assert 'require(["home"])' in html
    # ... and the package's script after it, with its data URL.
    assert '/hub/moss/static/moss-home.js?v=1.2.3"' in html
    assert 'data-servers-url="/hub/api/moss/servers"' in html
    assert html.index('require(["home"])') < html.index("moss-home.js")


@pytest.mark.parametrize("jupyterhub_folder", jupyterhub_template_folders())
def test_a_sites_own_home_page_still_wins(tmp_path, jupyterhub_folder):
    site = tmp_path / "site"
    site.mkdir()
    (site / "home.html").write_text(
        '{% extends "moss_home.html" %}{% block main %}SITE HOME{{ super() }}{% endblock %}'
    )
    c = Config()
    c.JupyterHub.template_paths = [str(site)]
    set_config(c)
    paths = template_paths_after_set_config(c, jupyterhub_folder)
    assert paths == [str(site), templates_folder()]
    html = render_home(hub_environment(paths, jupyterhub_folder))
    assert "SITE HOME" in html and "moss-home.js" in html

    # A site folder given later, in front of the others, wins too.
    for add in ("insert", "prepend"):
        c = Config()
        set_config(c)
        if add == "insert":
            c.JupyterHub.template_paths.insert(0, str(site))
        else:
            c.JupyterHub.template_paths.prepend([str(site)])
        paths = template_paths_after_set_config(c, jupyterhub_folder)
        assert paths == [str(site), templates_folder(), jupyterhub_folder]
        assert "SITE HOME" in render_home(hub_environment(paths, jupyterhub_folder))


def test_the_package_folder_goes_before_jupyterhubs_own_at_start_up():
    assert ordered_template_paths(["/jh", "/site", "/moss"], "/moss", "/jh") == [
        "/moss",
        "/jh",
        "/site",
    ]
    assert ordered_template_paths(["/site", "/moss", "/jh"], "/moss", "/jh") == [
        "/site",
        "/moss",
        "/jh",
    ]
    assert ordered_template_paths(["/site"], "/moss", "/jh") == ["/site"]


def test_set_config_twice_adds_the_folder_once():
    c = Config()
    c.JupyterHub.template_paths = ["/site"]
    set_config(c)
    set_config(c)
    assert c.JupyterHub.template_paths == ["/site", templates_folder()]
    routes = [h[0] for h in c.JupyterHub.extra_handlers]
    assert routes.count(r"/api/moss/servers") == 1
    assert any(r.startswith(r"/moss/log/") for r in routes)
    assert any(r.startswith(r"/api/moss/log/") for r in routes)
