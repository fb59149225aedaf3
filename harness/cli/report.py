"""`sllm-bench report RESULTS...`: one self-contained HTML page and a Markdown summary
(harness/report/). Nothing heavy is imported here: `sllm-bench --help` imports this module.
"""

from __future__ import annotations

import sys
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
    from harness.report import write_report

    html, md = write_report([Path(p) for p in args.results], Path(args.output),
                            title=args.title)
    print(f"report: {html} and {md}", file=sys.stderr)
    return 0
