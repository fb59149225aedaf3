"""Render a gate Report: markdown for a pull-request comment, json for machines.

Columns: baseline and current are each side's center (median, or mean where the rule
says so) with the sample count; change is current / baseline - 1 as measured; the
interval is the bootstrap interval of that change; p is the one-sided Mann-Whitney U
p-value in the direction of the change (statistical rule only); Holm p is the one-sided
p-value that current is worse, adjusted by Holm's step-down correction across every gated
metric of the compare (a regression needs it below alpha); McNemar, for paired per-item
0/1 samples (accuracies), is b/c discordant items (1 -> 0 / 0 -> 1) and the two-sided
exact p (the p column is then McNemar's one-sided p); decision is the gate's verdict.
"""

from __future__ import annotations

import json

from harness import numbers
from harness.gate.compare import RUN_FAILED
from harness.gate.stats import IMPROVED, NOT_GATED, OK, REGRESSION, UNDECIDABLE
from harness.markdown import table


def _num(v: float | None) -> str:
    return numbers.fmt(v, "gate")


def _pct(v: float | None) -> str:
    return numbers.fmt(v, "pct")


def _p(v: float | None) -> str:
    return numbers.fmt(v, "p")


def _mcnemar(row: dict) -> str:
    d = row.get("discordant")
    return "-" if d is None else f"{d[0]}/{d[1]}, p {_p(row.get('mcnemar_p'))}"


def _decision(row: dict) -> str:
    d = row["decision"]
    if d in (REGRESSION, RUN_FAILED, UNDECIDABLE):
        return f"**{d}**"
    if row.get("rule") == "tolerance" and d in (REGRESSION, IMPROVED, OK):
        return f"{d} (tolerance)"
    return d


def verdict(report) -> str:
    if report.undecidable:
        return (f"FAIL: {report.regressions} regression(s), {report.undecidable} "
                "undecidable (too few repetitions for this compare's significance level)")
    if report.failures:
        return f"FAIL: {report.failures} regression(s)"
    if report.strict and report.undecided:
        return f"FAIL (--strict): {report.undecided} undecided"
    return "PASS"


def markdown(report, baseline: str, current: list[str]) -> str:
    significance = (f"Holm-adjusted one-sided p < {report.alpha:g} (Holm's correction "
                    f"across the {report.family} gated metrics tested here, so any false "
                    f"alarm in this compare has a chance of at most {report.alpha:g})"
                    if report.holm else
                    f"one-sided p < {report.alpha:g} per metric (no correction for the "
                    "number of metrics)")
    out = [f"## sllm-bench gate: {verdict(report)}", "",
           f"Baseline `{baseline}` vs current `{' '.join(current)}`: {report.matched} run(s) "
           f"matched, {len(report.baseline_only)} only in the baseline, "
           f"{len(report.current_only)} only in the current results. Regression = worse "
           f"beyond the metric's threshold and {significance}; p is Mann-Whitney U, or "
           "exact McNemar for per-item 0/1 samples (McNemar: items right in the baseline "
           "and wrong now / wrong and now right, two-sided exact p); single measurements: "
           "beyond their tolerance. Config: "
           f"{report.config or 'built-in rules'}.", ""]
    if report.warnings:
        out += [f"> **Warning:** {w}" for w in report.warnings] + [""]
    head = ["run", "metric", "n", "baseline", "current", "change",
            f"{report.confidence:.0%} interval", "p", "Holm p", "McNemar", "decision"]
    rows, last = [], None
    for r in report.rows:
        run = "" if r["run"] == last else r["run"]
        last = r["run"]
        metric = f"{r['metric']} ({r['unit']})" if r.get("unit") else r["metric"]
        n = f"{r['n_baseline']}/{r['n_current']}" if "n_baseline" in r else "-"
        lo_hi = r.get("interval")
        interval = f"[{_pct(lo_hi[0])}, {_pct(lo_hi[1])}]" if lo_hi else "-"
        rows.append([run, metric, n, _num(r.get("baseline")), _num(r.get("current")),
                     _pct(r.get("change")), interval, _p(r.get("p")), _p(r.get("p_holm")),
                     _mcnemar(r), _decision(r)])
    out += table(head, rows, align="llrrrrlrrll")
    extra = report.notes + [f"only in the baseline: {x}" for x in report.baseline_only] + \
        [f"only in the current results: {x}" for x in report.current_only] + \
        [f"{r['run']}: {r['metric']}: {r['decision']} ({r['reason']})" for r in report.rows
         if r["decision"] not in (REGRESSION, IMPROVED, OK, NOT_GATED)]
    if extra:
        out += ["", "Notes:", ""] + [f"- {x}" for x in extra]
    return "\n".join(out) + "\n"


def json_text(report, baseline: str, current: list[str]) -> str:
    doc = {"verdict": verdict(report), "exit_code": report.exit_code,
           "baseline": baseline, "current": current, "config": report.config,
           "alpha": report.alpha, "holm": report.holm, "holm_family": report.family,
           "confidence": report.confidence, "strict": report.strict,
           "matched": report.matched, "regressions": report.regressions,
           "undecidable": report.undecidable,
           "undecided": report.undecided, "warnings": report.warnings,
           "notes": report.notes, "baseline_only": report.baseline_only,
           "current_only": report.current_only, "rows": report.rows}
    return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"
