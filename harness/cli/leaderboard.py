"""`sllm-bench leaderboard`: fold run records from many machines into one versioned JSON file
and, with --html, a static page that shows it (harness/leaderboard/).

Exit codes: 0 written and every input valid; 1 written but some input was rejected (one
line on stderr naming it); 2 nothing written (no successful speed record to rank, or bad
flags).
"""

from __future__ import annotations

import sys
from pathlib import Path

from harness.errors import DataError

EPILOG = ("exit codes: 0 written, every input valid; 1 written, some input rejected (named on "
          "stderr); 2 nothing written (no successful speed record, or bad flags)")


def register(sub) -> None:
    p = sub.add_parser("leaderboard", help="fold run records into leaderboard.json (+ a page)",
                       description="Fold run records (files or folders, from any number of "
                       "machines) into one row per model x backend x device profile x "
                       "settings, with a composite score and rank per device profile.",
                       epilog=EPILOG)
    p.add_argument("results", nargs="+", metavar="RESULTS",
                   help="run record files or folders (e.g. results/runs)")
    p.add_argument("-o", "--output", default="leaderboard.json",
                   help="leaderboard JSON to write (default: leaderboard.json)")
    p.add_argument("--html", metavar="DIR", default=None,
                   help="also write a static page (index.html, app.js, style.css and a copy "
                        "of the JSON) to DIR")
    p.add_argument("--all", action="store_true",
                   help="keep every record, not only the latest per key")
    p.set_defaults(handler=cmd_leaderboard)


def _warn(msg: str) -> None:
    print(f"sllm-bench: warning: {msg}", file=sys.stderr, flush=True)


def cmd_leaderboard(args) -> int:
    from harness.leaderboard.build import build, validate
    from harness.leaderboard.inputs import collect
    from harness.leaderboard.publish import write_page
    from harness.records import write_json

    output = Path(args.output)
    skip = [output] + ([Path(args.html) / "leaderboard.json"] if args.html else [])
    records, verdicts, rejected, n_files = collect(args.results, skip=skip)
    for r in rejected:
        _warn(f"rejected {r['path']}: {r['reason']}")
    doc = build(records, verdicts, keep_all=args.all, rejected=rejected, files_read=n_files)
    if not doc["rows"]:
        raise DataError("no successful speed record to rank; nothing written",
                        path=", ".join(args.results))
    validate(doc)
    write_json(output, doc)
    if args.html:
        write_page(Path(args.html), doc)
    s = doc["sources"]
    print(f"leaderboard: {output} ({len(doc['rows'])} row(s) from {s['records']} record(s); "
          f"{s['failed_records']} failed, {s['superseded_records']} superseded, "
          f"{len(rejected)} file(s) rejected)" + (f"; page: {args.html}" if args.html else ""),
          file=sys.stderr)
    return 1 if rejected else 0
