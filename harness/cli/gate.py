"""`compare`, `baseline save|show` and `export-pytest-benchmark`: the CI gate's commands.

compare BASELINE CURRENT: files or folders of run records (BASELINE may also name a saved
baseline, results/baselines/<device>); matching and deciding are harness.gate.compare's,
the table harness.gate.report's.

Exit codes: 1 when a metric regressed or a current run failed whose baseline ran, or
(with --strict) when anything could not be decided: runs or metrics on one side only,
failed baselines, too few samples; 2 on bad input (a record or config that does not
read or validate); 0 otherwise. Only light imports at module level.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

from harness.errors import DataError

FORMATS = ("markdown", "json")


def register(sub) -> None:
    cmp_ = sub.add_parser(
        "compare", help="CI gate: compare current results with a baseline",
        description="Match runs by model, backend, device profile, task and params, and "
        "decide per metric: regression when the change exceeds its threshold and is "
        "significant on the raw samples (see docs/gate.md).",
        epilog="exit codes: 0 no regression; 1 a regression (or, with --strict, anything "
        "undecided); 2 bad input")
    cmp_.add_argument("baseline", help="record file or folder, or a saved baseline's "
                      "device name (results/baselines/<name>)")
    cmp_.add_argument("current", nargs="+", help="record files or folders")
    cmp_.add_argument("--config", "-c", default=None, help="gate config YAML (default: "
                      "results/baselines/gate.yaml when present, else built-in rules)")
    cmp_.add_argument("--format", "-o", choices=FORMATS, default="markdown")
    cmp_.add_argument("--strict", action="store_true", help="also fail on runs or metrics "
                      "found on one side only, failed baselines and too few samples")
    cmp_.add_argument("--ignore-param", action="append", default=[], metavar="NAME",
                      help="leave a param out of the match key (e.g. threads, to compare "
                      "across thread counts); repeatable")
    cmp_.add_argument("--baselines-dir", default=None, help="where saved baselines live "
                      "(default: results/baselines)")
    cmp_.set_defaults(handler=cmd_compare)

    base = sub.add_parser("baseline", help="save or show the baseline per device profile")
    bsub = base.add_subparsers(dest="baseline_command", metavar="ACTION", required=True)
    save = bsub.add_parser("save", help="copy run records into results/baselines/<device>/",
                           description="Replace the device's saved baseline with these "
                           "records (ok runs only) and a manifest of their provenance.")
    save.add_argument("results", nargs="+", help="record files or run folders")
    save.add_argument("--device", "-d", default=None, help="device profile to keep "
                      "(default: the records' only device)")
    save.add_argument("--baselines-dir", default=None)
    save.set_defaults(handler=cmd_baseline_save)
    show = bsub.add_parser("show", help="print saved baselines and their provenance")
    show.add_argument("--device", "-d", default=None)
    show.add_argument("--baselines-dir", default=None)
    show.add_argument("--format", "-o", choices=FORMATS, default="markdown")
    show.set_defaults(handler=cmd_baseline_show)

    exp = sub.add_parser("export-pytest-benchmark", help="write records as pytest-benchmark "
                         "JSON", description="One pytest-benchmark entry per timed metric "
                         "of each record, samples converted to seconds per unit of work.")
    exp.add_argument("results", nargs="+", help="record files or folders")
    exp.add_argument("--output", "-o", required=True, help="output JSON file")
    exp.set_defaults(handler=cmd_export)


def _warn(msg: str) -> None:
    print(f"sllm-bench: WARNING: {msg}", file=sys.stderr, flush=True)


def cmd_compare(args) -> int:
    from harness.gate import baselines, config as gate_config, report as gate_report
    from harness.gate.compare import compare_runs, load_runs

    config = gate_config.load(args.config)
    ignored = set(config.ignore_params) | set(args.ignore_param)
    base_path = baselines.resolve(args.baseline, args.baselines_dir)
    baseline = load_runs([base_path], ignored, "baseline")
    current = load_runs(args.current, ignored, "current")
    report = compare_runs(baseline, current, config, ignored, args.strict)
    if report.warnings:
        bar = "!" * 78
        print(bar, file=sys.stderr)
        for w in report.warnings:
            _warn(w)
        print(bar, file=sys.stderr, flush=True)
    render = gate_report.markdown if args.format == "markdown" else gate_report.json_text
    sys.stdout.write(render(report, str(base_path), args.current))
    sys.stdout.flush()
    return report.exit_code


def cmd_baseline_save(args) -> int:
    from harness.gate import baselines

    from harness.gate import config as gate_config
    from harness.gate.compare import reachability_notes

    ignore = set(gate_config.load().ignore_params)
    folder, notes = baselines.save(args.results, args.device, args.baselines_dir,
                                   check=lambda records: reachability_notes([records], ignore))
    for n in notes:
        print(f"sllm-bench: {n}", file=sys.stderr)
    print(folder)
    return 0


def cmd_baseline_show(args) -> int:
    from harness.gate import baselines

    base, shown = baselines.saved(args.device, args.baselines_dir)
    sys.stdout.write(baseline_text(base, shown, args.format))
    return 0


def baseline_text(base: Path, shown: list, fmt: str = "markdown") -> str:
    """Saved baselines as text: provenance and a table of their records (or JSON)."""
    from harness.cli import printers
    from harness.records import flat_row

    if fmt == "json":
        return json.dumps([{"manifest": m, "records": [flat_row(r) for r in recs]}
                           for m, recs in shown], indent=1, ensure_ascii=False) + "\n"
    if not shown:
        return f"no saved baselines in {base}\n"
    out = io.StringIO()
    for m, recs in shown:
        h = m["host"]
        runtimes = ", ".join(f"{k} {v}" for k, v in m["runtimes"].items() if v)
        out.write(f"## baseline {m['device']}\n\nsaved {m['saved_at']} from run(s) "
                  f"{', '.join(m['runs'])}; host {h['id']} ({h['cpu_model']}, "
                  f"{h['cores_logical']} cores, {h['os']}); harness {m['harness_version']} "
                  f"commit {m['git_commit'] or 'unknown'}; runtimes: {runtimes}\n")
        printer = printers.make("markdown", out)
        printer.header()
        for r in recs:
            printer.record(r)
        printer.footer()
        out.write("\n")
    return out.getvalue()


def cmd_export(args) -> int:
    from harness.gate.baselines import record_paths
    from harness.gate.pytest_benchmark import document
    from harness.records import read_record, write_json

    records = [read_record(p) for p in record_paths(args.results)]
    if not records:
        raise DataError(f"no record files in {', '.join(args.results)}")
    write_json(Path(args.output), document(records))
    print(args.output)
    return 0
