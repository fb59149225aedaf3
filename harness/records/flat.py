"""One flat row per record: the columns machines read (csv, jsonl, json, leaderboard).

The metric columns come from the metric registry (harness.metrics: an entry's `flat`
group, `stat` and `sd_column`), in its order: numbers are medians (speed, memory), means
with standard errors (accuracies: means of 0/1 samples, with `<name>_se` where `se_column`) or the single value
(perplexities); *_sd columns hold sample standard deviations. `conditions` is the
record's measurement conditions (ok, contended, throttled, on_battery, or "not
recorded").
"""

from __future__ import annotations

from harness import metrics
from harness.records.record import Record

KEYS = ["model", "backend", "device", "threads", "task", "prompt_tokens", "gen_tokens",
        "status"]


def _metric_columns(group: str) -> list[tuple[str, str, str]]:
    """(column, metric, statistic) of the registered metrics of one flat group."""
    out = []
    for m in metrics.flat_metrics(group):
        out.append((m.name, m.of, m.stat))
        if m.se_column:
            out.append((f"{m.name}_se", m.of, "sem"))
    return out


def _spread_columns() -> list[str]:
    return [m.name for m in metrics.flat_metrics("speed") if m.sd_column]


def columns() -> list[str]:
    """The flat row's columns, in order (registered metrics included)."""
    return (KEYS + [c for c, _, _ in _metric_columns("speed")]
            + [f"{c}_sd" for c in _spread_columns()]
            + [c for c, _, _ in _metric_columns("quality")] + ["conditions", "error"])


def flat_row(record: Record) -> dict:
    """One record -> a flat dict of columns() (see the module docstring)."""
    p = record.params
    worker = p.get("worker")  # one of several worker processes of one check
    row = {"model": record.model_id, "backend": record.backend, "device": record.device,
           "threads": p.get("threads"),
           "task": record.task_name + (f"-w{worker}" if worker else ""),
           "prompt_tokens": p.get("prompt_tokens"), "gen_tokens": p.get("gen_tokens"),
           "status": record.status}
    for col, metric, stat in _metric_columns("speed") + _metric_columns("quality"):
        row[col] = record.stat(metric, stat)
    for col in _spread_columns():
        row[f"{col}_sd"] = record.stat(col, "stdev")
    row["conditions"] = record.conditions_state
    err = record.error
    row["error"] = f"{err['kind']}: {err['message']}" if err else None
    return row
