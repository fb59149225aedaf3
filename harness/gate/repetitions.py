"""The samples the gate compares when a metric's samples are a run's repetitions: one
median gap per repetition for pooled inter-token gaps, and without the leading
repetitions either run spent warming up (harness.measure.warmup)."""

from __future__ import annotations

from harness import metrics
from harness.gate.stats import repetitions_needed
from harness.measure.warmup import warm_up
from harness.records import Record


def gated_samples(r: Record, name: str) -> tuple[tuple[float, ...], str | None]:
    """The samples the gate compares, and what they are when not the recorded ones.
    Inter-token gaps are recorded pooled over repetitions; the gaps of one repetition
    share its speed and are not independent, so such a metric (the registry's
    gate_by_repetition: itl_ms) is compared as one median gap per repetition (none when the
    repetitions cannot be recovered: the metric is undecided)."""
    entry = metrics.get(name)
    if entry is None or not entry.gate_by_repetition:
        return r.samples(name), None
    import statistics

    from harness.measure.bounds import split_repetitions

    reps = split_repetitions(r.samples(name), r.params.get("repetitions"),
                             r.params.get("gen_tokens"), r.samples("gen_tokens_out"))
    if reps is None:
        return (), "the repetitions cannot be recovered from the pooled gaps"
    return tuple(statistics.median(x) for x in reps), "median gap per repetition"


def without_warm_up(b: Record, c: Record, name: str, sb: tuple, sc: tuple, higher: bool,
                    rule, keep: int = 0) -> tuple[tuple, tuple, int, str]:
    """Both sides' samples without the leading repetitions either run spent warming up
    (harness.measure.warmup), how many were dropped, and a note saying why ("" when none
    was). The same count is dropped from both, so the compare still sets repetition i
    against repetition i: a warm-up the test missed on one side would otherwise count
    against that side alone. Only samples that are a run's repetitions in run order (one
    per repetition of a metric the registry aggregates by median, or gated by repetition)
    are trimmed, and only when the rule asks (warm_up, on by default) and tests them; at
    least `keep` remain."""
    entry = metrics.get(name)
    ordered = (rule.gate and rule.warm_up and rule.rule != "tolerance" and entry is not None
               and (entry.aggregate == "median" or entry.gate_by_repetition)
               and b.params.get("repetitions") == len(sb)
               and c.params.get("repetitions") == len(sc))
    if not ordered:
        return sb, sc, 0, ""
    found = [(side, warm_up(s, higher, keep)) for side, s in (("baseline", sb),
                                                             ("current", sc))]
    drop = max(w.dropped for _, w in found)
    if not drop:
        return sb, sc, 0, ""
    why = "; ".join(f"{side}: {w.text()}" for side, w in found if w.dropped)
    return sb[drop:], sc[drop:], drop, f"first {drop} repetitions of both runs dropped, {why}"


def warm_up_floor(pairs: list, config) -> int:
    """The fewest repetitions warm-up trimming may leave a side: enough for the smallest
    Mann-Whitney p to reach Holm's first level over every gated metric the pairs share
    (an upper bound on the compare's family), so trimming never makes a test undecidable
    that was not."""
    tests = 0
    for b, c in pairs:
        if b.ok and c.ok:
            for name in set(b.record.metrics()) & set(c.record.metrics()):
                unit = metrics.unit(name, c.record.metric(name).unit)
                tests += config.rule(name, unit, c.record.device, c.record.task_name).gate
    return repetitions_needed(max(tests, 1) if config.holm else 1, config.alpha)
