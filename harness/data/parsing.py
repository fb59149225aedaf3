"""Low-level parsing shared by the data loaders: reading UTF-8 text, JSONL records, TSV
rows with a header, integer fields and multiple-choice items, each problem a one-line
DataError naming the file and, for a record, its line number."""

from __future__ import annotations

import json
from pathlib import Path

from harness.errors import DataError


def read_text(path: Path) -> str:
    """The file as UTF-8, line endings untranslated (no universal-newline conversion)."""
    try:
        with open(path, encoding="utf-8", newline="") as f:
            return f.read()
    except FileNotFoundError:
        raise DataError("data file not found", path=path) from None
    except UnicodeDecodeError as e:
        raise DataError(f"not UTF-8 text (byte offset {e.start})", path=path) from None
    except OSError as e:
        raise DataError(f"cannot read: {e.strerror}", path=path) from None


def lines(path: Path) -> list[str]:
    """Lines without their terminator (LF or CRLF)."""
    return [ln[:-1] if ln.endswith("\r") else ln for ln in read_text(path).split("\n")]


def mc_item(path: Path, line: int, query, choices, gold, **extra) -> dict:
    """Validate one multiple-choice record: a string query, 2+ string choices, gold in range."""
    if not isinstance(query, str):
        raise DataError(f"line {line}: 'query' must be a string", path=path)
    if (not isinstance(choices, list) or len(choices) < 2
            or not all(isinstance(c, str) for c in choices)):
        raise DataError(f"line {line}: 'choices' must be a list of at least 2 strings", path=path)
    if isinstance(gold, bool) or not isinstance(gold, int):
        raise DataError(f"line {line}: 'gold' must be an integer, got {gold!r}", path=path)
    if not 0 <= gold < len(choices):
        raise DataError(f"line {line}: gold index {gold} out of range for {len(choices)} "
                        f"choices", path=path)
    return {"query": query, "choices": list(choices), "gold": gold, **extra}


def jsonl_records(path: Path):
    for n, raw in enumerate(lines(path), 1):
        if not raw.strip():
            continue
        try:
            rec = json.loads(raw)
        except json.JSONDecodeError as e:
            raise DataError(f"line {n}: not valid JSON ({e.msg})", path=path) from None
        if not isinstance(rec, dict):
            raise DataError(f"line {n}: expected a JSON object", path=path)
        yield n, rec


def require(path: Path, line: int, rec: dict, *keys: str) -> None:
    missing = [k for k in keys if k not in rec]
    if missing:
        raise DataError(f"line {line}: missing field(s) {', '.join(missing)}", path=path)


def tsv_rows(path: Path, columns: tuple[str, ...]):
    """Rows of a TSV with a header as (line number, {column: value}); checks the header."""
    rows = lines(path)
    if not rows or not rows[0].strip():
        raise DataError("line 1: empty file, expected a header row", path=path)
    header = rows[0].split("\t")
    missing = [c for c in columns if c not in header]
    if missing:
        raise DataError(f"line 1: header lacks column(s) {', '.join(missing)} "
                        f"(has {', '.join(header)})", path=path)
    for n, raw in enumerate(rows[1:], 2):
        if not raw.strip():
            continue
        cells = raw.split("\t")
        if len(cells) != len(header):
            raise DataError(f"line {n}: {len(cells)} fields, header has {len(header)}",
                            path=path)
        yield n, dict(zip(header, cells))


def int_field(path: Path, n: int, value: str, name: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise DataError(f"line {n}: {name} {value!r} is not an integer", path=path) from None
