"""Match runs of a baseline and a current set of records, and decide every metric.

Runs are matched by Record.key: model id, backend, device profile, task name and params
(all but the config's `ignore_params` and `--ignore-param`); a changed model sha256, task
version or ignored param is reported on the run, not a mismatch. Every metric of a matched
pair is decided by harness.gate.stats with its rule from harness.gate.config and its
direction from the metric registry (harness.metrics; the record's own higher_is_better
for a metric the registry does not know). token_perplexity of two runs that scored the
same windows is decided by the paired ratio of their perplexities (paired_perplexity).
Repetitions either run spent warming up are dropped from both sides before the test
(harness.gate.repetitions).

Report.exit_code is 1 when a metric regressed or a current run failed whose baseline ran,
or (strict) when anything could not be decided: runs or metrics on one side only, failed
baselines, too few samples, a side without usable samples (none, or only None/NaN) or
with an infinite sample; 0 otherwise. Bad input (a record that does not read or
validate, two records of one run on a side) is a DataError.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from harness import metrics
from harness.errors import DataError
from harness.gate.repetitions import gated_samples, warm_up_floor, without_warm_up
from harness.gate.stats import (IMPROVED, OK, REGRESSION, UNDECIDABLE, UNDECIDED, Outcome,
                                compare, decide, floor_p, holm, repetitions_needed)
from harness.records import Record, options_text, shown_param

RUN_FAILED = "run failed"
BASELINE_FAILED = "baseline failed"
BOTH_FAILED = "both failed"
MISSING = "missing"


@dataclass
class Run:
    """One record and the key it is matched by."""

    path: Path
    record: Record
    key: tuple

    @property
    def ok(self) -> bool:
        return self.record.ok


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
    holm: bool = True
    family: int = 0  # how many gated metrics shared alpha (Holm)
    confidence: float = 0.95
    config: str | None = None

    def count(self, *decisions: str) -> int:
        return sum(r["decision"] in decisions for r in self.rows)

    @property
    def failures(self) -> int:
        return self.count(REGRESSION, RUN_FAILED, UNDECIDABLE)

    @property
    def regressions(self) -> int:
        return self.count(REGRESSION, RUN_FAILED)

    @property
    def undecidable(self) -> int:
        return self.count(UNDECIDABLE)

    @property
    def undecided(self) -> int:
        return (self.count(*UNDECIDED, BASELINE_FAILED, BOTH_FAILED, MISSING)
                + len(self.baseline_only) + len(self.current_only))

    @property
    def exit_code(self) -> int:
        return 1 if self.failures or (self.strict and self.undecided) else 0


# ------------------------------------------------------------------ matching
def load_runs(paths: list[str | Path], ignore: set[str], side: str) -> dict[tuple, Run]:
    """Read and key every record; two records with one key are ambiguous (bad input)."""
    from harness.gate.baselines import record_paths
    from harness.records import read_record

    runs: dict[tuple, Run] = {}
    files = record_paths(paths)
    if not files:
        raise DataError(f"{side}: no record files in {', '.join(map(str, paths))}")
    for path in files:
        rec = read_record(path)
        run = Run(path, rec, rec.key(ignore))
        if run.key in runs:
            raise DataError(f"{side}: same run as {runs[run.key].path} ({rec.label()}); "
                            "pass one run's records per side", path=path)
        runs[run.key] = run
    return runs


# ------------------------------------------------------------------ comparing
def provenance_warnings(pairs: list[tuple[Run, Run]]) -> list[str]:
    """Different host fingerprints or runtime versions between baseline and current."""
    hosts, runtimes = set(), set()
    for b, c in pairs:
        hb, hc = b.record.env["host"], c.record.env["host"]
        if hb["id"] != hc["id"]:
            hosts.add(f"baseline host {hb['id']} ({hb['cpu_model']}, {hb['cores_logical']} "
                      f"cores) vs current host {hc['id']} ({hc['cpu_model']}, "
                      f"{hc['cores_logical']} cores)")
        rb, rc = b.record.env["runtimes"], c.record.env["runtimes"]
        for name in sorted(set(rb) | set(rc)):
            if rb.get(name) != rc.get(name):
                runtimes.add(f"{name} {rb.get(name)} -> {rc.get(name)}")
    out = [f"different hosts: {h}; the comparison measures the machines, not only the "
           "change" for h in sorted(hosts)]
    if runtimes:
        out.append("different runtime versions: " + ", ".join(sorted(runtimes)))
    return out + conditions_warnings(pairs)


def conditions_warnings(pairs: list[tuple[Run, Run]]) -> list[str]:
    """Speed records whose measurement conditions differ (e.g. a quiet baseline against a
    contended current run): the difference may be the machine's state, not the change."""
    out = []
    for b, c in pairs:
        sb, sc = b.record.conditions_state, c.record.conditions_state
        if b.record.kind in ("speed", "soak") and sb != sc:
            why = "; ".join((c.record.conditions or b.record.conditions or {}).get(
                "evidence", ())) or "no evidence recorded"
            out.append(f"different measurement conditions for {c.record.label()}: baseline "
                       f"{sb}, current {sc} ({why}); re-measure under the same conditions")
        kb, kc = (_kernel_ms(r.record) for r in (b, c))
        if kb and kc and abs(kc / kb - 1) > CALIBRATION_GAP:
            out.append(f"the machine itself ran at another speed for {c.record.label()}: the "
                       f"calibration kernel took {kb:.1f} ms in the baseline and {kc:.1f} ms "
                       f"in the current run ({kc / kb - 1:+.0%}), so a change may be the "
                       "machine's, not the build's; re-measure base and change interleaved "
                       "on one runner (the bench-gate workflow's confirmation does)")
    return out


#: calibration kernels of baseline and current further apart than this are reported
CALIBRATION_GAP = 0.10


def _kernel_ms(r: Record) -> float | None:
    """The calibration kernel's time before the record's item (None when not recorded)."""
    k = (r.conditions or {}).get("calibration")
    v = k.get("before_ms") if isinstance(k, Mapping) else None
    return float(v) if isinstance(v, (int, float)) and v > 0 else None


def run_notes(b: Record, c: Record, ignored: set[str]) -> list[str]:
    """What differs between two matched runs without making them different runs."""
    notes = []
    if b.model["sha256"] != c.model["sha256"]:
        notes.append(f"model sha256 changed: {str(b.model['sha256'])[:12]} -> "
                     f"{str(c.model['sha256'])[:12]}")
    if b.task["version"] != c.task["version"]:
        notes.append(f"task version changed: {b.task['version']} -> {c.task['version']}")
    for k in sorted(ignored & (set(b.params) | set(c.params))):
        old, new = b.params.get(k), c.params.get(k)
        if k == "backend_options" and old != new:  # {name: value} of --set
            old, new = (options_text(v) or "none" for v in (old, new))
            notes.append(f"{k} differs ({old} -> {new}), ignored in matching")
        elif shown_param(k, new) and old != new:
            notes.append(f"{k} differs ({old} -> {new}), ignored in matching")
    return notes


def metric_rows(b: Record, c: Record, config, keep: int = 0) -> list[dict]:
    """One row per metric of either run (baseline's order first), decided or not; warm-up
    trimming leaves at least `keep` repetitions a side (warm_up_floor)."""
    known = b.metrics()
    names = known + [m for m in c.metrics() if m not in known]
    rows = []
    for name in names:
        mb, mc = b.metric(name), c.metric(name)
        m = mc or mb
        higher = metrics.direction(name, m.higher_is_better)
        row = {"metric": name, "unit": metrics.unit(name, m.unit), "higher_is_better": higher}
        if mb is None or mc is None:
            where = "baseline" if mb is None else "current"
            rows.append({**row, "decision": MISSING, "reason": f"not in the {where} run"})
            continue
        rule = config.rule(name, row["unit"], c.device, c.task_name)
        paired, why_not = (paired_perplexity(b, c, rule, config)
                           if name == PAIRED_PERPLEXITY else (None, None))
        if paired is not None:
            rows.append({**row, **paired.to_dict()})
            continue
        (sb, why_b), (sc, why_c) = gated_samples(b, name), gated_samples(c, name)
        why_b = why_b or why_not
        sb, sc, dropped, warm_note = without_warm_up(b, c, name, sb, sc, higher, rule, keep)
        outcome = compare(sb, sc, higher, rule, alpha=config.alpha,
                          confidence=config.confidence).to_dict()
        if why_b or why_c:
            outcome["reason"] = f"{outcome['reason']} ({why_c or why_b})"
        if dropped:
            outcome["warm_up_dropped"], outcome["warm_up"] = dropped, warm_note
        rows.append({**row, **outcome})
    return rows


#: decided by the paired ratio of the two runs' perplexities over the same windows
PAIRED_PERPLEXITY = "token_perplexity"


def paired_perplexity(b: Record, c: Record, rule, config
                      ) -> tuple[Outcome | None, str | None]:
    """token_perplexity of two runs that scored the same windows (equal window_tokens):
    the paired ratio ppl(current) / ppl(baseline) from the per-window NLL differences
    (harness.measure.windows.perplexity_ratio), a regression when it is worse beyond the
    rule's threshold and its one-sided p < alpha. (None, why) when the unpaired rule (the
    1% tolerance) decides instead: the windows differ or were not recorded, the ratio has
    no standard error (too few windows or documents), or the config asks for tolerance."""
    tokens = b.samples("window_tokens")
    if not rule.gate or rule.rule == "tolerance":
        return None, None
    if not tokens or tokens != c.samples("window_tokens"):
        return None, "not paired: the runs scored different windows"
    from harness.measure.windows import perplexity_ratio

    docs = c.samples("window_document") or None
    args = (b.samples("window_nll"), c.samples("window_nll"), tokens)
    found, p = perplexity_ratio(*args, documents=docs)
    if found is None:
        return None, "not paired: the runs' windows do not match"
    if p is None:
        return None, f"not paired: {found.reason}"
    n = len(tokens)
    common = dict(n_baseline=n, n_current=n, baseline=_first(b), current=_first(c),
                  change=found.value - 1.0, rule="paired windows")
    side = (1.0 + config.confidence) / 2.0
    low, _ = perplexity_ratio(*args, side="lower", level=side, documents=docs)
    high, _ = perplexity_ratio(*args, side="upper", level=side, documents=docs)
    interval = (low.bound - 1.0, high.bound - 1.0)
    change, p_good = found.value - 1.0, 1.0 - p
    worse_abs = change * (common["baseline"] or 1.0)  # in perplexity
    decision, reason = decide(change, worse_abs, p, p_good, rule, config.alpha,
                              test="paired p")
    if decision == OK:
        reason += f" (paired over {n} windows)"
    return Outcome(interval=interval, p=min(p, p_good), decision=decision, reason=reason,
                   p_worse=p, **common), None


def _first(r: Record) -> float | None:
    v = r.samples(PAIRED_PERPLEXITY)
    return float(v[0]) if v else None


def pair_rows(b: Run, c: Run, config, keep: int = 0) -> list[dict]:
    if b.ok and c.ok:
        return metric_rows(b.record, c.record, config, keep)
    if b.ok:
        err = c.record.error or {}
        decision, reason = RUN_FAILED, f"{err.get('kind')}: {err.get('message')}"
    else:
        decision = BASELINE_FAILED if c.ok else BOTH_FAILED
        reason = "nothing to compare against"
    return [{"metric": "-", "unit": "", "decision": decision, "reason": reason}]


def compare_runs(baseline: dict[tuple, Run], current: dict[tuple, Run], config,
                 ignored: set[str], strict: bool = False) -> Report:
    """Match runs by key and decide every metric (module docstring)."""
    report = Report(strict=strict, alpha=config.alpha, holm=config.holm,
                    confidence=config.confidence,
                    config=str(config.source) if config.source else None)
    pairs = [(baseline[k], current[k]) for k in current if k in baseline]
    report.matched = len(pairs)
    report.baseline_only = [r.record.label() for k, r in baseline.items() if k not in current]
    report.current_only = [r.record.label() for k, r in current.items() if k not in baseline]
    report.warnings = provenance_warnings(pairs)
    keep = warm_up_floor(pairs, config)
    for b, c in pairs:
        run = c.record.label(b.record)
        report.notes += [f"{run}: {n}" for n in run_notes(b.record, c.record, ignored)]
        rows = pair_rows(b, c, config, keep)
        report.rows += [{"run": run, **row} for row in rows]
        report.notes += [f"{run}: {r['metric']}: {r['warm_up']}" for r in rows
                         if r.get("warm_up")]
    if config.holm:
        apply_holm(report)
    return report


def _fail_closed(report: Report, family: list[dict]) -> None:
    """A gated metric whose sample sizes cannot reach Holm's first-step level (alpha over
    the family) can never be a regression, whatever it measured: it is undecidable, and
    the compare fails closed instead of passing blind."""
    level = report.alpha / max(len(family), 1)
    for row in family:
        paired = row.get("discordant") is not None
        n, m = row.get("n_baseline"), row.get("n_current")
        if isinstance(n, int) and isinstance(m, int) and floor_p(n, m, paired) >= level:
            need = repetitions_needed(len(family), report.alpha, paired)
            row["decision"] = UNDECIDABLE
            row["reason"] = (f"{n} and {m} {'items' if paired else 'samples'} "
                             f"cannot reach the {level:.2g} level of {len(family)} tests "
                             f"(Holm); need at least {need} per side")


def apply_holm(report: Report) -> None:
    """Holm's step-down correction across every gated metric decided by a test (p_worse):
    a regression stands only when its adjusted p < alpha, so the chance of any false
    alarm in the whole compare is at most alpha. Adds p_holm to those rows."""
    family = [r for r in report.rows if r.get("p_worse") is not None
              and r["decision"] in (OK, REGRESSION, IMPROVED)]
    report.family = len(family)
    _fail_closed(report, family)
    for row, adjusted in zip(family, holm([r["p_worse"] for r in family])):
        row["p_holm"] = adjusted
        if row["decision"] == REGRESSION:
            if adjusted < report.alpha:
                row["reason"] += f", Holm-adjusted p < {report.alpha:g}"
            else:
                row["decision"] = OK
                row["reason"] += (f", but not after Holm's correction over {len(family)} "
                                  f"gated metrics (adjusted p {adjusted:.2g})")


def reachability_notes(paths: list[str | Path], ignore: set[str]) -> list[str]:
    """Warnings for a baseline too small to detect anything: the baseline compared with
    a current run of its own size (the sample sizes decide what a compare can reach)."""
    from harness.gate import config as gate_config

    runs = load_runs(paths, ignore, "baseline")
    report = compare_runs(runs, runs, gate_config.load(), ignore)
    bad = [row for row in report.rows if row["decision"] == UNDECIDABLE]
    if not bad:
        return []
    return [f"warning: {len(bad)} of the {report.family} gated tests a compare against this "
            f"baseline makes are undecidable ({bad[0]['metric']}: {bad[0]['reason']}); such "
            "a compare fails closed: save runs with more repetitions"]
