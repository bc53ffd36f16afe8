"""Sphinx configuration of the jupyterhub_moss documentation (built by dev/docs.sh)."""

from __future__ import annotations

import sys
from pathlib import Path

# The package documents itself (autodoc-traits): prefer the checkout next to this
# folder over whatever copy is installed.
_REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(_REPO))

from jupyterhub_moss._version import __version__  # noqa: E402

project = "jupyterhub_moss"
author = "the jupyterhub_moss developers"
copyright = "the jupyterhub_moss developers"  # noqa: A001
version = release = __version__

extensions = [
    "myst_parser",
    "autodoc_traits",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
# Not pages: the build's output, the pinned tools, the pictures (pages show them).
exclude_patterns = ["_build", "requirements.txt", "screenshots", "**/.*"]

myst_enable_extensions = ["colon_fence", "deflist"]
# Anchors for headings down to ### so pages can link to sections (page.md#slug).
myst_heading_anchors = 3

# Configuration reference: the traits in the order the classes declare them.
autodoc_member_order = "bysource"
autodoc_typehints = "none"
# The page's table of contents lists settings by their own names.
toc_object_entries_show_parents = "hide"

html_theme = "jupyterhub_sphinx_theme"
html_title = f"jupyterhub_moss {release}"
# No favicon or logo fetched from the internet: the site works offline.
html_favicon = None
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "use_edit_page_button": False,
}
html_static_path: list[str] = []
html_last_updated_fmt = None

nitpicky = True
# Settings, options and messages are quoted literally: no curly quotes, and
# "--mem" must not become an en dash.
smartquotes = False

# The theme's Open Graph extension would draw social cards with matplotlib: none here.
ogp_social_cards = {"enable": False}


def _skip_jupyterhub_traits(app, what, name, obj, skip, options):
    """The reference lists the settings this package defines; JupyterHub's own
    Spawner settings are documented by JupyterHub (the page links to them)."""
    from traitlets import TraitType

    if isinstance(obj, TraitType):
        owner = getattr(obj, "this_class", None)
        if owner is not None and not owner.__module__.startswith("jupyterhub_moss"):
            return True
    return None


def _settings_in_the_order_declared():
    """autodoc's "bysource" order knows only the documented class's own module, and
    lists what the class inherits alphabetically. MOSlurmSpawner inherits its
    settings from the one class that declares them all (``spawner/settings.py``):
    list each where that class declares it."""
    from sphinx.ext.autodoc import ClassDocumenter
    from sphinx.pycode import ModuleAnalyzer

    sort = ClassDocumenter.sort_members

    def place(cls, entry):
        name = entry[0].name.split("::")[-1].rpartition(".")[2]
        owner = getattr(getattr(cls, name, None), "this_class", None)
        if owner is None or not owner.__module__.startswith("jupyterhub_moss"):
            return (1, 0)
        analyzer = ModuleAnalyzer.for_module(owner.__module__)
        analyzer.analyze()
        # Settings made in a loop (the refused ones) are not in the source: last.
        tags = analyzer.tagorder
        return (0, tags.get(f"{owner.__qualname__}.{name}", len(tags)))

    def sort_members(self, documenters, order):
        documenters = sort(self, documenters, order)
        if order != "bysource":
            return documenters
        return sorted(documenters, key=lambda entry: place(self.object, entry))

    ClassDocumenter.sort_members = sort_members


def _drop_community_links(app):
    """The theme adds the JupyterHub project's community links (its forum and team
    compass) to every site's header; they are not this project's."""
    theme = getattr(app.builder, "theme_options", None) or {}
    links = theme.get("icon_links")
    if links:
        theme["icon_links"] = [
            link for link in links if link.get("name") not in {"Discourse", "Team Compass"}
        ]


def setup(app):
    _settings_in_the_order_declared()
    app.connect("autodoc-skip-member", _skip_jupyterhub_traits)
    # After the theme's own builder-inited handler (priority 500).
    app.connect("builder-inited", _drop_community_links, priority=900)
