"""Check the links inside a built HTML site (dev/docs.sh runs this after Sphinx).

Every relative ``href`` or ``src`` of every page must name a file of the site and,
when it has a ``#fragment``, an ``id`` (or ``name``) in that file. Links with a
scheme (http, https, mailto, ...) are not fetched; they are counted and listed as
skipped. Exit status 0 when every link resolves, 1 otherwise.

    python dev/check_doc_links.py docs/_build/html
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

#: Attributes that point at another resource.
LINK_ATTRIBUTES = {"href", "src"}
#: Folders of the built site that hold the theme's files, not pages (the theme
#: copies some of its Jinja templates there as they are).
NOT_PAGES = {"_static", "_sources", "_images"}


class _Page(HTMLParser):
    """The links and the ids of one HTML file."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[int, str]] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if value is None:
                continue
            if name in LINK_ATTRIBUTES:
                self.links.append((self.getpos()[0], value))
            elif name == "id" or (name == "name" and tag == "a"):
                self.ids.add(value)

    handle_startendtag = handle_starttag


def _parse(path: Path, cache: dict[Path, _Page]) -> _Page:
    page = cache.get(path)
    if page is None:
        page = _Page()
        page.feed(path.read_text(encoding="utf-8", errors="replace"))
        page.close()
        cache[path] = page
    return page


def check(site: Path, verbose: bool = False) -> tuple[list[str], Counter, int]:
    """Broken links (as messages), skipped external links by scheme, links checked."""
    site = site.resolve()
    cache: dict[Path, _Page] = {}
    broken: list[str] = []
    skipped: Counter = Counter()
    checked = 0
    for html in sorted(site.rglob("*.html")):
        where = html.relative_to(site)
        if where.parts[0] in NOT_PAGES:
            continue
        page = _parse(html, cache)
        for line, link in page.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc:
                skipped[parts.scheme or "//"] += 1
                if verbose:
                    print(f"not fetched: {where}:{line}: {link}")
                continue
            checked += 1
            if parts.path:
                if parts.path.startswith("/"):
                    broken.append(f"{where}:{line}: {link}: absolute path, not inside the site")
                    continue
                target = (html.parent / unquote(parts.path)).resolve()
                if target.is_dir():
                    target = target / "index.html"
            else:
                target = html.resolve()
            if site not in target.parents and target != site:
                broken.append(f"{where}:{line}: {link}: points outside the site")
                continue
            if not target.is_file():
                broken.append(f"{where}:{line}: {link}: no such file")
                continue
            fragment = unquote(parts.fragment)
            if fragment and target.suffix == ".html":
                if fragment not in _parse(target, cache).ids:
                    broken.append(f"{where}:{line}: {link}: no id {fragment!r} in that page")
    return broken, skipped, checked


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", type=Path, help="the folder of the built HTML")
    parser.add_argument("-v", "--verbose", action="store_true", help="list the external links")
    args = parser.parse_args(argv)
    if not (args.site / "index.html").is_file():
        print(f"check_doc_links: no index.html in {args.site}", file=sys.stderr)
        return 1
    broken, skipped, checked = check(args.site, verbose=args.verbose)
    for message in broken:
        print(f"broken link: {message}", file=sys.stderr)
    external = sum(skipped.values())
    by_scheme = ", ".join(f"{scheme} {count}" for scheme, count in sorted(skipped.items()))
    print(
        f"check_doc_links: {checked} links inside the site checked, {len(broken)} broken; "
        f"{external} external links not fetched" + (f" ({by_scheme})" if by_scheme else "")
    )
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
