"""Reading a record file: migrate older versions, validate, refuse impossible numbers and
summaries that do not follow from their samples, then the read-only Record view."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness import metrics
from harness.errors import DataError
from harness.records.record import SCHEMA, SCHEMA_VERSION, Record


def _kind_v1(data: dict) -> str:
    task = data.get("task") or {}
    name, kind = str(task.get("name", "")), task.get("kind")
    if name == "speed":
        return "speed"
    if name == "parity" or kind == "parity" or name == "parity-dump":
        return "parity"
    for k in ("determinism", "soak"):
        if kind == k or name == k or name.startswith(k + "-"):
            return k
    return "quality"


def migrate(data: dict, path: Path) -> dict:
    """Bring an older record up to SCHEMA_VERSION.

    1 -> 2: `kind` is written in the record (derived here as version 1's readers did),
    and the two workers of a determinism check say which they were in params.worker
    instead of in the task name ("determinism-w1").
    """
    version = data.get("schema_version")
    if version == 1:
        data = dict(data, schema_version=2, kind=_kind_v1(data))
        name = str((data.get("task") or {}).get("name", ""))
        if data["kind"] == "determinism" and name.rsplit("-w", 1)[-1].isdigit() and "-w" in name:
            base, worker = name.rsplit("-w", 1)
            data["task"] = {**data["task"], "name": base}
            data["params"] = {**(data.get("params") or {}), "worker": int(worker)}
        version = 2
    if version == SCHEMA_VERSION:
        return data
    raise DataError(f"unsupported schema_version {version!r} (this harness reads 1 to "
                    f"{SCHEMA_VERSION})", path=path)


def _bad_number(x: Any) -> bool:
    return isinstance(x, float) and not math.isfinite(x)


def check_numbers(data: Any, path: Path, where: str = "") -> None:
    """Refuse NaN and infinities anywhere in a record, and impossible measurements: a
    magnitude above harness.metrics.MAX_MAGNITUDE, or a value outside the metric's physical
    bounds (harness.metrics: a negative time or rate)."""
    if where == "" and isinstance(data, Mapping):
        for i, m in enumerate(data.get("measurements") or ()):
            if isinstance(m, Mapping):
                _check_measurement(m, path, f"measurements/{i} ({m.get('metric')})")
    if _bad_number(data):
        raise DataError(f"field {where or 'top level'} is {data} (not a measurement)",
                        path=path)
    if isinstance(data, Mapping):
        for k, v in data.items():
            check_numbers(v, path, f"{where}/{k}" if where else str(k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            check_numbers(v, path, f"{where}/{i}")


def _check_measurement(m: Mapping, path: Path, name: str) -> None:
    summary = m.get("summary") if isinstance(m.get("summary"), Mapping) else {}
    samples = m.get("samples") if isinstance(m.get("samples"), list) else []
    checked = ("median", "mean", "min", "max")
    numbers = [("samples", v) for v in samples] + [(k, summary[k]) for k in checked
                                                     if k in summary]
    for field, v in numbers:
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            continue
        why = metrics.out_of_bounds(str(m.get("metric")), str(m.get("unit")), float(v))
        if why is None:
            continue
        verb = "is" if why == "not a possible measurement" else "holds"
        raise DataError(f"field {name}/{field} {verb} {v}: {why}", path=path)


def read_record(path: Path) -> Record:
    """Read, migrate and validate one record; any problem is a DataError naming the file."""
    from harness.records.files import load_schema, read_json_bounded, validate_json

    path = Path(path)
    data = read_json_bounded(path)
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise DataError(f"not a {SCHEMA} file", path=path)
    data = migrate(data, path)
    validate_json(data, load_schema("run-record"), path, "record")
    check_numbers(data, path)
    check_summaries(data, path)
    return Record(data, path)


#: a stored statistic may differ from the recomputed one by float rounding only
SUMMARY_RTOL, SUMMARY_ATOL = 1e-6, 1e-9


def check_summaries(data: Mapping, path: Path) -> None:
    """Refuse a record whose stored summary disagrees with its own samples (a forged or
    edited number): every statistic harness.measure.stats.describe gives is recomputed."""
    from harness.measure.stats import DESCRIBED, describe

    for i, m in enumerate(data.get("measurements") or ()):
        stored = m.get("summary")
        if not isinstance(stored, Mapping):
            continue
        fresh = describe(m.get("samples") or ())
        for key in DESCRIBED:
            v = stored.get(key)
            if not isinstance(v, (int, float)) or isinstance(v, bool):
                continue
            want = fresh.get(key)
            if want is None or not math.isfinite(want) or not math.isclose(
                    v, want, rel_tol=SUMMARY_RTOL, abs_tol=SUMMARY_ATOL):
                got = "nothing" if want is None else f"{want:.6g}"
                raise DataError(f"field measurements/{i} ({m.get('metric')})/summary/{key} "
                                f"is {v:g} but its samples give {got}: a summary must be "
                                "derived from its samples", path=path)
