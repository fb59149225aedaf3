"""Run records: one self-contained JSON document per measured item, and a read-only view.

A record holds the model (id, sha256, size, artifact), backend, device profile, task,
parameters, environment (harness version and commit, runtime versions, host
fingerprint), every measurement's raw samples with a summary derived from them, and an
error when the run failed. Its `kind` says what it measured, written by the scenario
that made it: speed, quality, determinism, soak or parity. The layout is
harness/schemas/run-record.schema.json; older versions are migrated when read.

Consumers read records through `Record`, never by re-deriving meaning from task names.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from types import MappingProxyType
from typing import Any

from harness.errors import DataError
from harness.records.measurement import Measurement

SCHEMA = "sllm-bench/run-record"
SCHEMA_VERSION = 2
KINDS = ("speed", "quality", "determinism", "soak", "parity")
QUALITY_TASK_KINDS = ("multiple_choice", "perplexity", "exact_match")
#: params that are plumbing, not settings: not shown in labels
HIDDEN_PARAMS = frozenset({"n_ctx", "warmup", "repetitions"})
SHORT_PARAMS = {"prompt_tokens": "p", "gen_tokens": "g", "threads": "t"}


def options_text(options: Any) -> str:
    """--set settings (params "backend_options") as "flash_attn=off n_batch=512", or ""."""
    return " ".join(f"{k}={v}" for k, v in options.items()) if isinstance(options, Mapping) else ""


def shown_param(name: str, value: Any) -> bool:
    """Params worth showing in a label: settings, not plumbing (HIDDEN_PARAMS), unset or
    measured (nested) values."""
    return (name not in HIDDEN_PARAMS and value is not None
            and not isinstance(value, (Mapping, tuple, list)))


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def new_run_id() -> str:
    """Sortable and unique across processes: UTC time, pid and random bits."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{os.getpid()}-{os.urandom(3).hex()}"


def _clean(x: Any) -> Any:
    """Replace NaN/inf (not valid JSON) by None, recursively."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, Mapping):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    return x


def make_record(*, kind: str, run_id: str, seq: int, started_at: str, model: Mapping,
                backend: Mapping, device: Mapping, task: Mapping, params: Mapping,
                env: Mapping, measurements: Iterable[Measurement] | None = None,
                error: Mapping | None = None, details: Mapping | None = None,
                conditions: Mapping | None = None) -> Record:
    """A new record (status "failed" when `error` is given), as a Record."""
    if kind not in KINDS:
        raise ValueError(f"unknown record kind {kind!r} (known: {', '.join(KINDS)})")
    extra = {"details": details} if details else {}
    if conditions is not None:
        extra["conditions"] = conditions
    return Record(_clean({
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION, "kind": kind,
        "run_id": run_id, "seq": seq,
        "status": "failed" if error else "ok",
        "started_at": started_at, "finished_at": now_iso(),
        "model": model, "backend": backend, "device": device, "task": task,
        "params": params, "env": env,
        "measurements": [m.to_dict() for m in measurements or []],
        "error": error, **extra,
    }))


class FrozenList(tuple):
    """A read-only list: a tuple that also compares equal to a list of the same items."""

    __slots__ = ()

    def __eq__(self, other):
        return tuple.__eq__(self, tuple(other) if isinstance(other, list) else other)

    def __ne__(self, other):
        return not self == other

    __hash__ = tuple.__hash__


def _freeze(x: Any) -> Any:
    if isinstance(x, Mapping):
        return MappingProxyType({k: _freeze(v) for k, v in x.items()})
    if isinstance(x, (list, tuple)):
        return FrozenList(_freeze(v) for v in x)
    return x


def _thaw(x: Any) -> Any:
    if isinstance(x, Mapping):
        return {k: _thaw(v) for k, v in x.items()}
    if isinstance(x, tuple):
        return [_thaw(v) for v in x]
    return x


class Record(Mapping):
    """A read-only view of one run record.

    It is a Mapping over the stored document (record["params"], ...), every nested part
    read-only too, with the questions consumers ask as properties and methods: kind,
    status, model, backend (name), device (name), task, params, metric(name),
    samples(name), stat(name, which), key(ignore=...), label(), when().
    """

    __slots__ = ("_data", "path", "_metrics", "_measured")

    def __init__(self, data: Mapping, path: Path | None = None):
        self._data = _freeze(data)
        self.path = path
        self._metrics = {m["metric"]: m for m in self._data.get("measurements", ())}
        self._measured: dict[str, Measurement] = {}

    # Mapping
    def __getitem__(self, key: str):
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"Record({self.label()!r}, status={self.status!r})"

    def to_dict(self) -> dict:
        """A plain, mutable deep copy (what is written to the record file)."""
        return _thaw(self._data)

    # identity
    @property
    def kind(self) -> str:
        return self._data["kind"]

    @property
    def status(self) -> str:
        return self._data["status"]

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def run_id(self) -> str:
        return self._data["run_id"]

    @property
    def seq(self) -> int:
        return self._data["seq"]

    @property
    def model(self) -> Mapping:
        return self._data["model"]

    @property
    def model_id(self) -> str:
        return self._data["model"]["id"]

    @property
    def backend(self) -> str:
        return self._data["backend"]["name"]

    @property
    def device(self) -> str:
        return self._data["device"]["name"]

    @property
    def task(self) -> Mapping:
        return self._data["task"]

    @property
    def task_name(self) -> str:
        return self._data["task"]["name"]

    @property
    def params(self) -> Mapping:
        return self._data["params"]

    @property
    def env(self) -> Mapping:
        return self._data["env"]

    @property
    def error(self) -> Mapping | None:
        return self._data.get("error")

    @property
    def details(self) -> Mapping:
        d = self._data.get("details")
        return d if isinstance(d, Mapping) else MappingProxyType({})

    @property
    def precision(self) -> str | None:
        """The ONNX precision of the artifact the backend ran, if any."""
        art = self._data["model"].get("artifact")
        p = art.get("precision") if isinstance(art, Mapping) else None
        return None if p is None else str(p)

    @property
    def conditions(self) -> Mapping | None:
        """The measurement conditions sampled while the record was taken (None in records
        written before they were recorded)."""
        c = self._data.get("conditions")
        return c if isinstance(c, Mapping) else None

    @property
    def conditions_state(self) -> str:
        """ok | contended | throttled | on_battery, or "not recorded"."""
        c = self.conditions
        return str(c["state"]) if c is not None else "not recorded"

    # measurements
    def metric(self, name: str) -> Measurement | None:
        """One metric's samples; its statistics are computed from them, never read."""
        if name not in self._measured:
            m = self._metrics.get(name)
            if m is None:
                return None
            self._measured[name] = Measurement.from_dict(m)
        return self._measured[name]

    def metrics(self) -> list[str]:
        return list(self._metrics)

    def samples(self, name: str) -> tuple[float, ...]:
        """The raw samples of one metric (numbers only; empty when absent)."""
        m = self._metrics.get(name)
        return tuple(float(s) for s in (m or {}).get("samples", ())
                     if isinstance(s, (int, float)) and not isinstance(s, bool))

    def stat(self, name: str, which: str = "median") -> float | None:
        """A summary statistic of one metric, or None when absent or not a number."""
        m = self.metric(name)
        return None if m is None else m.stat(which)

    # keys and labels
    def key(self, ignore: Iterable[str] = ()) -> tuple:
        """What makes two records measure the same thing: model, backend (and the ONNX
        precision it ran: another recipe is another model), device, task and every param
        not in `ignore`."""
        skip = set(ignore)
        params = tuple(sorted((k, json.dumps(_thaw(v), sort_keys=True))
                              for k, v in self.params.items() if k not in skip))
        backend = self.backend + (f"@{self.precision}" if self.precision else "")
        return (self.model_id, backend, self.device, self.task_name, params)

    def label(self, other: Record | None = None) -> str:
        """model · backend · device · task · p128 g64 t2 flash_attn=off (t2→1 where `other`
        differs; backend_options, the --set settings, as name=value)."""
        parts = []
        for k, v in self.params.items():
            if k == "backend_options" and (text := options_text(v)):
                parts.append(text)
            if not shown_param(k, v):
                continue
            name = SHORT_PARAMS.get(k, f"{k}=")
            old = other.params.get(k, v) if other is not None else v
            parts.append(f"{name}{old}→{v}" if old != v else f"{name}{v}")
        return " · ".join([self.model_id, self.backend, self.device, self.task_name,
                           " ".join(parts)])

    def when(self) -> tuple:
        """Sort key for "latest": finished_at as a UTC instant (unparseable: earliest),
        then run_id, then seq."""
        try:
            t = datetime.fromisoformat(str(self._data.get("finished_at")))
            stamp = (t if t.tzinfo else t.replace(tzinfo=timezone.utc)).timestamp()
        except ValueError:
            stamp = float("-inf")
        return stamp, self.run_id, self.seq


def latest(records: Iterable[Record], key) -> list[Record]:
    """One record per key(record): the latest by Record.when(); input order is kept."""
    records = list(records)
    best: dict = {}
    for r in records:
        k = key(r)
        if k not in best or r.when() >= best[k].when():
            best[k] = r
    return [r for r in records if best.get(key(r)) is r]
