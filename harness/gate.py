"""The CI regression gate: `compare`, `baseline save|show` and `export-pytest-benchmark`.

compare BASELINE CURRENT: files or folders of run records (BASELINE may also name a saved
baseline, results/baselines/<device>). Runs are matched by model id, backend, device
profile, task name and params (all but the config's `ignore_params` and `--ignore-param`);
a changed model sha256, task version or ignored param is reported on the run, not a
mismatch. Every metric of a matched pair is decided by harness.gate_stats with its rule
from harness.gate_config and the record's own higher_is_better.

Exit codes: 1 when a metric regressed or a current run failed whose baseline ran, or
(with --strict) when anything could not be decided: runs or metrics on one side only,
failed baselines, too few samples; 2 on bad input (a record or config that does not
read or validate); 0 otherwise. Only light imports at module level.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import DataError

FORMATS = ("markdown", "json")
SHORT = {"prompt_tokens": "p", "gen_tokens": "g", "threads": "t"}
HIDDEN = {"n_ctx", "warmup", "repetitions"}

RUN_FAILED = "run failed"
BASELINE_FAILED = "baseline failed"
BOTH_FAILED = "both failed"
MISSING = "missing"
NO_SAMPLES = "no samples"


@dataclass
class Run:
    """One record and the key it is matched by."""

    path: Path
    record: dict
    key: tuple

    @property
    def ok(self) -> bool:
        return self.record["status"] == "ok"


@dataclass
class Report:
    """Everything `compare` found; rows are JSON-ready dicts."""

    rows: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    baseline_only: list[str] = field(default_factory=list)
    current_only: list[str] = field(default_factory=list)
    matched: int = 0
    strict: bool = False
    alpha: float = 0.05
    confidence: float = 0.95
    config: str | None = None

    def count(self, *decisions: str) -> int:
        return sum(r["decision"] in decisions for r in self.rows)

    @property
    def failures(self) -> int:
        from harness.gate_stats import REGRESSION

        return self.count(REGRESSION, RUN_FAILED)

    @property
    def undecided(self) -> int:
        from harness.gate_stats import TOO_FEW

        return (self.count(TOO_FEW, BASELINE_FAILED, BOTH_FAILED, MISSING, NO_SAMPLES)
                + len(self.baseline_only) + len(self.current_only))

    @property
    def exit_code(self) -> int:
        return 1 if self.failures or (self.strict and self.undecided) else 0


# ------------------------------------------------------------------ matching
def run_key(record: dict, ignore: set[str]) -> tuple:
    params = tuple(sorted((k, json.dumps(v, sort_keys=True))
                          for k, v in record["params"].items() if k not in ignore))
    return (record["model"]["id"], record["backend"]["name"], record["device"]["name"],
            record["task"]["name"], params)


def shown(name: str, value) -> bool:
    """Params worth showing: settings, not plumbing (n_ctx, ...), unset or measured values."""
    return name not in HIDDEN and value is not None and not isinstance(value, (dict, list))


def label(record: dict, other: dict | None = None) -> str:
    """model · backend · device · task · p128 g64 t2 (t2→1 when an ignored param differs)."""
    parts = []
    for k, v in record["params"].items():
        if not shown(k, v):
            continue
        name = SHORT.get(k, f"{k}=")
        old = (other or {}).get("params", {}).get(k, v)
        parts.append(f"{name}{old}→{v}" if old != v else f"{name}{v}")
    return " · ".join([record["model"]["id"], record["backend"]["name"],
                       record["device"]["name"], record["task"]["name"], " ".join(parts)])


def record_paths(paths: list[str | Path]) -> list[Path]:
    """Record files under files and folders; a saved baseline's manifest is skipped."""
    from harness.baselines import MANIFEST
    from harness.results import record_files

    return [p for p in record_files(paths) if p.name != MANIFEST]


def load_runs(paths: list[str | Path], ignore: set[str], side: str) -> dict[tuple, Run]:
    """Read and key every record; two records with one key are ambiguous (bad input)."""
    from harness.results import read_record

    runs: dict[tuple, Run] = {}
    files = record_paths(paths)
    if not files:
        raise DataError(f"{side}: no record files in {', '.join(map(str, paths))}")
    for path in files:
        rec = read_record(path)
        run = Run(path, rec, run_key(rec, ignore))
        if run.key in runs:
            raise DataError(f"{side}: same run as {runs[run.key].path} ({label(rec)}); "
                            "pass one run's records per side", path=path)
        runs[run.key] = run
    return runs


# ------------------------------------------------------------------ comparing
def _provenance_warnings(pairs: list[tuple[Run, Run]]) -> list[str]:
    """Different host fingerprints or runtime versions between baseline and current."""
    hosts, runtimes = set(), set()
    for b, c in pairs:
        hb, hc = b.record["env"]["host"], c.record["env"]["host"]
        if hb["id"] != hc["id"]:
            hosts.add(f"baseline host {hb['id']} ({hb['cpu_model']}, {hb['cores_logical']} "
                      f"cores) vs current host {hc['id']} ({hc['cpu_model']}, "
                      f"{hc['cores_logical']} cores)")
        rb, rc = b.record["env"]["runtimes"], c.record["env"]["runtimes"]
        for name in sorted(set(rb) | set(rc)):
            if rb.get(name) != rc.get(name):
                runtimes.add(f"{name} {rb.get(name)} -> {rc.get(name)}")
    out = [f"different hosts: {h}; the comparison measures the machines, not only the "
           "change" for h in sorted(hosts)]
    if runtimes:
        out.append("different runtime versions: " + ", ".join(sorted(runtimes)))
    return out


def _run_notes(b: dict, c: dict, ignored: set[str]) -> list[str]:
    notes = []
    if b["model"]["sha256"] != c["model"]["sha256"]:
        notes.append(f"model sha256 changed: {str(b['model']['sha256'])[:12]} -> "
                     f"{str(c['model']['sha256'])[:12]}")
    if b["task"]["version"] != c["task"]["version"]:
        notes.append(f"task version changed: {b['task']['version']} -> {c['task']['version']}")
    for k in sorted(ignored & (set(b["params"]) | set(c["params"]))):
        old, new = b["params"].get(k), c["params"].get(k)
        if shown(k, new) and old != new:
            notes.append(f"{k} differs ({old} -> {new}), ignored in matching")
    return notes


def _metric_rows(b: Run, c: Run, config) -> list[dict]:
    from harness.gate_stats import compare

    device, task = c.record["device"]["name"], c.record["task"]["name"]
    base = {m["metric"]: m for m in b.record["measurements"]}
    cur = {m["metric"]: m for m in c.record["measurements"]}
    rows = []
    for name in list(base) + [m for m in cur if m not in base]:
        mb, mc = base.get(name), cur.get(name)
        m = mc or mb
        row = {"metric": name, "unit": m["unit"], "higher_is_better": m["higher_is_better"]}
        if mb is None or mc is None:
            where = "baseline" if mb is None else "current"
            rows.append({**row, "decision": MISSING, "reason": f"not in the {where} run"})
            continue
        outcome = compare(mb["samples"], mc["samples"], mc["higher_is_better"],
                          config.rule(name, m["unit"], device, task), alpha=config.alpha,
                          confidence=config.confidence)
        if outcome is None:
            rows.append({**row, "decision": NO_SAMPLES, "reason": "a side has no samples"})
        else:
            rows.append({**row, **outcome.to_dict()})
    return rows


def _pair_rows(b: Run, c: Run, config) -> list[dict]:
    if b.ok and c.ok:
        return _metric_rows(b, c, config)
    if b.ok:
        err = c.record["error"] or {}
        decision, reason = RUN_FAILED, f"{err.get('kind')}: {err.get('message')}"
    else:
        decision = BASELINE_FAILED if c.ok else BOTH_FAILED
        reason = "nothing to compare against"
    return [{"metric": "-", "unit": "", "decision": decision, "reason": reason}]


def compare_runs(baseline: dict[tuple, Run], current: dict[tuple, Run], config,
                 ignored: set[str], strict: bool = False) -> Report:
    """Match runs by key and decide every metric (module docstring)."""
    report = Report(strict=strict, alpha=config.alpha, confidence=config.confidence,
                    config=str(config.source) if config.source else None)
    pairs = [(baseline[k], current[k]) for k in current if k in baseline]
    report.matched = len(pairs)
    report.baseline_only = [label(r.record) for k, r in baseline.items() if k not in current]
    report.current_only = [label(r.record) for k, r in current.items() if k not in baseline]
    report.warnings = _provenance_warnings(pairs)
    for b, c in pairs:
        run = label(c.record, b.record)
        report.notes += [f"{run}: {n}" for n in _run_notes(b.record, c.record, ignored)]
        report.rows += [{"run": run, **row} for row in _pair_rows(b, c, config)]
    return report


# ------------------------------------------------------------------ CLI
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
    from harness import baselines, gate_config, gate_report

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
    from harness import baselines

    folder, notes = baselines.save(args.results, args.device, args.baselines_dir)
    for n in notes:
        print(f"sllm-bench: {n}", file=sys.stderr)
    print(folder)
    return 0


def cmd_baseline_show(args) -> int:
    from harness import baselines

    sys.stdout.write(baselines.show(args.device, args.baselines_dir, args.format))
    return 0


def cmd_export(args) -> int:
    from harness import pytest_benchmark_export
    from harness.results import read_record, write_json

    records = [read_record(p) for p in record_paths(args.results)]
    if not records:
        raise DataError(f"no record files in {', '.join(args.results)}")
    write_json(Path(args.output), pytest_benchmark_export.document(records))
    print(args.output)
    return 0
