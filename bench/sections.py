"""Sections of docs/benchmarks.md that each benchmark rewrites, leaving the rest."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"

_HEAD = "# Benchmarks\n"


def write_section(name: str, text: str, doc: Path = DOC) -> None:
    """Put ``text`` between the markers of section ``name``: in place of that
    section's last text, or at the end of the document when it has none yet."""
    begin, end = f"<!-- begin {name} -->", f"<!-- end {name} -->"
    block = f"{begin}\n{text.rstrip()}\n{end}\n"
    current = doc.read_text() if doc.exists() else _HEAD
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end) + r"\n?", re.DOTALL)
    if pattern.search(current):
        updated = pattern.sub(lambda _: block, current, count=1)
    else:
        updated = current.rstrip() + "\n\n" + block
    doc.write_text(updated)
