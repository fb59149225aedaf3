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
                       "machines) into one row per model x backend x device profile x host "
                       "x workload. Rows that meet the ranking rules (conditions ok, parity "
                       "of ports, quality floors) get a composite score and rank within "
                       "their group (profile x host x workload); the others are shown with "
                       "the reason (docs/leaderboard.md).",
                       epilog=EPILOG)
    p.add_argument("results", nargs="+", metavar="RESULTS",
                   help="run record files or folders (e.g. results/runs)")
    p.add_argument("-o", "--output", default="leaderboard.json",
                   help="leaderboard JSON to write (default: leaderboard.json)")
    p.add_argument("--html", metavar="DIR", default=None,
                   help="also write a static page (index.html with the data embedded, so it "
                        "opens from disk, app.js, style.css and a copy of the JSON) to DIR")
    p.add_argument("--all", action="store_true",
                   help="keep every record, not only the latest per key")
    p.add_argument("--max-kl", type=_fraction, default=0.05, metavar="NATS",
                   help="parity tolerance: a port (ONNX from a GGUF) ranks only if its mean "
                        "KL against the GGUF is at most this (default 0.05)")
    p.add_argument("--min-top1", type=_agreement, default=0.9, metavar="FRACTION",
                   help="parity tolerance: ... and its top-1 agreement at least this "
                        "(default 0.9)")
    p.add_argument("--accept-unrecorded-conditions", action="store_true",
                   help="rank rows whose records do not say under which conditions they "
                        "were measured (still marked); default: shown, not ranked")
    p.add_argument("--merge-hosts", action="store_true",
                   help="treat rows of different hosts under one profile name as one "
                        "machine (default: they stay apart, each with its fingerprint)")
    p.set_defaults(handler=cmd_leaderboard)


def _fraction(text: str) -> float:
    import argparse
    import math

    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(v) or v < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
    return v


def _agreement(text: str) -> float:
    import argparse

    v = _fraction(text)
    if v > 1:
        raise argparse.ArgumentTypeError(f"an agreement is at most 1, got {text!r}")
    return v


def _warn(msg: str) -> None:
    print(f"sllm-bench: warning: {msg}", file=sys.stderr, flush=True)


def cmd_leaderboard(args) -> int:
    from harness.leaderboard.build import build, validate
    from harness.leaderboard.inputs import collect
    from harness.leaderboard.publish import write_page
    from harness.leaderboard.rank import policy
    from harness.records import write_json

    from harness.records import check_output_file, check_writable_dir

    output = check_output_file(Path(args.output), "-o")  # both before any work
    if args.html:
        check_writable_dir(Path(args.html), "--html")
    skip = [output] + ([Path(args.html) / "leaderboard.json"] if args.html else [])
    records, verdicts, rejected, n_files = collect(args.results, skip=skip)
    ranking = policy(args.max_kl, args.min_top1, args.accept_unrecorded_conditions,
                     args.merge_hosts)
    doc = build(records, verdicts, keep_all=args.all, rejected=rejected, files_read=n_files,
                ranking=ranking)
    if not doc["rows"]:  # one line: what was rejected is the likely reason
        first = (f" ({len(rejected)} file(s) rejected, first {rejected[0]['path']}: "
                 f"{rejected[0]['reason']})" if rejected else "")
        raise DataError(f"no successful speed record to rank{first}; nothing written",
                        path=", ".join(args.results))
    for r in rejected:
        _warn(f"rejected {r['path']}: {r['reason']}")
    validate(doc)
    if args.html:  # the page first: a page that cannot be written leaves no JSON behind
        write_page(Path(args.html), doc)
    write_json(output, doc)
    s = doc["sources"]
    ranked = sum(r["rank"] is not None for r in doc["rows"])
    print(f"leaderboard: {output} ({len(doc['rows'])} row(s), {ranked} ranked, in "
          f"{len(doc['groups'])} group(s), from {s['records']} record(s); "
          f"{s['failed_records']} failed, {s['superseded_records']} superseded, "
          f"{len(rejected)} file(s) rejected)" + (f"; page: {args.html}" if args.html else ""),
          file=sys.stderr)
    return 1 if rejected else 0
