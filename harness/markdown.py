"""Markdown tables: the one helper every printed or written table goes through.

table(head, rows) gives the lines of a GitHub-flavoured Markdown table. Cells are passed
through `escape`: by default only "|" is escaped (terminal output); report.md passes
html_cell, which also neutralises HTML and line breaks, since results files are input
from someone else.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence


def pipe_cell(value) -> str:
    return str(value).replace("|", "\\|")


def html_cell(value) -> str:
    """One line; '&', '<', '>' as entities; '|' and '`' backslash-escaped; never empty."""
    text = " ".join(str(value).split())
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("|", "\\|").replace("`", "\\`")) or " "


def row(cells: Sequence, escape: Callable[[object], str] = pipe_cell) -> str:
    return "| " + " | ".join(escape(c) for c in cells) + " |"


def rule(n: int, align: str | None = None) -> str:
    """The separator line; align is one letter per column, "l" or "r" (default all "l")."""
    align = align or "l" * n
    return "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"


def header(head: Sequence, align: str | None = None,
           escape: Callable[[object], str] = pipe_cell) -> list[str]:
    return [row(head, escape), rule(len(head), align)]


def table(head: Sequence, rows: Sequence[Sequence], *, align: str | None = None,
          escape: Callable[[object], str] = pipe_cell) -> list[str]:
    """The table's lines (no trailing newline)."""
    return header(head, align, escape) + [row(r, escape) for r in rows]
