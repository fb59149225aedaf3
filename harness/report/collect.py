"""Read the report's inputs and sort them into sections.

Inputs are files or folders; folders are searched recursively (records.record_files).
verdict.json and verdict-<backend>.json files are verdicts (records.read_verdict), every
other *.json except run.json is a run record (records.read_record). The first bad file
raises DataError naming it: a report is never built from part of its inputs.

Successful records go to the section of their Record.kind (speed, quality, parity,
determinism, soak); failed records (status "failed") are kept apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import DataError
from harness.precision import AS_SUPPLIED
from harness.records import Record, options_text


@dataclass
class Inputs:
    """Every validated input, by kind; each list is in a stable order."""

    files: list[Path] = field(default_factory=list)
    speed: list[Record] = field(default_factory=list)
    quality: list[Record] = field(default_factory=list)
    parity: list[Record] = field(default_factory=list)
    determinism: list[Record] = field(default_factory=list)
    soak: list[Record] = field(default_factory=list)
    failed: list[Record] = field(default_factory=list)
    verdicts: list[dict] = field(default_factory=list)

    @property
    def records(self) -> list[Record]:
        return (self.speed + self.quality + self.parity + self.determinism + self.soak
                + self.failed)


def read_inputs(paths: list[str | Path]) -> Inputs:
    """Validate every file under `paths` and sort the contents (see the module docstring)."""
    from harness.records import is_verdict_file, read_record, read_verdict, record_files

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
        getattr(inputs, rec.kind if rec.ok else "failed").append(rec)
    if not inputs.records and not inputs.verdicts:
        raise DataError("no run record or verdict found", path=", ".join(map(str, paths)))
    for name in ("speed", "quality", "parity", "determinism", "soak", "failed"):
        getattr(inputs, name).sort(key=order_key)
    inputs.verdicts.sort(key=lambda v: (v["device"]["name"], v["model"]["id"], v["backend"],
                                        v["created_at"]))
    return inputs


# ------------------------------------------------------------------ keys and labels
def backend_label(record: Record) -> str:
    """The backend's name, with the ONNX precision when it ran an ONNX artifact and the
    backend settings the run set (flash_attn=off)."""
    tail = " " + text if (text := options_text(record.params.get("backend_options"))) else ""
    art = record.model.get("artifact")
    onnx = isinstance(art, Mapping) and art.get("kind") == "onnx"
    prec = art.get("precision") if onnx else None
    if isinstance(prec, str) and prec != AS_SUPPLIED:
        return f"{record.backend} ({prec}){tail}"
    return record.backend + tail


def order_key(record: Record) -> tuple:
    """Model, backend, device, task, determinism worker, threads, prompt and generated
    tokens, then run and seq."""
    p = record.params
    return (record.model_id, backend_label(record), record.device, record.task_name,
            _num(p.get("worker")), _num(p.get("threads")), _num(p.get("prompt_tokens")),
            _num(p.get("gen_tokens")), record.run_id, record.seq)


def _num(v) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else -1.0
