"""The spawn page's options form: rendered with Jinja2 (autoescaped) from the
partitions the user may use and the shared ``sinfo`` cache."""

from __future__ import annotations

from functools import lru_cache

import jinja2

__all__ = ["render_options_form"]


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("jupyterhub_moss", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


async def render_options_form(spawner) -> str:
    """HTML of the options form for ``spawner``'s user (JupyterHub's ``options_form``)."""
    views = await spawner.partition_views()
    partitions = [view.as_dict() for view in views.values()]
    previous = spawner.orm_spawner.user_options if getattr(spawner, "orm_spawner", None) else None
    template = _environment().get_template("options_form.html")
    return template.render(partitions=partitions, previous=previous or {})
