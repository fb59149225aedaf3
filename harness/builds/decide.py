"""The decision: one table of every build, the Pareto fronts, one recommendation.

A row per build (what `builds` prints and writes as markdown, csv and json):

  size_mb        size on disk of the file or folder the backend read (MiB)
  kl             mean over positions of KL(reference || build) of the next-token
                 distributions, nats (harness.scenarios.parity); 0 for the reference
  top1           share of positions where the build's argmax equals the reference's
  ppl_diff_pct   (perplexity of the build - the reference's) / the reference's, in %
  mcnemar_p      exact McNemar p of next-token accuracy, reference against build
  <task> <metric>, its _se   the task's metric (mean of 0/1 items, or token perplexity)
                 with its standard error
  ttft_ms, decode_tps, peak_rss_mb   median TTFT and decode speed at the profile's
                 workload, and the worker's peak resident memory
  verdict        the device profile's budgets (harness.verdict): pass, fail, incomplete
  first_failure  the first budget (in the profile's order) that is not a pass, with its
                 margin: how far the one-sided bound (or the value) is from the limit

Pareto front: a build is on it when no other build is at least as good on both axes and
better on one (quality: lower KL, or the chosen task metric in its direction; against
higher decode speed, and against lower peak memory).

Recommendation rule (RULE): the smallest build whose every budget passes and whose KL to
the reference is within KL_MAX. When none qualifies: "no build passes", naming the first
failing budget (or the KL) of the smallest build, and its margin.
"""

from __future__ import annotations

import csv
import io
import json

from harness import metrics, numbers
from harness.markdown import table

KL_MAX = 0.05
RULE = ("the smallest build whose every budget passes and whose KL to the reference is "
        "within {kl_max:g}")


def margin(b: dict) -> dict:
    """How far a verdict budget row is from its limit: the bound (or the value) minus the
    limit, on the failing side, and as a share of the limit."""
    value = b["bound"] if b["bound"] is not None else b["measured"]
    if isinstance(value, list):
        value = value[0] if b["min"] is not None else value[-1]
    if value is None:
        return {"by": None, "pct": None}
    if b["max"] is not None and value > b["max"]:
        by, limit = value - b["max"], b["max"]
    elif b["min"] is not None and value < b["min"]:
        by, limit = b["min"] - value, b["min"]
    else:
        by, limit = 0.0, (b["max"] if b["max"] is not None else b["min"])
    return {"by": by, "pct": by / abs(limit) * 100 if limit else None}


def first_failure(row: dict, kl_max: float = KL_MAX) -> dict | None:
    """The first budget of the row's verdict that is not a pass (then the KL rule), or
    None when the build qualifies."""
    for b in (row.get("verdict_doc") or {}).get("budgets", []):
        if b["status"] != "pass":
            side = f"<= {b['max']:g}" if b["max"] is not None else f">= {b['min']:g}"
            return {"metric": b["metric"], "status": b["status"], "requirement": side,
                    "unit": b["unit"], "measured": b["measured"], "bound": b["bound"],
                    "detail": b["detail"], **margin(b)}
    kl = row.get("kl")
    if kl is None:
        return {"metric": "kl", "status": "not_measured", "requirement": f"<= {kl_max:g}",
                "unit": metrics.entry("mean_kl").unit, "measured": None, "bound": None,
                "detail": "no parity against the reference", "by": None, "pct": None}
    if kl > kl_max:
        return {"metric": "kl", "status": "fail", "requirement": f"<= {kl_max:g}",
                "unit": metrics.entry("mean_kl").unit, "measured": kl, "bound": None, "detail": "",
                "by": kl - kl_max, "pct": (kl - kl_max) / kl_max * 100}
    return None


def failure_text(f: dict) -> str:
    """'decode_tps >= 1e+06 tok/s: fail, bound 120.3, short by 999880 tok/s (100.0%)'."""
    unit = f" {f['unit']}" if f["unit"] else ""
    text = f"{f['metric']} {f['requirement']}{unit}: {f['status'].replace('_', ' ')}"
    if f["status"] == "fail":
        shown = f["bound"] if f["bound"] is not None else f["measured"]
        text += (f", {'bound' if f['bound'] is not None else 'measured'} "
                 f"{numbers.fmt(shown, 'sig4')}, short by {numbers.fmt(f['by'], 'sig4')}{unit}")
        if f["pct"] is not None:
            text += f" ({f['pct']:.1f}%)"
    elif f["detail"]:
        text += f" ({f['detail']})"
    return text


def recommend(rows: list[dict], device: str, kl_max: float = KL_MAX) -> dict:
    """The recommendation for one device profile (module docstring)."""
    rule = RULE.format(kl_max=kl_max)
    ok = [r for r in rows if first_failure(r, kl_max) is None]
    if ok:
        best = min(ok, key=lambda r: r["size_mb"])
        return {"device": device, "rule": rule, "build": best["build"],
                "text": f"{device}: {best['build']} ({numbers.fmt(best['size_mb'])} MB) — "
                        f"{rule}"}
    smallest = min(rows, key=lambda r: r["size_mb"]) if rows else None
    why = (f"; the smallest build, {smallest['build']}, fails first on "
           f"{failure_text(first_failure(smallest, kl_max))}" if smallest else "")
    return {"device": device, "rule": rule, "build": None,
            "failure": first_failure(smallest, kl_max) if smallest else None,
            "text": f"{device}: no build passes ({rule}){why}"}


def quality_key(quality: str) -> tuple[str, bool]:
    """('kl' | '<task> <metric>' column, higher is better) for --pareto-quality."""
    if quality == "kl":
        return "kl", False
    task, _, metric = quality.partition(":")
    entry = metrics.get(metric or "acc")
    return f"{task} {metric or 'acc'}", bool(entry and entry.higher_is_better)


def pareto(rows: list[dict], x: str, x_higher: bool, y: str, y_higher: bool) -> list[str]:
    """The builds on the Pareto front of columns x and y (module docstring)."""
    pts = [(r["build"], r.get(x), r.get(y)) for r in rows
           if r.get(x) is not None and r.get(y) is not None]
    sx, sy = (1 if x_higher else -1), (1 if y_higher else -1)

    def dominates(a, b) -> bool:
        return (sx * a[1] >= sx * b[1] and sy * a[2] >= sy * b[2]
                and (sx * a[1] > sx * b[1] or sy * a[2] > sy * b[2]))

    return [p[0] for p in pts if not any(dominates(q, p) for q in pts if q is not p)]


def fronts(rows: list[dict], quality: str = "kl") -> dict[str, list[str]]:
    x, higher = quality_key(quality)
    return {"speed": pareto(rows, x, higher, "decode_tps", True),
            "memory": pareto(rows, x, higher, "peak_rss_mb", False)}


def task_columns(rows: list[dict]) -> list[str]:
    return list(dict.fromkeys(k for r in rows for k in r.get("quality", {})))


def flat(row: dict, tasks: list[str], kl_max: float = KL_MAX) -> dict:
    """One row as flat columns (csv, json)."""
    out = {k: row.get(k) for k in ("build", "format", "backend", "size_mb", "kl", "top1",
                                   "ppl_diff_pct", "mcnemar_p")}
    for t in tasks:
        value, se = row.get("quality", {}).get(t, (None, None))
        out[t], out[f"{t} se"] = value, se
    out.update({k: row.get(k) for k in ("ttft_ms", "decode_tps", "peak_rss_mb", "verdict")})
    f = first_failure(row, kl_max)
    out["first_failure"] = failure_text(f) if f else ""
    return out


def render(rows: list[dict], decision: dict, fmt: str) -> str:
    """The decision as markdown, csv or json."""
    if fmt in ("json", "csv"):
        tasks = task_columns(rows)
        flats = [flat(r, tasks, decision.get("kl_max", KL_MAX)) for r in rows]
    if fmt == "json":
        return json.dumps({**decision, "rows": flats}, indent=1) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(flats[0]) if flats else ["build"])
        w.writeheader()
        w.writerows(flats)
        return buf.getvalue()
    head, body = cells(rows, decision)
    lines = [f"reference: {decision['reference']}", ""]
    lines += [f"> warning: {w}" for w in decision.get("warnings", [])]
    lines += table(head, body)
    lines += ["", *fronts_text(decision), ""]
    lines += recommendations_text(decision)
    return "\n".join(lines) + "\n"


def cells(rows: list[dict], decision: dict) -> tuple[list[str], list[list[str]]]:
    """The decision table's header and rows, every cell formatted (markdown and HTML)."""
    tasks = task_columns(rows)
    kl_max = decision.get("kl_max", KL_MAX)
    front = decision["fronts"]
    head = ["build", "size MB", "KL (nats)", "top-1", "ppl diff %", "McNemar p", *tasks,
            "TTFT ms", "decode tok/s", "peak RSS MB", "verdict", "Pareto", "first failure"]
    body = []
    for r in rows:
        failure = first_failure(r, kl_max)
        marks = "".join(m for m, key in (("S", "speed"), ("M", "memory"))
                        if r["build"] in front[key])
        body.append([r["build"], numbers.fmt(r["size_mb"], "fixed", 1),
                     numbers.fmt(r.get("kl"), "sig4"), numbers.fmt(r.get("top1"), "fixed", 3),
                     numbers.fmt(r.get("ppl_diff_pct"), "fixed", 2),
                     numbers.fmt(r.get("mcnemar_p"), "p"),
                     *[numbers.pm(*r.get("quality", {}).get(t, (None, None))) for t in tasks],
                     numbers.fmt(r.get("ttft_ms"), "fixed", 1),
                     numbers.fmt(r.get("decode_tps"), "fixed", 1),
                     numbers.fmt(r.get("peak_rss_mb"), "fixed", 0), r.get("verdict") or "-",
                     marks or "-", failure_text(failure) if failure else "-"])
    return head, body


def fronts_text(decision: dict) -> list[str]:
    """One line per Pareto front: the builds on it."""
    front = decision["fronts"]
    return [f"Pareto front ({decision['quality']} vs decode speed, S): "
            f"{', '.join(front['speed']) or '-'}",
            f"Pareto front ({decision['quality']} vs peak memory, M): "
            f"{', '.join(front['memory']) or '-'}"]


def recommendations_text(decision: dict) -> list[str]:
    """The recommended build per device with the rule that chose it (or why none)."""
    return [f"**recommended** on {r['text']}" if r["build"] else f"**{r['text']}**"
            for r in decision["recommendations"]]
