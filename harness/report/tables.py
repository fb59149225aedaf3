"""Turn sorted inputs into the rows the HTML page and the Markdown summary both show.

Every cell is plain text (numbers already formatted); escaping is the renderer's job.
Speed rows use records.flat_row (medians, sample standard deviations, ITL percentiles).
Quality values are summary means (the accuracy for per-item 0/1 samples, the value itself
for a single perplexity sample) with the standard error of the mean when n > 1, as
lm-evaluation-harness reports them.
"""

from __future__ import annotations

from collections.abc import Mapping

from harness import metrics, numbers
from harness.records import Record, flat_row, latest
from harness.records.placement import placement
from harness.report.collect import Inputs, backend_label

STATUS_TEXT = {"pass": "PASS", "fail": "FAIL", "not_measured": "NOT MEASURED",
               "not_valid": "NOT VALID", "incomplete": "INCOMPLETE"}
PARITY_ORDER = ("ppl_diff_pct", "top1_agreement", "mean_kl")
SKIP_QUALITY = ("items_per_s",)


def fmt(v, digits: int | None = None) -> str:
    """A number for people (harness.metrics.fmt, auto style)."""
    return numbers.fmt(v, "auto", digits)


pm = numbers.pm


# ------------------------------------------------------------------ verdict
def requirement(b: dict) -> str:
    """A budget as a sentence fragment: '≤ 1000 ms at 128 prompt tokens'."""
    entry = metrics.get(b["metric"])
    unit = b.get("unit") or (entry.report_unit if entry else "")
    parts = []
    if b.get("min") is not None:
        parts.append(f"≥ {fmt(b['min'])}")
    if b.get("max") is not None:
        parts.append(f"≤ {fmt(b['max'])}")
    text = " and ".join(parts) or "-"
    if unit and parts:
        text += f" {unit}"
    where = []
    if b.get("prompt_tokens"):
        where.append(f"{b['prompt_tokens']} prompt tokens")
    if b.get("gen_tokens"):
        where.append(f"{b['gen_tokens']} generated")
    if b.get("task"):
        where.append(f"task {b['task']}")
    return text + (" at " + ", ".join(where) if where else "")


def verdict_view(inputs: Inputs) -> dict:
    items = []
    for v in inputs.verdicts:
        budgets = []
        for b in v.get("budgets", []):
            entry = metrics.get(b["metric"])
            name = entry.title if entry and entry.title else b["metric"]
            budgets.append({"metric": b["metric"], "name": name, "requirement": requirement(b),
                            "measured": fmt(b.get("measured")), "bound": fmt(b.get("bound")),
                            "status": b["status"], "status_text": STATUS_TEXT[b["status"]],
                            "detail": "; ".join(x for x in (b.get("method"), b.get("detail"))
                                                if x)})
        dev = v.get("device", {})
        # recomputed from the profile and the host the verdict names, not taken as claimed
        where = placement(dev, (v.get("env") or {}).get("host") or {})
        items.append({
            "measured_on": where["on"], "where": where["text"],
            "device": dev.get("name", "?"), "description": dev.get("description") or "",
            "model": v["model"]["id"], "sha256": v["model"].get("sha256") or "-",
            "backend": v["backend"], "run_id": v["run_id"], "created_at": v["created_at"],
            "verdict": v["verdict"], "verdict_text": STATUS_TEXT[v["verdict"]],
            "warnings": [str(w) for w in v.get("host_warnings") or []], "budgets": budgets,
            "counts": {s: sum(b["status"] == s for b in budgets)
                       for s in ("pass", "fail", "not_measured", "not_valid")}})
    states = {i["verdict"] for i in items}
    overall = ("fail" if "fail" in states else "incomplete" if "incomplete" in states
               else "pass" if states else None)
    warnings = [w for i in items for w in i["warnings"]] + host_notes(inputs)
    return {"verdicts": items, "overall": overall,
            "overall_text": STATUS_TEXT.get(overall, "NO VERDICT"),
            "warnings": list(dict.fromkeys(warnings))}


def host_notes(inputs: Inputs) -> list[str]:
    """How each device profile relates to the host it ran on (emulation, shortfalls)."""
    notes: list[str] = []
    pairs = {}
    for r in inputs.records:
        pairs.setdefault((r["device"]["name"], r["env"]["host"].get("id")), r)
    for (dev_name, _), r in sorted(pairs.items(), key=lambda kv: str(kv[0])):
        dev, host = r["device"], r["env"]["host"]
        cpus = dev.get("cpus") if isinstance(dev.get("cpus"), (list, tuple)) else None
        logical, allowed = host.get("cores_logical"), host.get("cores_allowed") or \
            host.get("cores_logical")
        cores = dev.get("cores")
        wanted = cores if isinstance(cores, int) else len(cores) if isinstance(
            cores, (list, tuple)) else None
        cpu = host.get("cpu_model") or "?"
        if wanted and isinstance(allowed, int) and wanted > allowed:
            notes.append(f"profile {dev_name} has {wanted} cores but the host ({cpu}) allowed "
                         f"only {allowed}: these results understate the target")
        elif cpus and isinstance(logical, int) and len(cpus) < logical:
            notes.append(f"profile {dev_name} emulated on a host with more cores: pinned to "
                         f"{len(cpus)} of {logical} logical cores ({cpu})")
        mem, host_mem = dev.get("memory_mb"), host.get("memory_bytes")
        if isinstance(mem, int) and isinstance(host_mem, int) and mem * 2**20 > host_mem:
            notes.append(f"profile {dev_name} has {mem} MB of memory, more than the host's "
                         f"{host_mem // 2**20} MB")
    return notes


# ------------------------------------------------------------------ speed, memory
def speed_rows(inputs: Inputs) -> list[dict]:
    rows = []
    for r in inputs.speed:
        f = flat_row(r)
        rows.append({
            "model": f["model"], "backend": backend_label(r), "device": f["device"],
            "threads": fmt(f["threads"]), "prompt": fmt(f["prompt_tokens"]),
            "gen": fmt(f["gen_tokens"]), "reps": fmt(r.stat("decode_tps", "n")),
            "ttft": pm(f["ttft_ms"], f["ttft_ms_sd"]),
            "prefill": pm(f["prefill_tps"], f["prefill_tps_sd"]),
            "decode": pm(f["decode_tps"], f["decode_tps_sd"]),
            "itl": " / ".join(fmt(f[k]) for k in ("itl_p50_ms", "itl_p90_ms", "itl_p99_ms")),
            "e2e": fmt(r.stat("e2e_ms")), "load": fmt(f["load_s"]),
            **conditions_cells(r)})
    return rows


def conditions_cells(r: Record) -> dict:
    """The record's conditions state and its evidence (empty when ok or not recorded)."""
    c = r.conditions or {}
    return {"conditions": r.conditions_state, "conditions_ok": r.conditions_state == "ok",
            "evidence": "; ".join(c.get("evidence", ()))}


def memory_rows(inputs: Inputs) -> list[dict]:
    """One row per model x backend x device: the worst peak RSS over its records (every
    worker that ran the model: speed, quality and reliability)."""
    groups: dict[tuple, list[Record]] = {}
    for r in inputs.speed + inputs.quality + inputs.determinism + inputs.soak:
        groups.setdefault((r.model_id, backend_label(r), r.device), []).append(r)
    rows = []
    for (model, backend, device), recs in groups.items():
        peaks = [v for v in (r.stat("peak_rss_mb", "max") for r in recs) if v is not None]
        if not peaks:
            continue
        after = [v for v in (r.stat("rss_after_load_mb") for r in recs) if v is not None]
        size = [v for v in (r.stat("model_size_mb") for r in recs) if v is not None]
        if not size:
            size = [r["model"]["size_bytes"] / 2**20 for r in recs
                    if isinstance(r["model"].get("size_bytes"), int)]
        load = [v for v in (r.stat("load_s") for r in recs) if v is not None]
        budget = recs[0]["device"].get("memory_budget_mb")
        rows.append({"model": model, "backend": backend, "device": device,
                     "peak": max(peaks), "after_load": max(after) if after else None,
                     "size": size[0] if size else None,
                     "load": sorted(load)[len(load) // 2] if load else None,
                     "budget": budget if isinstance(budget, (int, float)) else None,
                     "runs": len(recs)})
    for row in rows:
        row["text"] = {k: fmt(row[k]) for k in ("peak", "after_load", "size", "load", "budget")}
    return rows


# ------------------------------------------------------------------ quality, parity
def quality_rows(inputs: Inputs) -> list[dict]:
    recs = latest(inputs.quality, lambda r: (r.model_id, backend_label(r), r.device,
                                             r.task_name))
    rows = []
    for r in recs:
        t = r.task
        ips = r.stat("items_per_s")
        for name in r.metrics():
            if name in SKIP_QUALITY:
                continue
            m = r.metric(name)
            mean = m.stat("mean")
            n = m.stat("n") or 0
            sem = m.stat("sem") if n > 1 else None
            digits = 4 if sem is not None and abs(mean or 0) < 10 else None
            rows.append({"task": t["name"], "version": str(t.get("version", "")),
                         "kind": str(t.get("kind") or "-"), "model": r.model_id,
                         "backend": backend_label(r), "device": r.device,
                         "metric": name, "value": fmt(mean, digits),
                         "stderr": fmt(sem, digits) if sem is not None else "",
                         "direction": "higher is better"
                         if metrics.direction(name, m.higher_is_better) else "lower is better",
                         "n": fmt(n), "items_per_s": fmt(ips)})
    return rows


def parity_view(inputs: Inputs) -> dict:
    recs = latest(inputs.parity, lambda r: (r.model_id, r.backend, r.device, str(r.params)))
    names = [n for n in PARITY_ORDER if any(n in r.metrics() for r in recs)]
    names += sorted({m for r in recs for m in r.metrics()} - set(names))
    rows = []
    for r in recs:
        pair = r.backend.split("~")
        ms = r.metrics()
        rows.append({"model": r.model_id, "device": r.device,
                     "backends": " vs ".join(pair), "task": r.task_name,
                     "values": [fmt(r.stat(n, "mean")) if n in ms else "-" for n in names],
                     "details": _details(r.details)})
    return {"metrics": names, "rows": rows}


def _details(details: Mapping, limit: int = 6) -> str:
    parts = []
    for k, v in list(details.items())[:limit]:
        if isinstance(v, (Mapping, list, tuple)):
            v = f"{len(v)} item(s)"
        parts.append(f"{k}: {fmt(v) if isinstance(v, (int, float)) else v}")
    return "; ".join(parts)


# ------------------------------------------------------------------ reliability
def determinism_view(inputs: Inputs, max_mismatches: int = 20) -> dict:
    rows, mismatches = [], []
    for r in latest(inputs.determinism, lambda r: (r.model_id, backend_label(r), r.device,
                                                   r.task_name, r.params.get("worker"))):
        xs = r.samples("determinism")
        worker = r.params.get("worker")
        workers = r.details.get("workers")
        check = (f"within worker {worker}" if isinstance(worker, int) else
                 f"within and across {workers} worker processes" if workers else
                 "repeated generations")
        mm = [m for m in r.details.get("mismatches") or [] if isinstance(m, Mapping)]
        same = sum(1 for x in xs if x >= 1)
        rows.append({"model": r.model_id, "backend": backend_label(r),
                     "device": r.device, "check": check, "prompts": str(len(xs)),
                     "identical": str(same), "rate": fmt(same / len(xs) if xs else None, 3),
                     "ok": bool(xs) and same == len(xs), "mismatches": str(len(mm))})
        for m in mm[:max_mismatches]:
            mismatches.append({"backend": backend_label(r), "model": r.model_id,
                               **{k: fmt(m.get(k)) if isinstance(m.get(k), (int, float))
                                  else str(m.get(k, "-"))
                                  for k in ("prompt", "position", "expected", "got")}})
    return {"rows": rows, "mismatches": mismatches}


def soak_rows(inputs: Inputs) -> list[dict]:
    rows = []
    for r in latest(inputs.soak, lambda r: (r.model_id, backend_label(r), r.device)):
        t = r.samples("soak_t_s")
        errors = r.stat("soak_errors", "max")
        rows.append({"model": r.model_id, "backend": backend_label(r),
                     "device": r.device,
                     "duration": fmt(max(t) if t else r.params.get("duration_s")),
                     "decode": fmt(r.stat("soak_decode_tps")),
                     "rss": fmt(r.stat("soak_rss_mb", "max")),
                     "slope": fmt(r.stat("rss_slope_mb_per_min", "mean")),
                     "drift": fmt(r.stat("decode_drift_pct_per_min", "mean")),
                     "errors": fmt(errors if errors is not None else 0),
                     "ok": not errors, "sustained": fmt(r.stat("sustained_ratio")),
                     **conditions_cells(r)})
    return rows


def failed_rows(inputs: Inputs) -> list[dict]:
    rows = []
    for r in inputs.failed:
        p = r.params
        setting = ", ".join(f"{k} {p[k]}" for k in ("prompt_tokens", "gen_tokens", "threads")
                            if p.get(k) is not None)
        err = r.error or {}
        rows.append({"model": r.model_id, "backend": backend_label(r),
                     "device": r.device, "task": r.task_name,
                     "setting": setting or "-", "kind": str(err.get("kind", "?")),
                     "message": str(err.get("message", ""))[:500]})
    return rows
