"""Read the report's inputs and sort them into sections.

Inputs are files or folders; folders are searched recursively (results.record_files).
verdict.json and verdict-<backend>.json files are verdicts (validated against VERDICT_SCHEMA
below), every other *.json except run.json is a run record (validated by
results.read_record). The first bad file raises DataError naming it: a report is never
built from part of its inputs.

Records are classified by task: "speed"; "parity"; determinism and soak (reliability: the
task's kind, or a name such as "determinism-w1" for one worker of a two-worker check);
anything else with measurements is quality (multiple_choice, perplexity, exact_match,
...). Failed records (status "failed") are kept apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from harness.errors import DataError

RELIABILITY_TASKS = ("determinism", "soak")
_NUMS = {"type": ["number", "null", "array"], "items": {"type": ["number", "null"]}}
VERDICT_SCHEMA = {
    "type": "object",
    "required": ["schema", "schema_version", "run_id", "created_at", "device", "model",
                 "backend", "verdict", "budgets"],
    "properties": {
        "schema": {"const": "sllm-bench/verdict"}, "schema_version": {"const": 1},
        "run_id": {"type": "string", "maxLength": 128}, "created_at": {"type": "string"},
        "device": {"type": "object", "required": ["name"],
                   "properties": {"name": {"type": "string"}}},
        "model": {"type": "object", "required": ["id"],
                  "properties": {"id": {"type": "string"},
                                 "sha256": {"type": ["string", "null"]}}},
        "backend": {"type": "string"},
        "verdict": {"enum": ["pass", "fail", "incomplete"]},
        "budgets": {"type": "array", "items": {
            "type": "object", "required": ["metric", "status"],
            "properties": {"metric": {"type": "string"},
                           "status": {"enum": ["pass", "fail", "not_measured"]},
                           "max": _NUMS, "min": _NUMS, "measured": _NUMS, "bound": _NUMS,
                           "unit": {"type": ["string", "null"]},
                           "detail": {"type": ["string", "null"]}}}},
        "host_warnings": {"type": "array", "items": {"type": "string"}},
        "env": {"type": "object"},
    },
}


def read_verdict(path: Path) -> dict:
    """Read and validate one verdict file; any problem is a DataError naming the file."""
    from harness.results import read_json_bounded, validate_json

    data = read_json_bounded(path)
    validate_json(data, VERDICT_SCHEMA, path, "verdict")
    return data


@dataclass
class Inputs:
    """Every validated input, by kind; each list is in a stable order."""

    files: list[Path] = field(default_factory=list)
    speed: list[dict] = field(default_factory=list)
    quality: list[dict] = field(default_factory=list)
    parity: list[dict] = field(default_factory=list)
    determinism: list[dict] = field(default_factory=list)
    soak: list[dict] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)
    verdicts: list[dict] = field(default_factory=list)

    @property
    def records(self) -> list[dict]:
        return (self.speed + self.quality + self.parity + self.determinism + self.soak
                + self.failed)


def read_inputs(paths: list[str | Path]) -> Inputs:
    """Validate every file under `paths` and sort the contents (see the module docstring)."""
    from harness.results import read_record, record_files
    from harness.verdict import is_verdict_file

    seen: dict[Path, Path] = {}
    for p in paths:
        for f in record_files([p]):  # a missing path raises DataError naming it
            seen.setdefault(f.resolve(), f)
    inputs = Inputs(files=list(seen.values()))
    for f in inputs.files:
        if is_verdict_file(f):
            inputs.verdicts.append(read_verdict(f))
            continue
        rec = read_record(f)
        if rec["status"] != "ok":
            inputs.failed.append(rec)
        else:
            _bucket(inputs, rec).append(rec)
    if not inputs.records and not inputs.verdicts:
        raise DataError("no run record or verdict found", path=", ".join(map(str, paths)))
    for name in ("speed", "quality", "parity", "determinism", "soak", "failed"):
        getattr(inputs, name).sort(key=order_key)
    inputs.verdicts.sort(key=lambda v: (v["device"]["name"], v["model"]["id"], v["backend"],
                                        v["created_at"]))
    return inputs


def _bucket(inputs: Inputs, rec: dict) -> list[dict]:
    name, kind = rec["task"]["name"], rec["task"].get("kind")
    if name == "speed":
        return inputs.speed
    if name == "parity" or kind == "parity":
        return inputs.parity
    for k in RELIABILITY_TASKS:
        if kind == k or name == k or name.startswith(k + "-"):
            return getattr(inputs, k)
    return inputs.quality


# ------------------------------------------------------------------ keys and labels
def when(record: dict) -> float:
    """finished_at as a UTC timestamp (unparseable -> -inf), for "latest wins"."""
    try:
        t = datetime.fromisoformat(str(record.get("finished_at")))
    except ValueError:
        return float("-inf")
    return (t if t.tzinfo else t.replace(tzinfo=timezone.utc)).timestamp()


def backend_label(record: dict) -> str:
    """The backend's name, with the ONNX precision when it ran an ONNX artifact."""
    name = record["backend"]["name"]
    art = record["model"].get("artifact") or {}
    prec = art.get("precision") if isinstance(art, dict) else None
    if art.get("kind") == "onnx" and isinstance(prec, str) and prec != "as supplied":
        return f"{name} ({prec})"
    return name


def order_key(record: dict) -> tuple:
    p = record["params"]
    return (record["model"]["id"], backend_label(record), record["device"]["name"],
            record["task"]["name"], _num(p.get("threads")), _num(p.get("prompt_tokens")),
            _num(p.get("gen_tokens")), record["run_id"], record["seq"])


def _num(v) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else -1.0


def latest(records: list[dict], key) -> list[dict]:
    """One record per key(record): the latest by finished_at, then run_id, then seq."""
    best: dict = {}
    for r in records:
        k = key(r)
        if k not in best or (when(r), r["run_id"], r["seq"]) >= (
                when(best[k]), best[k]["run_id"], best[k]["seq"]):
            best[k] = r
    return [r for r in records if best.get(key(r)) is r]


def metrics(record: dict) -> dict[str, dict]:
    """metric name -> measurement dict (metric, unit, samples, summary, ...)."""
    return {m["metric"]: m for m in record["measurements"]}


def stat(record: dict, metric: str, name: str = "median"):
    """A summary statistic of one metric, or None when absent or not a number."""
    m = metrics(record).get(metric)
    v = (m or {}).get("summary", {}).get(name)
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def samples(record: dict, metric: str) -> list[float]:
    m = metrics(record).get(metric)
    return [float(s) for s in (m or {}).get("samples", []) if isinstance(s, (int, float))]
