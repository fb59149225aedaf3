"""Harness records in pytest-benchmark's terms: seconds per unit of work, lower is better.

pytest-benchmark stores one kind of number, a duration in seconds where lower is better,
so a timed metric becomes seconds per unit of work:
- a rate whose unit ends in "/s" and higher is better (decode_tps, prefill_tps):
  1 / x, seconds per token (pytest-benchmark's "OPS" column is then tokens/s again);
- a latency in ms or s where lower is better (ttft_ms, itl_ms, e2e_ms, load_s): x in s.
Other metrics (memory, accuracy) are not durations and are not exported as benchmarks;
every metric's median goes into extra_info instead.

document() writes pytest-benchmark's JSON file format (machine_info, commit_info,
benchmarks[] with stats and raw data, datetime, version): one benchmark per timed metric
of each successful record, named `<metric>[p128-g64-t2]` in the group
`<model> / <backend> / <device> / <task>`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from harness import metrics
from harness.errors import BenchError
from harness.records import SHORT_PARAMS, Measurement, Record

def as_seconds(measurement: Measurement) -> list[float] | None:
    """Samples as seconds per unit of work, or None when the metric is not timed."""
    name = measurement.metric
    unit = metrics.unit(name, measurement.unit)
    higher = metrics.direction(name, measurement.higher_is_better)
    xs = [float(x) for x in measurement.samples if x is not None and not math.isnan(x)]
    if unit.endswith("/s") and higher:
        return [1.0 / x for x in xs if x > 0]
    if unit in metrics.SECONDS_PER_UNIT and not higher:
        return [x * metrics.SECONDS_PER_UNIT[unit] for x in xs]
    return None


def param_id(params: Mapping) -> str:
    """p128-g64-t2: the speed params prompt_tokens, gen_tokens and threads."""
    return "-".join(f"{SHORT_PARAMS[k]}{v}" for k, v in params.items() if k in SHORT_PARAMS)


def medians(record: Record) -> dict[str, float | None]:
    """Every metric's median (from the record's stored summaries)."""
    return {name: record.stat(name, "median") for name in record.metrics()}


def _stats(seconds: list[float]) -> dict:
    from pytest_benchmark.stats import Stats

    stats = Stats()
    for s in seconds:
        stats.update(s)
    return {**stats.as_dict(), "data": seconds, "iterations": 1}


def entry(record: Record, measurement: Measurement, seconds: list[float]) -> dict:
    group = " / ".join([record.model_id, record.backend, record.device, record.task_name])
    param = param_id(record.params)
    name = f"{measurement.metric}[{param}]"
    params = record.to_dict()["params"]
    return {"group": group, "name": name,
            "fullname": f"sllm-bench/{group.replace(' / ', '/')}::{name}",
            "params": params, "param": param,
            "extra_info": {"metric": measurement.metric, "unit": measurement.unit,
                           "exported_as": "seconds per unit of work",
                           "model_sha256": record.model["sha256"],
                           "run_id": record.run_id, "medians": medians(record)},
            "options": {"timer": "sllm-bench", "min_rounds": len(seconds), "warmup":
                        params.get("warmup"), "disable_gc": False,
                        "min_time": None, "max_time": None},
            "stats": _stats(seconds)}


def machine_info(env: Mapping) -> dict:
    host, rt = env["host"], dict(env["runtimes"])
    return {"node": host.get("hostname_sha256"), "processor": host["cpu_model"],
            "machine": host.get("machine"), "python_implementation": "CPython",
            "python_version": rt.get("python"), "release": host.get("os_release"),
            "system": host["os"], "cpu": {"brand_raw": host["cpu_model"],
                                          "count": host["cores_logical"],
                                          "flags": list(host.get("cpu_features", []))},
            "sllm_bench_host_id": host["id"], "runtimes": rt}


def commit_info(env: Mapping) -> dict:
    commit = env.get("git_commit") or "unknown"
    return {"id": commit.removesuffix("+dirty"), "time": None, "author_time": None,
            "dirty": commit.endswith("+dirty"), "project": "sllm-bench", "branch": None}


def document(records: list[Record]) -> dict:
    """pytest-benchmark's JSON document for these records (module docstring)."""
    try:
        from pytest_benchmark import __version__
    except ImportError:
        raise BenchError("export-pytest-benchmark needs pytest-benchmark: pip install "
                         "'sllm-bench[test]'") from None
    from harness.records import now_iso

    benchmarks = []
    for rec in records:
        if not rec.ok:
            continue
        for name in rec.metrics():
            m = rec.metric(name)
            seconds = as_seconds(m)
            if seconds:
                benchmarks.append(entry(rec, m, seconds))
    env = records[0].env
    return {"machine_info": machine_info(env), "commit_info": commit_info(env),
            "benchmarks": benchmarks, "datetime": now_iso(), "version": __version__}
