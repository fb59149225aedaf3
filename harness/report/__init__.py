"""`sllm-bench report RESULTS...`: one self-contained HTML page and a Markdown summary.

Inputs are run record files or folders (searched recursively for *.json; files named
verdict.json are PoC verdicts, run.json manifests are skipped). Every file is validated
first (results.read_record, leaderboard.read_verdict); one bad file stops the report with a
one-line error naming it (exit code 2) and nothing is written.

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

Modules: collect.py (read and group inputs), plots.py (matplotlib figures), render.py
(HTML via jinja2 and write_report), markdown.py (the Markdown summary), templates/.
Nothing heavy is imported here: `sllm-bench --help` imports this module.
"""

from __future__ import annotations

from pathlib import Path

EPILOG = ("exit codes: 0 report written; 2 bad input (an unreadable or invalid file, named on "
          "stderr; nothing written)")


def register(sub) -> None:
    p = sub.add_parser("report", help="write a self-contained HTML report and a Markdown summary",
                       description="Render run records and verdicts (files or run folders) "
                       "into DIR/report.html (one file, plots embedded, nothing loaded from "
                       "the network) and DIR/report.md.", epilog=EPILOG)
    p.add_argument("results", nargs="+", metavar="RESULTS",
                   help="run record files, verdict.json files or run folders")
    p.add_argument("-o", "--output", metavar="DIR", default="report",
                   help="folder to write report.html and report.md to (default: ./report)")
    p.add_argument("--title", default=None, help="page title (default: models on devices)")
    p.set_defaults(handler=cmd_report)


def cmd_report(args) -> int:
    import sys

    html, md = write_report([Path(p) for p in args.results], Path(args.output),
                            title=args.title)
    print(f"report: {html} and {md}", file=sys.stderr)
    return 0


def write_report(paths: list[Path], out_dir: Path, *, title: str | None = None
                 ) -> tuple[Path, Path]:
    """Read `paths` (files or folders), write out_dir/report.html and out_dir/report.md.

    Returns (html_path, md_path). Raises DataError naming the first bad file; in that case
    nothing is written.
    """
    from harness.report.render import write_report as _write

    return _write(paths, out_dir, title=title)
