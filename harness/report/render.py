"""Build the report's context, render it to HTML (jinja2, autoescape on) and Markdown, and
write both files atomically.

Everything is read, validated and rendered in memory before the first byte is written; a
bad input raises DataError (exit code 2) and leaves out_dir untouched.
"""

from __future__ import annotations

from pathlib import Path

from harness.errors import BenchError

SECTIONS = (("verdict", "Verdict"), ("speed", "Speed"), ("memory", "Memory"),
            ("quality", "Quality"), ("parity", "Parity"), ("reliability", "Reliability"),
            ("failures", "Failed runs"), ("provenance", "Provenance"))


def build_context(inputs, title: str | None = None, builds: dict | None = None) -> dict:
    """Plain data for both renderers: every cell a string, plots as data: URIs. `builds`
    (from `sllm-bench builds`, computed from these same records): the decision table's
    head and body, the fronts and recommendation lines, and the Pareto plot's SVG text."""
    from harness import __version__
    from harness.report import tables
    from harness.report.collect import backend_label
    from harness.report.plots import all_plots
    from harness.report.provenance import provenance
    from harness.records import now_iso

    memory = tables.memory_rows(inputs)
    models = sorted({r["model"]["id"] for r in inputs.records}
                    | {v["model"]["id"] for v in inputs.verdicts})
    devices = sorted({r["device"]["name"] for r in inputs.records}
                     | {v["device"]["name"] for v in inputs.verdicts})
    default_title = f"{', '.join(models[:3])}{' …' if len(models) > 3 else ''} on " \
                    f"{', '.join(devices[:3])}{' …' if len(devices) > 3 else ''}"
    failures = tables.failed_rows(inputs)
    backends = sorted({backend_label(r) for r in inputs.records if r not in inputs.parity})
    backends += sorted({v["backend"] for v in inputs.verdicts
                        if not any(b == v["backend"] or b.startswith(v["backend"] + " (")
                                   for b in backends)})
    sections = [s for s in SECTIONS if s[0] != "failures" or failures]
    if builds:
        sections.insert(1, ("builds", "Builds"))
    return {
        "title": title or f"sllm-bench report: {default_title}",
        "generated_at": now_iso(), "harness_version": __version__,
        "sections": sections,
        "builds": _builds_view(builds),
        "scope": {"models": models, "devices": devices, "backends": backends,
                  "hosts": sorted({_host(r["env"]["host"]) for r in inputs.records})},
        "counts": {"records": len(inputs.records), "verdicts": len(inputs.verdicts),
                   "failed": len(inputs.failed), "files": len(inputs.files)},
        "verdict": tables.verdict_view(inputs),
        "speed": tables.speed_rows(inputs),
        "memory": memory,
        "quality": tables.quality_rows(inputs),
        "parity": tables.parity_view(inputs),
        "determinism": tables.determinism_view(inputs),
        "soak": tables.soak_rows(inputs),
        "failures": failures,
        "provenance": provenance(inputs),
        "plots": all_plots(inputs, memory),
    }


def _builds_view(builds: dict | None) -> dict | None:
    import base64

    if not builds:
        return None
    svg = builds.get("svg")
    return {**builds, "plot": "data:image/svg+xml;base64," + base64.b64encode(
        svg.encode("utf-8")).decode("ascii") if svg else None}


def _host(h: dict) -> str:
    cores = h.get("cores_allowed") or h.get("cores_logical")
    mem = h.get("memory_bytes")
    return (f"{h.get('cpu_model') or '?'}, {cores} cores"
            + (f", {mem / 2**30:.0f} GiB" if isinstance(mem, (int, float)) else ""))


def environment():
    """A jinja2 environment over report/templates with autoescape on for every template."""
    try:
        import jinja2
    except ImportError:
        raise BenchError("the report needs jinja2 and matplotlib: "
                         "pip install 'sllm-bench[report]'") from None
    from importlib.resources import files

    folder = files("harness.report").joinpath("templates")

    def load(name: str):
        return folder.joinpath(name).read_text(encoding="utf-8")

    return jinja2.Environment(loader=jinja2.FunctionLoader(load), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True,
                              lstrip_blocks=True, keep_trailing_newline=True)


def render_html(ctx: dict) -> str:
    return environment().get_template("report.html.j2").render(**ctx)


def write_report(paths: list[Path], out_dir: Path, *, title: str | None = None,
                 builds: dict | None = None) -> tuple[Path, Path]:
    """Read `paths`, write out_dir/report.html and out_dir/report.md; return their paths
    (`builds`: see build_context)."""
    from harness.report.collect import read_inputs
    from harness.report.markdown import render_markdown
    from harness.records import atomic_write_text

    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise BenchError("the report needs jinja2 and matplotlib: "
                         "pip install 'sllm-bench[report]'") from None
    inputs = read_inputs(list(paths))
    ctx = build_context(inputs, title, builds)
    html = render_html(ctx)
    md = render_markdown(ctx)
    out_dir = Path(out_dir)
    html_path, md_path = out_dir / "report.html", out_dir / "report.md"
    try:
        atomic_write_text(html_path, html)
        atomic_write_text(md_path, md)
    except OSError as e:
        raise BenchError(f"cannot write the report: {e.strerror or e}", path=out_dir) from None
    return html_path, md_path
