"""The leaderboard's static page: plain files kept in the package (harness/leaderboard/page/:
index.html, app.js, style.css; no build step, nothing loaded from the network) and a copy
of the leaderboard JSON the page reads."""

from __future__ import annotations

from pathlib import Path

PAGE_FILES = ("index.html", "app.js", "style.css")


def write_page(folder: Path, doc: dict) -> None:
    """index.html, app.js and style.css from harness/leaderboard/page/, plus the JSON."""
    from importlib.resources import files

    from harness.records import atomic_write_text, write_json

    src = files("harness.leaderboard").joinpath("page")
    for name in PAGE_FILES:
        atomic_write_text(folder / name, src.joinpath(name).read_text(encoding="utf-8"))
    write_json(folder / "leaderboard.json", doc)
