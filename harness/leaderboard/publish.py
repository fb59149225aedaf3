"""The leaderboard's static page: plain files kept in the package (harness/leaderboard/page/:
index.html, app.js, style.css; no build step, nothing loaded from the network) and a copy
of the leaderboard JSON beside them, for machines.

The data is also embedded in index.html, in a `<script type="application/json">` block:
a data block is never executed, so the page's Content-Security-Policy (scripts only from
the page's own files) allows it, and the page works when opened from disk (file://),
where browsers refuse fetch(). Every "<" in the embedded JSON is written as \\u003c (the
same string to JSON.parse), so no value can close the block or open a comment.
"""

from __future__ import annotations

import json
from pathlib import Path

PAGE_FILES = ("index.html", "app.js", "style.css")
DATA_SLOT = "<!--leaderboard-data-->"


def embed(html: str, doc: dict) -> str:
    """index.html with the document in its data block."""
    data = json.dumps(doc, ensure_ascii=False, sort_keys=False, allow_nan=False)
    data = data.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029",
                                                                            "\\u2029")
    if DATA_SLOT not in html:
        raise ValueError("page/index.html has no data slot")  # a packaging bug
    return html.replace(DATA_SLOT, data, 1)


def write_page(folder: Path, doc: dict) -> None:
    """index.html (the data embedded), app.js and style.css from harness/leaderboard/page/,
    plus leaderboard.json."""
    from importlib.resources import files

    from harness.records import atomic_write_text, write_json

    src = files("harness.leaderboard").joinpath("page")
    for name in PAGE_FILES:
        text = src.joinpath(name).read_text(encoding="utf-8")
        atomic_write_text(folder / name, embed(text, doc) if name == "index.html" else text)
    write_json(folder / "leaderboard.json", doc)
