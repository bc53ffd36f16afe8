"""The spawn page's options form: Jinja2 (autoescaped) from the partitions the
user may use, the shared ``sinfo`` cache and the user's previous choices."""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from functools import lru_cache
from urllib.parse import quote

import jinja2

from .._version import __version__
from ..choices.options import UserOptions, flatten_form, validate_options
from ..choices.presets import Preset, check_presets, merge_histories
from ..errors import OptionError
from ..slurm.timefmt import format_duration
from .simple_tab import fits_simple, runtime_choices, simple_choices
from .spawn_links import LINK_NOTICE, link_options

__all__ = ["form_context", "render_options_form"]

#: Interfaces offered on the Advanced tab: default_url -> label.
INTERFACES = [("/lab", "JupyterLab"), ("/tree", "Jupyter Notebook (classic)")]


@lru_cache(maxsize=8)
def _page_templates(template_paths: tuple[str, ...]) -> jinja2.Environment:
    loaders = [jinja2.FileSystemLoader(list(template_paths))] if template_paths else []
    loaders.append(jinja2.PackageLoader("jupyterhub_moss", "templates"))
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


def _admin_template_paths(spawner) -> tuple[str, ...]:
    """``c.JupyterHub.template_paths``: where an admin's ``moss_form.html`` may live."""
    try:
        paths = spawner.config.JupyterHub.template_paths
    except AttributeError:
        return ()
    if not isinstance(paths, (list, tuple)):
        return ()
    return tuple(str(p) for p in paths if os.path.isdir(str(p)))


def _simple_value(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600}:00:00"
    return format_duration(seconds)


def _interface(options: UserOptions | None, default_url: str) -> str:
    """The interface to preselect: the previous choice, else the admin's default_url."""
    urls = [url for url, _ in INTERFACES]
    for candidate in (options.default_url if options else None, default_url):
        if candidate in urls:
            return candidate
    return urls[0]


def form_context(
    views: dict,
    previous: dict | None,
    default_url: str = "",
    sbatch_options: dict[str, str] | None = None,
    user_environments: bool = False,
) -> dict:
    """Everything the form template and its script need."""
    partitions = [view.as_dict() for view in views.values()]
    by_name = {p["name"]: p for p in partitions}
    options = None
    from_previous = False
    if previous:
        try:
            options = validate_options(
                previous,
                views,
                sbatch_options=sbatch_options,
                user_environments=user_environments,
            )
        except Exception:
            # Refused now (the admin's limits changed, or they came hostile through the
            # REST API and were stored by JupyterHub): start from the defaults.
            options = None
        from_previous = options is not None
    if options is None:
        options = validate_options({}, views) if any(p["available"] for p in partitions) else None

    simple_parts = [p for p in partitions if p["simple"] and p["available"]]
    if options is not None and by_name[options.partition]["simple"]:
        simple_part = by_name[options.partition]
    else:
        simple_part = simple_parts[0] if simple_parts else None
    tab = "simple"
    if options is not None and not fits_simple(options, by_name[options.partition]):
        tab = "advanced"

    simple = {
        "partition": None,
        "nprocs": 1,
        "ngpus": 0,
        "runtime": "1:00:00",
        "environment_id": None,
        "account": options.account if options else None,
    }
    if simple_part is not None:
        simple["partition"] = simple_part["name"]
        choices = [c["seconds"] for c in runtime_choices(simple_part["max_runtime"])]
        runtime = choices[0]
        if options is not None and options.partition == simple_part["name"]:
            simple["nprocs"] = options.nprocs
            simple["ngpus"] = options.ngpus
            simple["environment_id"] = options.environment_id
            if options.runtime in choices:
                runtime = options.runtime
        simple["runtime"] = _simple_value(runtime)

    advanced = {
        "partition": options.partition
        if options
        else (partitions[0]["name"] if partitions else ""),
        "nprocs": options.nprocs if options else 1,
        "ngpus": options.ngpus if options else 0,
        "hours": (options.runtime // 3600) if options else 1,
        "minutes": (options.runtime % 3600) // 60 if options else 0,
        "runtime": options.time_limit if options else "1:00:00",
        "memory_gb": (options.memory_mb // 1024) if options and options.memory_mb else "",
        "default_url": _interface(options, default_url),
        "root_dir": options.root_dir if options and options.root_dir else "",
        "options": " ".join(options.sbatch_options) if options else "",
        "environment_id": options.environment_id if options else None,
        "environment_path": (options.environment_path or "") if options else "",
        "environment_modules": (options.environment_modules or "") if options else "",
        "account": options.account if options else None,
        "qos": options.qos if options else None,
        "gpu_type": options.gpu_type if options else None,
        "reservation": options.reservation if options else None,
    }
    return {
        "partitions": partitions,
        "tab": tab,
        "simple": simple,
        "advanced": advanced,
        "interfaces": INTERFACES,
        "sbatch_options": sorted(sbatch_options or {}),
        "user_environments": user_environments,
        "from_previous": from_previous,
    }


def _spawn_url(spawner, hub_base: str) -> str:
    """The spawn page of this server, where a preset's query starts it."""
    user = getattr(spawner, "user", None)
    name = quote(user.name, safe="") if user is not None else ""
    url = f"{hub_base}spawn/{name}"
    if getattr(spawner, "name", ""):
        url += "/" + quote(spawner.name, safe="")
    return url


def _presets(spawner, views, facts) -> list[Preset]:
    """The user's last launches, each checked as a start with them would be."""
    keep = int(getattr(spawner, "start_again_presets", 3))
    if keep <= 0:
        return []
    # This server's launches as it holds them, and the others' as the database does.
    histories = [list(getattr(spawner, "moss_launches", []) or [])]
    try:
        # The user's servers by name, as JupyterHub's database holds them.
        stored = spawner.user.orm_user.orm_spawners.values()
    except AttributeError:
        stored = []
    histories += [(s.state or {}).get("moss_launches") for s in stored]
    history = merge_histories([h for h in histories if isinstance(h, list)], keep=keep)

    def validate(options):
        checked = validate_options(
            options,
            views,
            sbatch_options=spawner.allowed_sbatch_options,
            user_environments=bool(spawner.allow_user_environments),
        )
        facts.check(checked)

    return check_presets(history, validate)


_RENDERED: OrderedDict[tuple, str] = OrderedDict()
_RENDERED_MAX = 512


async def render_options_form(spawner) -> str:
    """HTML of the options form for ``spawner``'s user (JupyterHub's ``options_form``).

    The page is the same for every view of one server's spawn page with the same
    partitions, previous choices and ``sinfo`` answer: it is rendered once for them
    and kept (a few hundred at most), so that page views cost little more than
    JupyterHub's own page. The key holds the server's spawn URL, which the page's
    links point to, so that no page is ever served for another user or server.
    """
    views, user_facts = await spawner.choices().views_and_facts()
    hub_base = spawner.hub.base_url if getattr(spawner, "hub", None) else "/hub/"
    facts = user_facts.page_data(views)
    presets = _presets(spawner, views, user_facts)
    facts_key = json.dumps([facts, [p.query + (p.error or "") for p in presets]], sort_keys=True)
    handler = getattr(spawner, "handler", None)
    # A spawn link that did not start the server (it came from another site): the
    # form shows the link's options, and says so.
    link = link_options(handler)
    if link is not None:
        try:
            previous = flatten_form(link)
        except OptionError:
            previous, link = None, None
    else:
        orm_spawner = getattr(spawner, "orm_spawner", None)
        previous = orm_spawner.user_options if orm_spawner is not None else None
    spawn_url = _spawn_url(spawner, hub_base)
    snapshot = spawner.sinfo_snapshot()
    template_paths = _admin_template_paths(spawner)
    try:
        previous_key = json.dumps(previous, sort_keys=True, default=repr)
    except (TypeError, ValueError):
        previous_key = repr(previous)
    key = (
        spawner.partitions_fingerprint(),
        id(snapshot),
        snapshot.fetched_at if snapshot is not None else None,
        tuple((name, view.available) for name, view in views.items()),
        previous_key,
        link is not None,
        # The preset links start this user's own server: never another's page.
        spawn_url,
        facts_key,
        spawner.default_url or "",
        tuple(sorted(spawner.allowed_sbatch_options.items())),
        bool(spawner.allow_user_environments),
        hub_base,
        template_paths,
        float(spawner.sinfo_cache_ttl),
    )
    html = _RENDERED.get(key)
    if html is not None:
        _RENDERED.move_to_end(key)
        return html

    context = form_context(
        views,
        previous,
        spawner.default_url or "",
        spawner.allowed_sbatch_options,
        user_environments=bool(spawner.allow_user_environments),
    )
    context.update(
        static_url=f"{hub_base}moss/static/",
        version=__version__,
        sinfo_error=snapshot.error if snapshot is not None else None,
        presets=presets,
        spawn_url=spawn_url,
        link_notice=LINK_NOTICE if link is not None and context["from_previous"] else None,
    )
    for partition in context["partitions"]:
        partition["simple_choices"] = simple_choices(partition, facts)
    context["data"] = {
        "partitions": context["partitions"],
        "state": {
            "tab": context["tab"],
            "simple": context["simple"],
            "advanced": context["advanced"],
        },
        "facts": facts,
        "resources_url": f"{hub_base}api/moss/resources",
        "estimate_url": f"{hub_base}api/moss/estimate",
        "refresh_seconds": max(float(spawner.sinfo_cache_ttl), 5.0),
    }
    env = _page_templates(template_paths)
    html = env.get_template("moss_form.html").render(context)
    _RENDERED[key] = html
    while len(_RENDERED) > _RENDERED_MAX:
        _RENDERED.popitem(last=False)
    return html
