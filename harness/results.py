"""Run records: one JSON file per finished run, written atomically, read with validation.

A record is self-contained: model (id, sha256, size), backend, device profile, task,
parameters, environment (harness version and commit, runtime versions, host
fingerprint), every measurement's raw samples with a summary derived from them, and
an error when the run failed. The layout is defined by harness/schemas/run-record.schema.json.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness.errors import DataError

SCHEMA = "sllm-bench/run-record"
SCHEMA_VERSION = 1
MAX_RECORD_BYTES = 32 * 2**20


@dataclass(frozen=True)
class Measurement:
    """One metric's raw samples and its direction (higher_is_better)."""

    metric: str
    unit: str
    higher_is_better: bool
    samples: tuple[float, ...]

    def to_dict(self) -> dict:
        from harness.measure.stats import summarize

        return {"metric": self.metric, "unit": self.unit,
                "higher_is_better": self.higher_is_better,
                "samples": [float(s) for s in self.samples],
                "summary": summarize(self.samples)}


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def new_run_id() -> str:
    """Sortable and unique across processes: UTC time, pid and random bits."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{os.getpid()}-{os.urandom(3).hex()}"


def atomic_write_text(path: Path, text: str) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=1, ensure_ascii=False, allow_nan=False,
                                       default=_json_default) + "\n")


def _json_default(o: Any):
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "model_dump"):
        return o.model_dump(mode="json")
    raise TypeError(f"cannot serialise {type(o).__name__}")


def _clean(x: Any) -> Any:
    """Replace NaN/inf (not valid JSON) by None, recursively."""
    if isinstance(x, float):
        return x if x == x and x not in (float("inf"), float("-inf")) else None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    return x


def make_record(*, run_id: str, seq: int, started_at: str, model: dict, backend: dict,
                device: dict, task: dict, params: dict, env: dict,
                measurements: list[Measurement] | None = None,
                error: dict | None = None, details: dict | None = None) -> dict:
    extra = {"details": details} if details else {}
    return _clean({
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION,
        "run_id": run_id, "seq": seq,
        "status": "failed" if error else "ok",
        "started_at": started_at, "finished_at": now_iso(),
        "model": model, "backend": backend, "device": device, "task": task,
        "params": params, "env": env,
        "measurements": [m.to_dict() for m in measurements or []],
        "error": error, **extra,
    })


# ------------------------------------------------------------------ reading
def _schema() -> dict:
    from importlib.resources import files

    return json.loads(files("harness.schemas").joinpath("run-record.schema.json").read_text())


def migrate(data: dict, path: Path) -> dict:
    """Bring an older record up to SCHEMA_VERSION (version 1 is the first)."""
    version = data.get("schema_version")
    if version == SCHEMA_VERSION:
        return data
    raise DataError(f"unsupported schema_version {version!r} (this harness reads "
                    f"{SCHEMA_VERSION})", path=path)


def read_json_bounded(path: Path, max_bytes: int = MAX_RECORD_BYTES):
    """Parse a JSON file written by someone else: size-bounded, UTF-8, one-line errors."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise DataError(f"file is {size} bytes, more than the {max_bytes} allowed", path=path)
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise DataError(f"cannot read: {e.strerror}", path=path) from None
    except json.JSONDecodeError as e:
        raise DataError(f"not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})",
                        path=path) from None
    except UnicodeDecodeError:
        raise DataError("not UTF-8 text", path=path) from None


def validate_json(data, schema: dict, path: Path, what: str) -> None:
    """jsonschema validation whose failure is a DataError naming the file and the field."""
    import jsonschema

    try:
        jsonschema.validate(data, schema)
    except jsonschema.ValidationError as e:
        where = "/".join(str(p) for p in e.absolute_path) or "top level"
        raise DataError(f"invalid {what} at {where}: {e.message}", path=path) from None


def read_record(path: Path) -> dict:
    """Read and validate one record; any problem is a DataError naming the file."""
    path = Path(path)
    data = read_json_bounded(path)
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise DataError(f"not a {SCHEMA} file", path=path)
    data = migrate(data, path)
    validate_json(data, _schema(), path, "record")
    return data


def record_files(paths: list[str | Path]) -> list[Path]:
    """Expand files and folders (recursively, *.json) into record paths, sorted."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*.json")
                              if q.name != "run.json" and not q.name.startswith(".")))
        elif p.exists():
            out.append(p)
        else:
            raise DataError("no such file or folder", path=p)
    return out
