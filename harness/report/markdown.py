"""The Markdown summary (report.md): the same sections and tables as the HTML page, without
plots. Cells are escaped by harness.markdown.html_cell so a results file cannot inject HTML
or break a table: '&', '<' and '>' become entities, '|' and '`' are backslash-escaped, and
line breaks become spaces.
"""

from __future__ import annotations

from harness import markdown
from harness.markdown import html_cell


def table(head: list[str], rows: list[list]) -> list[str]:
    """A table's lines, every cell escaped, then a blank line."""
    return markdown.table(head, rows, escape=html_cell) + [""]


def _verdict(v: dict) -> list[str]:
    lines = ["## Verdict", ""]
    if not v["verdicts"]:
        lines += [f"**{v['overall_text']}**: no PoC verdict in these results (run "
                  "`sllm-bench verify --device NAME` to produce one).", ""]
    else:
        summary = "; ".join(f"{html_cell(i['backend'])} on {html_cell(i['device'])}: "
                            f"{i['verdict_text']}" for i in v["verdicts"])
        lines += [f"**Overall: {v['overall_text']}** ({summary})", ""]
    for w in v["warnings"]:
        lines.append(f"> warning: {html_cell(w)}")
    if v["warnings"]:
        lines.append("")
    for i in v["verdicts"]:
        lines += [f"### {i['verdict_text']}: {html_cell(i['model'])} · "
                  f"{html_cell(i['backend'])} · {html_cell(i['device'])}", "",
                  f"run {html_cell(i['run_id'])}, {html_cell(i['created_at'])}", "",
                  f"**{html_cell(i['where'])}**", ""]
        lines += table(["budget", "requirement", "measured", "one-sided 95% bound", "result", "method, detail"],
                       [[b["name"], b["requirement"], b["measured"], b["bound"],
                         f"**{b['status_text']}**", b["detail"]] for b in i["budgets"]])
    return lines


def _speed(ctx: dict) -> list[str]:
    lines = ["## Speed", ""]
    if not ctx["speed"]:
        return lines + ["No speed records in these results.", ""]
    lines += table(["model", "backend", "device", "threads", "prompt", "gen", "reps", "TTFT ms",
                    "prefill tok/s", "decode tok/s", "ITL p50/p90/p99 ms", "load s",
                    "conditions"],
                   [[r["model"], r["backend"], r["device"], r["threads"], r["prompt"], r["gen"],
                     r["reps"], r["ttft"], r["prefill"], r["decode"], r["itl"], r["load"],
                     r["conditions"] + (f": {r['evidence']}" if r["evidence"] else "")]
                    for r in ctx["speed"]])
    return lines + ["Median ± sample standard deviation over the timed repetitions. "
                    "Conditions: ok, or why the machine was not quiet while it was measured "
                    "(contended, throttled, on_battery; see docs/conditions.md).", ""]


def _memory(ctx: dict) -> list[str]:
    lines = ["## Memory", ""]
    if not ctx["memory"]:
        return lines + ["No memory measurements in these results.", ""]
    return lines + table(["model", "backend", "device", "peak RSS MB", "RSS after load MB",
                          "model size MB", "memory budget MB"],
                         [[r["model"], r["backend"], r["device"], r["text"]["peak"],
                           r["text"]["after_load"], r["text"]["size"], r["text"]["budget"]]
                          for r in ctx["memory"]])


def _quality(ctx: dict) -> list[str]:
    lines = ["## Quality", ""]
    if not ctx["quality"]:
        return lines + ["No quality records in these results.", ""]
    return lines + table(["task", "model", "backend", "device", "metric", "value", "± stderr",
                          "n"],
                         [[f"{r['task']} v{r['version']}", r["model"], r["backend"],
                           r["device"], r["metric"], r["value"], r["stderr"], r["n"]]
                          for r in ctx["quality"]])


def _parity(ctx: dict) -> list[str]:
    p = ctx["parity"]
    lines = ["## Parity", ""]
    if not p["rows"]:
        return lines + ["No parity records in these results.", ""]
    return lines + table(["model", "backends", "device", *p["metrics"], "details"],
                         [[r["model"], r["backends"], r["device"], *r["values"], r["details"]]
                          for r in p["rows"]])


def _reliability(ctx: dict) -> list[str]:
    d, soak = ctx["determinism"], ctx["soak"]
    lines = ["## Reliability", "", "### Determinism", ""]
    if d["rows"]:
        lines += table(["model", "backend", "device", "check", "prompts", "identical",
                        "result"],
                       [[r["model"], r["backend"], r["device"], r["check"], r["prompts"],
                         r["identical"],
                         "IDENTICAL" if r["ok"] else "**MISMATCH**"] for r in d["rows"]])
        if d["mismatches"]:
            lines += table(["backend", "prompt", "position", "expected token", "got token"],
                           [[m["backend"], m["prompt"], m["position"], m["expected"], m["got"]]
                            for m in d["mismatches"]])
    else:
        lines += ["No determinism records in these results.", ""]
    lines += ["### Soak", ""]
    if soak:
        lines += table(["model", "backend", "device", "duration s", "decode tok/s",
                        "max RSS MB", "RSS slope MB/min", "decode drift %/min",
                        "sustained ratio", "errors", "conditions"],
                       [[r["model"], r["backend"], r["device"], r["duration"], r["decode"],
                         r["rss"], r["slope"], r["drift"], r["sustained"], r["errors"],
                         r["conditions"]] for r in soak])
    else:
        lines += ["No soak records in these results.", ""]
    return lines


def _failures(ctx: dict) -> list[str]:
    if not ctx["failures"]:
        return []
    return ["## Failed runs", ""] + table(
        ["model", "backend", "device", "task", "setting", "error"],
        [[f["model"], f["backend"], f["device"], f["task"], f["setting"],
          f"{f['kind']}: {f['message']}"] for f in ctx["failures"]])


def _provenance(p: dict) -> list[str]:
    lines = ["## Provenance", ""]
    lines += table(["model", "format", "quantization", "size MB", "sha256"],
                   [[m["id"], m["format"], m["quantization"], m["size_mb"], m["sha256"]]
                    for m in p["models"]])
    lines += table(["harness version", "git commit", "files"],
                   [[s["version"], s["commit"], s["files"]] for s in p["software"]])
    if p["runtimes"]:
        lines += ["Runtimes: " + ", ".join(
            f"{html_cell(r['name'])} {html_cell(r['versions'])}" for r in p["runtimes"]), ""]
    lines += table(["device profile", "threads", "cores", "CPUs used", "memory budget MB",
                    "description"],
                   [[d["name"], d["threads"], d["cores"], d["cpus"], d["budget"],
                     d["description"]] for d in p["devices"]])
    lines += table(["host", "CPU", "cores", "memory", "OS"],
                   [[h["id"], h["cpu"], h["cores"], h["memory"], h["os"]] for h in p["hosts"]])
    lines += ["Runs: " + ", ".join(html_cell(r["run_id"]) for r in p["runs"]), ""]
    return lines


def _builds(b: dict | None) -> list[str]:
    if not b:
        return []
    lines = ["## Builds", "", f"Reference: {html_cell(b['reference'])}", ""]
    lines += [f"> warning: {html_cell(w)}" for w in b["warnings"]]
    lines += table(b["head"], b["body"]) + [""]
    lines += [html_cell(x) for x in b["fronts"]] + [""]
    return lines + [html_cell(x) for x in b["recommendations"]] + [""]


def render_markdown(ctx: dict) -> str:
    c = ctx["counts"]
    lines = [f"# {html_cell(ctx['title'])}", "",
             f"Generated {ctx['generated_at']} by sllm-bench {ctx['harness_version']} from "
             f"{c['files']} file(s): {c['records']} run record(s) ({c['failed']} failed), "
             f"{c['verdicts']} verdict(s). Plots are in report.html.", ""]
    lines += _verdict(ctx["verdict"]) + _builds(ctx.get("builds"))
    lines += _speed(ctx) + _memory(ctx) + _quality(ctx) + _parity(ctx) + _reliability(ctx)
    lines += _failures(ctx) + _provenance(ctx["provenance"])
    return "\n".join(lines).rstrip("\n") + "\n"
