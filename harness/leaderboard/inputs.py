"""The leaderboard's inputs: run records and verdicts, each validated before it is used.

Inputs are files or folders (searched recursively for *.json; verdict.json and
verdict-<backend>.json are verdicts, every other file except run.json a run record).
Run records are read by records.read_record (which migrates older schema versions, so
versions are never mixed), verdicts by records.read_verdict. A file that is unreadable,
too large, truncated or invalid is rejected (its path and the reason, for one line on
stderr and sources.rejected), and the rest are still folded.
"""

from __future__ import annotations

from pathlib import Path

from harness.errors import DataError


def collect(paths: list[str], skip: list[Path] = ()) -> tuple[list, list, list, int]:
    """Read and validate every input -> (records, verdicts, rejected, files read)."""
    from harness.records import is_verdict_file, read_record, read_verdict, record_files

    files: dict[Path, Path] = {}
    rejected: list[dict] = []
    skipped = {Path(p).resolve() for p in skip}
    for arg in paths:
        try:
            found = record_files([arg])
        except DataError as e:
            rejected.append({"path": str(arg), "reason": reason(e)})
            continue
        for f in found:
            if f.resolve() not in skipped:
                files.setdefault(f.resolve(), f)
    records, verdicts = [], []
    for f in files.values():
        try:
            if is_verdict_file(f):
                verdicts.append(read_verdict(f))
            else:
                records.append(read_record(f))
        except DataError as e:
            rejected.append({"path": str(f), "reason": reason(e)})
    return records, verdicts, rejected, len(files)


def reason(e: DataError) -> str:
    """A DataError's message without the path it starts with."""
    text = str(e)
    return text[len(e.path) + 2:] if e.path and text.startswith(e.path + ": ") else text
