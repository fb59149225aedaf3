"""PoC verdict: a device profile's budgets checked against measured records.

For each budget the measured value and a 95% confidence bound on the unfavourable side
are found (a "max" budget is checked against the upper bound, a "min" budget against the
lower one), and the budget PASSes only when that bound meets it: a pass means "meets the
budget with 95% confidence", not "the median happened to meet it".

  ttft_ms, prefill_tps, decode_tps, load_s   median over repetitions; bound: bootstrap
                                             interval of the median (records' summary)
  itl_p50_ms, itl_p90_ms, itl_p99_ms         that percentile of the pooled gaps; bound:
                                             bootstrap interval of the percentile
  peak_rss_mb                                the largest peak over every worker of the
                                             model and backend (single reading, bound = value)
  acc, acc_norm                              task accuracy; bound: mean -/+ 1.96 x stderr
  perplexity                                 token perplexity of the task (bound = value)
  determinism                                1 if every prompt repeated exactly within and
                                             across two worker processes, else 0
  rss_slope_mb_per_min                       resident-memory slope of the soak run

A budget with no matching record is "not_measured": neither pass nor fail, and the
verdict is then "incomplete". The verdict is "fail" if any budget fails, "pass" only if
every budget passes.
"""

from __future__ import annotations

from pathlib import Path

from harness.markdown import table
from harness.records import Record, now_iso
from harness.specs import Budget, DeviceProfile

SCHEMA = "sllm-bench/verdict"
SPEED = {"ttft_ms": ("ttft_ms", None), "prefill_tps": ("prefill_tps", None),
         "decode_tps": ("decode_tps", None), "load_s": ("load_s", None),
         "itl_p50_ms": ("itl_ms", 50), "itl_p90_ms": ("itl_ms", 90),
         "itl_p99_ms": ("itl_ms", 99)}
UNITS = {"ttft_ms": "ms", "prefill_tps": "tokens/s", "decode_tps": "tokens/s", "load_s": "s",
         "itl_p50_ms": "ms", "itl_p90_ms": "ms", "itl_p99_ms": "ms", "peak_rss_mb": "MB",
         "acc": "", "acc_norm": "", "perplexity": "", "determinism": "",
         "rss_slope_mb_per_min": "MB/min"}


def _speed_value(records, b: Budget, device: DeviceProfile):
    metric, pct = SPEED[b.metric]
    threads = device.resolve_threads()
    cands = [r for r in records if r.kind == "speed"
             and (b.prompt_tokens is None or r.params["prompt_tokens"] == b.prompt_tokens)
             and (b.gen_tokens is None or r.params["gen_tokens"] == b.gen_tokens)
             and r.params["threads"] == threads and r.metric(metric)]
    if not cands:
        return None
    m = cands[0].metric(metric)
    if pct is None:
        s = m.summary
        return s["median"], (s["ci_low"], s["ci_high"]), "median, 95% bootstrap interval"
    from harness.measure.stats import bootstrap_ci, percentile

    import numpy as np

    xs = m.samples
    lo, hi = bootstrap_ci(xs, stat=lambda a: np.percentile(a, pct))
    return percentile(xs, pct), (lo, hi), f"p{pct} of {len(xs)} gaps, 95% bootstrap interval"


def _value(records, b: Budget, device: DeviceProfile):
    """(measured, (low, high), how) or None when nothing measured it."""
    if b.metric in SPEED:
        return _speed_value(records, b, device)
    if b.metric == "peak_rss_mb":
        peaks = [r.samples("peak_rss_mb")[0] for r in records if r.samples("peak_rss_mb")]
        if not peaks:
            return None
        return max(peaks), (max(peaks), max(peaks)), f"largest of {len(peaks)} worker peaks"
    if b.metric in ("acc", "acc_norm", "perplexity"):
        name = "token_perplexity" if b.metric == "perplexity" else b.metric
        for r in records:
            if r.kind == "quality" and r.task_name == b.task and (m := r.metric(name)):
                s = m.summary
                if b.metric == "perplexity":
                    return s["median"], (s["median"], s["median"]), "token perplexity"
                half = 1.96 * s["sem"]
                return s["mean"], (s["mean"] - half, s["mean"] + half), \
                    f"mean of {s['n']} items, +/- 1.96 stderr"
        return None
    if b.metric == "determinism":
        r = next((r for r in records if r.kind == "determinism" and "worker" not in r.params),
                 None)
        if r is None:
            return None
        v = min(r.samples("determinism") or [0.0])
        return v, (v, v), "1 = identical within and across two processes"
    if b.metric == "rss_slope_mb_per_min":
        for r in records:
            if r.kind == "soak" and r.samples(b.metric):
                v = r.samples(b.metric)[0]
                return v, (v, v), "least-squares slope over the soak run"
    return None


def check_budget(records: list[Record], b: Budget, device: DeviceProfile) -> dict:
    out = {"metric": b.metric, "max": b.max, "min": b.min, "prompt_tokens": b.prompt_tokens,
           "gen_tokens": b.gen_tokens, "task": b.task, "unit": UNITS[b.metric],
           "measured": None, "bound": None, "status": "not_measured", "detail": ""}
    found = _value(records, b, device)
    if found is None:
        out["detail"] = "no record measured this"
        return out
    measured, (lo, hi), how = found
    ok, bounds = True, []
    if b.max is not None:
        ok &= hi <= b.max
        bounds.append(hi)
    if b.min is not None:
        ok &= lo >= b.min
        bounds.append(lo)
    out.update(measured=measured, bound=bounds[0] if len(bounds) == 1 else [lo, hi],
               status="pass" if ok else "fail", detail=how)
    if not ok and ((b.max is None or measured <= b.max) and (b.min is None or measured >= b.min)):
        out["detail"] += "; the measured value meets the budget but its bound does not"
    return out


def verdict(records: list[Record], device: DeviceProfile, *, model: dict, backend: str,
            run_id: str, env: dict, host_warnings: list[str]) -> dict:
    """The verdict document for one model and backend on one device profile."""
    mine = [r for r in records if r.ok and r.model_id == model["id"] and r.backend == backend]
    budgets = [check_budget(mine, b, device) for b in device.budgets]
    states = {b["status"] for b in budgets}
    overall = "fail" if "fail" in states else "incomplete" if "not_measured" in states \
        or not budgets else "pass"
    return {"schema": SCHEMA, "schema_version": 1, "run_id": run_id, "created_at": now_iso(),
            "device": device.model_dump(mode="json"), "model": model, "backend": backend,
            "verdict": overall, "budgets": budgets, "host_warnings": host_warnings,
            "env": env}


def _requirement(b: dict) -> str:
    parts = []
    if b["max"] is not None:
        parts.append(f"<= {b['max']:g}")
    if b["min"] is not None:
        parts.append(f">= {b['min']:g}")
    at = f" @ prompt {b['prompt_tokens']}" if b["prompt_tokens"] else ""
    at += f" on {b['task']}" if b["task"] else ""
    return " and ".join(parts) + (f" {b['unit']}" if b["unit"] else "") + at


def _num(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, list):
        return " .. ".join(_num(x) for x in v)
    return f"{v:.4g}"


def markdown_table(doc: dict) -> str:
    """The verdict as a Markdown table, with the overall verdict first."""
    lines = [f"**{doc['verdict'].upper()}**: {doc['model']['id']} / {doc['backend']} on "
             f"{doc['device']['name']}", ""]
    lines += [f"> warning: {w}" for w in doc["host_warnings"]]
    lines += table(["budget", "requirement", "measured", "95% bound", "result"],
                   [[b["metric"], _requirement(b), _num(b["measured"]), _num(b["bound"]),
                     b["status"].replace("_", " ").upper()] for b in doc["budgets"]])
    return "\n".join(lines) + "\n"
