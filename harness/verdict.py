"""PoC verdict: a device profile's budgets checked against measured records.

For each budget the measured value and a one-sided 95% confidence bound on the
unfavourable side are found (a "max" budget is checked against an upper bound, a "min"
budget against a lower one; a budget with both gets both, each one-sided 95%), and the
budget PASSes only when that bound meets it: a pass means "meets the budget with 95%
confidence", not "the median happened to meet it". Every budget in verdict.json carries
the `method` of its value and bound and its `level` (0.95, or null for a single reading).
The statistics are in harness.measure.bounds and harness.measure.soak:

  ttft_ms, prefill_tps, decode_tps    median over repetitions; order-statistic (binomial)
                                      bound (5+ repetitions, else NOT MEASURED); it covers
                                      the run's pooled repetitions, warm-up drift included
  load_s                              one reading per worker: single reading, no bound
  itl_p50_ms, itl_p90_ms, itl_p99_ms  percentile of the pooled gaps; Woodruff's bound on a
                                      Clopper-Pearson bound with the effective size of
                                      the gaps from the variance between repetitions
                                      (29+ repetitions, so that a slow mode in 1 of 10 is
                                      seen, else NOT MEASURED)
  peak_rss_mb                         the largest peak over every worker of the model and
                                      backend: single readings, no bound
  acc, acc_norm                       share of correct items; exact Clopper-Pearson bound
                                      (a budget's `limit`: judged on that many items;
                                      fewer is NOT MEASURED)
  perplexity                          token perplexity exp(sum nll / sum tokens); bound
                                      from the ratio estimator's SE over documents (10+),
                                      else over batches of consecutive windows sized for
                                      their autocorrelation (too correlated, or 2-9
                                      documents: NOT MEASURED)
  determinism                         1 if every prompt repeated exactly within and across
                                      two worker processes, else 0: single reading
  rss_slope_mb_per_min                Theil-Sen slope of the soak's RSS with Sen's bound
                                      widened for autocorrelated readings (effective
                                      sample size; too few: NOT MEASURED); a sawtooth is
                                      judged by its cycle peaks (exact Kendall bound); a
                                      soak too short for the budget is NOT MEASURED with
                                      the length it needs (docs/soak.md)
  sustained_ratio                     the soak's last-minute over first-minute median
                                      decode speed: single reading, no bound

Measurement conditions (harness.measure.conditions): a timed budget (the speed metrics,
load_s, sustained_ratio) whose record was taken while the machine was contended,
throttled or on battery is "not_valid": neither pass nor fail, with the evidence and the
advice to re-run, and the verdict is then "incomplete". Quality, memory and determinism
budgets do not depend on time and are never invalidated by conditions.

A single reading is decided on its value ("single reading, no bound"). A budget with no
matching record, or whose bound cannot be given (the detail says why), is
"not_measured": neither pass nor fail, and the verdict is then "incomplete" (as with
"not_valid"). The verdict
is "fail" if any budget fails, "pass" only if every budget passes.
"""

from __future__ import annotations

from pathlib import Path

from harness import metrics, numbers
from harness.markdown import table
from harness.measure import bounds, windows
from harness.measure.bounds import Bound
from harness.measure.soak import slope_bound
from harness.records import Record, now_iso, verdicts
from harness.records.placement import placement
from harness.specs import Budget, DeviceProfile

SCHEMA = "sllm-bench/verdict"
BOUND_HEADER = f"one-sided {bounds.LEVEL:.0%} bound"
#: the budgets judged on a speed record: the metric they read and its percentile
SPEED = {m.name: (m.of, int(m.stat[1:]) if m.stat.startswith("p") else None)
         for m in metrics.all_metrics() if m.flat == "speed" and m.timed}
TIMED = {m.name for m in metrics.all_metrics() if m.timed}
RERUN = "re-run on a quiet machine, on mains power (--wait-idle waits for quiet)"


def _sides(b: Budget) -> list[str]:
    return (["lower"] if b.min is not None else []) + (["upper"] if b.max is not None else [])


def timed_record(records, b: Budget, device: DeviceProfile) -> Record | None:
    """The record a timed budget is judged on (its conditions decide if it is valid)."""
    if b.metric == "sustained_ratio":
        return next((r for r in records if r.kind == "soak" and r.samples(b.metric)), None)
    metric = SPEED[b.metric][0]
    threads = device.resolve_threads()
    return next((r for r in records if r.kind == "speed"
                 and (b.prompt_tokens is None or r.params["prompt_tokens"] == b.prompt_tokens)
                 and (b.gen_tokens is None or r.params["gen_tokens"] == b.gen_tokens)
                 and r.params["threads"] == threads and r.samples(metric)), None)


def _speed_bound(records, b: Budget, device: DeviceProfile, side: str) -> Bound | None:
    metric, pct = SPEED[b.metric]
    r = timed_record(records, b, device)
    if r is None:
        return None
    if pct is None:
        return bounds.median_bound(r.samples(metric), side)
    reps = bounds.split_repetitions(r.samples(metric), r.params.get("repetitions"),
                                    r.params.get("gen_tokens"), r.samples("gen_tokens_out"))
    if reps is None:
        return Bound(bounds.percentile_bound([r.samples(metric)], pct, side).value, None,
                     f"p{pct} of pooled gaps", bounds.LEVEL, 0, side,
                     "the repetitions cannot be recovered from the pooled gaps")
    return bounds.percentile_bound(reps, pct, side)


def _bound(records, b: Budget, device: DeviceProfile, side: str) -> Bound | None:
    """The value and its one-sided bound on `side`, or None when nothing measured it."""
    if b.metric in SPEED:
        return _speed_bound(records, b, device, side)
    if b.metric == "peak_rss_mb":
        peaks = [r.samples("peak_rss_mb")[0] for r in records if r.samples("peak_rss_mb")]
        if not peaks:
            return None
        return bounds.single(max(peaks), f"largest of {len(peaks)} worker peaks, each a "
                             f"{bounds.SINGLE}", len(peaks))
    if b.metric in ("acc", "acc_norm", "perplexity"):
        for r in records:
            if r.kind != "quality" or r.task_name != b.task:
                continue
            items = r.task.get("n_items")
            if b.limit is not None and isinstance(items, int) and items < b.limit:
                return Bound(None, None, "share of correct items", None, 0, side,
                             f"the floor is judged on {b.limit} items; this record scored "
                             f"{items} (a --limit below the budget's)")
            if b.metric == "perplexity":
                found = windows.perplexity_bound(r.samples("window_nll"),
                                                r.samples("window_tokens"), side,
                                                documents=r.samples("window_document")
                                                or None)
                if found is None and r.samples("token_perplexity"):
                    found = bounds.single(r.samples("token_perplexity")[0],
                                          f"token perplexity, {bounds.SINGLE}")
            elif r.samples(b.metric):
                found = bounds.accuracy_bound(r.samples(b.metric), side)
            else:
                found = None
            if found is not None:
                return found
        return None
    if b.metric == "determinism":
        r = next((r for r in records if r.kind == "determinism" and "worker" not in r.params),
                 None)
        if r is None:
            return None
        return bounds.single(min(r.samples("determinism") or [0.0]),
                             f"1 = identical within and across two processes; "
                             f"{bounds.SINGLE}")
    if b.metric == "sustained_ratio":
        r = timed_record(records, b, device)
        return None if r is None else bounds.single(
            r.samples(b.metric)[0], f"last over first minute of the soak, {bounds.SINGLE}")
    if b.metric == "rss_slope_mb_per_min":
        for r in records:
            if r.kind != "soak":
                continue
            if r.samples("soak_t_s") and r.samples("soak_rss_mb"):
                return slope_bound(r.samples("soak_t_s"), r.samples("soak_rss_mb"),
                                   b.max, r.params.get("duration_s"))
            if r.samples(b.metric):
                return bounds.single(r.samples(b.metric)[0], f"recorded slope, "
                                     f"{bounds.SINGLE}")
    return None


def check_budget(records: list[Record], b: Budget, device: DeviceProfile) -> dict:
    """One budget's row of the verdict (module docstring): a timed budget whose record was
    taken under conditions other than ok is not_valid, whatever its bound would say."""
    out = _judge(records, b, device)
    timed = timed_record(records, b, device) if b.metric in TIMED else None
    if timed is None:
        return out
    out["conditions"] = timed.conditions_state
    if timed.conditions_state not in ("ok", "not recorded"):
        evidence = "; ".join(timed.conditions.get("evidence", ()))
        out.update(status="not_valid", detail=f"measured while {timed.conditions_state}: "
                   f"{evidence}; {RERUN}")
    elif timed.conditions_state == "not recorded":
        out["detail"] = "; ".join(filter(None, [out["detail"], "conditions not recorded"]))
    return out


def _judge(records: list[Record], b: Budget, device: DeviceProfile) -> dict:
    out = {"metric": b.metric, "max": b.max, "min": b.min, "prompt_tokens": b.prompt_tokens,
           "gen_tokens": b.gen_tokens, "task": b.task,
           "unit": metrics.entry(b.metric).shown_unit,
           "measured": None, "bound": None, "method": None, "level": None,
           "status": "not_measured", "detail": "", "conditions": None}
    found = {side: _bound(records, b, device, side) for side in _sides(b)}
    first = next(iter(found.values()), None)
    if first is None or first.value is None:
        out["detail"] = first.reason if first is not None else "no record measured this"
        if first is not None:
            out["method"] = first.method
        return out
    measured = first.value
    out.update(measured=measured, method=first.method, level=first.level)
    missing = [f for f in found.values() if f.level is not None and not f.bounded]
    if missing:
        out["detail"] = "; ".join(f.reason for f in missing)
        return out
    values = {side: (f.bound if f.bounded else f.value) for side, f in found.items()}
    ok = ((b.max is None or values["upper"] <= b.max)
          and (b.min is None or values["lower"] >= b.min))
    notes = [n for f in found.values() for n in f.notes]
    if first.bounded:
        out["bound"] = (list(values.values()) if len(values) == 2
                        else next(iter(values.values())))
    out.update(status="pass" if ok else "fail", detail="; ".join(notes))
    if not ok and first.bounded and ((b.max is None or measured <= b.max)
                                     and (b.min is None or measured >= b.min)):
        out["detail"] = "; ".join(notes + ["the measured value meets the budget but its "
                                           "bound does not"])
    return out


def verdict(records: list[Record], device: DeviceProfile, *, model: dict, backend: str,
            run_id: str, env: dict, host_warnings: list[str]) -> dict:
    """The verdict document for one model and backend on one device profile."""
    mine = [r for r in records if r.ok and r.model_id == model["id"] and r.backend == backend]
    budgets = [check_budget(mine, b, device) for b in device.budgets]
    overall = verdicts.overall([b["status"] for b in budgets])
    dev = device.model_dump(mode="json")
    return {"schema": SCHEMA, "schema_version": 1, "run_id": run_id, "created_at": now_iso(),
            "device": dev, "model": model, "backend": backend,
            "verdict": overall, "budgets": budgets, "host_warnings": host_warnings,
            "env": env, "measured_on": placement(dev, (env or {}).get("host") or {})}


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
    return numbers.fmt(v, "sig4")


def _how(b: dict) -> str:
    """The method, and why a budget is not measured or what to know about its bound."""
    parts = [p for p in (b.get("method"), b.get("detail")) if p]
    return "; ".join(parts) or "-"


def markdown_table(doc: dict) -> str:
    """The verdict as a Markdown table, with the overall verdict first."""
    lines = [f"**{doc['verdict'].upper()}**: {doc['model']['id']} / {doc['backend']} on "
             f"{doc['device']['name']}", ""]
    if doc.get("measured_on"):
        lines += [doc["measured_on"]["text"], ""]
    lines += [f"> warning: {w}" for w in doc["host_warnings"]]
    lines += table(["budget", "requirement", "measured", BOUND_HEADER, "result", "conditions",
                    "method"],
                   [[b["metric"], _requirement(b), _num(b["measured"]), _num(b["bound"]),
                     b["status"].replace("_", " ").upper(), b.get("conditions") or "-",
                     _how(b)]
                    for b in doc["budgets"]])
    return "\n".join(lines) + "\n"
