"""The report: one self-contained HTML page and a Markdown summary of run records.

Inputs are run record files or folders (searched recursively for *.json; verdict.json and
verdict-<backend>.json files are PoC verdicts, run.json manifests are skipped). Every file
is validated first (records.read_record, records.read_verdict); one bad file stops the
report with a one-line error naming it (exit code 2) and nothing is written.

The page (report.html) has, in this order: the verdict (overall banner, host warnings, and
per budget the requirement, measured value, confidence bound and PASS / FAIL / NOT
MEASURED), speed (TTFT and decode tokens/s against prompt length per backend, inter-token
latency distribution), memory, quality, parity, reliability (determinism, soak), failed
runs, and provenance (model sha256, harness version and commit, runtime versions, device
profile, host fingerprint). CSS is inline and plots are SVG images embedded as data: URIs
(made with matplotlib's Agg/SVG backends), so the page loads nothing from anywhere. Every
string read from a results file is HTML-escaped (jinja2 autoescape).

report.md carries the same tables in Markdown. Both files are rendered in memory first and
then written atomically (temporary file + rename).

Modules: collect.py (read and group inputs), tables.py (rows both renderers show),
plots.py (matplotlib figures), provenance.py, render.py (HTML via jinja2 and
write_report), markdown.py (the Markdown summary), templates/. The command line is
harness/cli/report.py. Nothing heavy is imported here.
"""

from __future__ import annotations

from pathlib import Path


def write_report(paths: list[Path], out_dir: Path, *, title: str | None = None,
                 builds: dict | None = None) -> tuple[Path, Path]:
    """Read `paths` (files or folders), write out_dir/report.html and out_dir/report.md.

    Returns (html_path, md_path). Raises DataError naming the first bad file; in that case
    nothing is written.
    """
    from harness.report.render import write_report as write

    return write(paths, out_dir, title=title, builds=builds)
