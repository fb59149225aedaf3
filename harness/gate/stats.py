"""The gate's statistics: is CURRENT worse than BASELINE for one metric?

Definitions, for one metric with baseline samples x, current samples y and the metric's
own direction (higher_is_better):

- center: the median of the samples, or their mean when the rule says so (accuracies are
  0/1 samples, whose median says nothing).
- change: center(y) / center(x) - 1, signed as measured (+5% ms is slower, +5% tokens/s
  is faster). abs_change: center(y) - center(x), in the metric's unit.
- worsening: the change in the bad direction (-change when higher is better, +change
  otherwise); abs_worsening likewise. Negative worsening is an improvement.
- interval: percentile-bootstrap interval of change, x and y resampled independently
  (2000 resamples, fixed seed, so the same samples always give the same interval).
- p: one-sided Mann-Whitney U p-value in the direction of the observed change: that y is
  worse than x when its center is worse, that y is better otherwise (exact without ties
  and for small samples, normal approximation with tie correction otherwise). It holds
  for any distribution, outliers included: two sets of independent samples from one
  distribution give p < alpha in at most `alpha` of cases.

- paired 0/1 samples (center mean, the same count on both sides, every sample 0 or 1:
  per-item accuracy, item i on one side is item i on the other): exact McNemar instead.
  b items went 1 -> 0, c items 0 -> 1; p is the one-sided binomial tail of the lost
  items among the b + c discordant ones (Binomial(b + c, 1/2)), mcnemar_p the two-sided
  exact p shown beside (b = 0, c = 7: 2 / 2^7 = 0.015625); the interval is a paired
  bootstrap (items resampled together); the smallest reachable p is 1 / 2^n.
- p_worse: the one-sided p that y is worse, whatever the direction of the change; the
  compare adjusts it for the number of gated metrics (Holm, harness.gate.compare).

Rules (asv's "factor and Mann-Whitney" rule, plus a rule for single measurements):

- statistical (both sides have 2+ samples): regression when worsening > threshold AND
  abs_worsening > abs_threshold AND p < alpha; improvement is the mirror image. When the
  sample sizes cannot reach alpha at all (smallest exact p = 1 / C(n+m, n) >= alpha),
  the decision is "too few samples".
- warm-up: before the test, harness.gate.compare drops the leading repetitions either
  run spent warming up, the same count from both sides (harness.measure.warmup;
  rule key warm_up, on by default).
- tolerance (a side has a single sample, e.g. load_s, peak_rss_mb, model_size_mb, or
  chosen per metric): regression when worsening > tolerance AND abs_worsening >
  abs_tolerance; tolerance 0 and abs_tolerance 0 make it exact (any worsening fails).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

# the tests themselves live below the gate, beside the other statistics (the parity
# scenario uses McNemar too); the gate only decides with them
from harness.measure.stats import (center, change_interval, clean, holm, mcnemar,
                                   mcnemar_one_sided, p_worse, paired_01, relative,
                                   smallest_p)

__all__ = ["Rule", "Outcome", "compare", "center", "change_interval", "clean", "holm",
           "mcnemar", "mcnemar_one_sided", "p_worse", "paired_01", "relative", "smallest_p"]

REGRESSION = "regression"
IMPROVED = "improved"
OK = "ok"
TOO_FEW = "too few samples"
NOT_GATED = "not gated"
NO_SAMPLES = "no samples"
NON_FINITE = "non-finite samples"
#: the compare's sample sizes cannot reach its Holm level: a failure, never a pass
UNDECIDABLE = "undecidable"
#: decisions that leave a metric undecided (a pass only without --strict)
UNDECIDED = (TOO_FEW, NO_SAMPLES, NON_FINITE)


def floor_p(n: int, m: int, paired: bool) -> float:
    """The smallest one-sided p a metric's test can give: exact McNemar 0.5^n for paired
    0/1 samples, Mann-Whitney 1 / C(n+m, n) otherwise."""
    return 0.5 ** n if paired else smallest_p(n, m)


def repetitions_needed(family: int, alpha: float, paired: bool = False) -> int:
    """The fewest samples per side whose floor p reaches alpha / family (Holm's first
    step), the least a compare of `family` gated tests needs to detect anything."""
    n = 2
    while floor_p(n, n, paired) * family >= alpha and n < 10_000:
        n += 1
    return n

@dataclass(frozen=True)
class Rule:
    """A fully resolved per-metric rule (see the module docstring for each field)."""

    gate: bool = True
    rule: str = "auto"  # auto | statistical | tolerance
    center: str = "median"  # median | mean
    threshold: float = 0.05
    abs_threshold: float = 0.0
    tolerance: float = 0.05
    abs_tolerance: float = 0.0
    warm_up: bool = True  # drop leading repetitions that show warm-up (measure.warmup)
    why: str = ""  # why a metric with gate false is not gated (the default: the config)


@dataclass(frozen=True)
class Outcome:
    """One metric compared: what was measured and what was decided, and why."""

    n_baseline: int
    n_current: int
    baseline: float | None
    current: float | None
    change: float | None
    interval: tuple[float, float] | None
    p: float | None
    rule: str
    decision: str
    reason: str
    p_worse: float | None = None  # one-sided p that current is worse (statistical rule)
    discordant: tuple[int, int] | None = None  # paired 0/1 samples: (1 -> 0, 0 -> 1) items
    mcnemar_p: float | None = None  # two-sided exact McNemar p of those counts

    def to_dict(self) -> dict:
        d = asdict(self)
        d["interval"] = list(self.interval) if self.interval else None
        d["discordant"] = list(self.discordant) if self.discordant else None
        return d


def _undecided(x: list[float], y: list[float], rule: Rule) -> Outcome | None:
    """No usable sample on a side, or an infinite one: never a pass, never an improvement
    (None when both sides are usable)."""
    bad = [f"{side} has {'no samples' if not s else f'{n} infinite sample(s)'}"
           for side, s in (("baseline", x), ("current", y))
           for n in [sum(math.isinf(v) for v in s)] if not s or n]
    if not bad:
        return None
    decision = NO_SAMPLES if not x or not y else NON_FINITE
    return _gated(Outcome(n_baseline=len(x), n_current=len(y), baseline=None, current=None,
                          change=None, interval=None, p=None, rule=rule.rule,
                          decision=decision, reason="; ".join(bad)), rule)


def _beyond(worse_rel: float | None, worse_abs: float, rel: float, abs_: float) -> bool:
    """worsening exceeds both the relative and the absolute limit."""
    return (worse_rel is None or worse_rel > rel) and worse_abs > abs_


def compare(baseline: Sequence[float | None], current: Sequence[float | None],
            higher_is_better: bool, rule: Rule = Rule(), *, alpha: float = 0.05,
            confidence: float = 0.95) -> Outcome:
    """Decide one metric (module docstring). A side without usable samples (none, or
    only None/NaN) is "no samples", an infinite sample "non-finite samples": both are
    undecided, a failure with --strict, never ok or improved."""
    x, y = clean(baseline), clean(current)
    undecided = _undecided(x, y, rule)
    if undecided is not None:
        return undecided
    sign = -1.0 if higher_is_better else 1.0
    cx, cy = center(x, rule.center), center(y, rule.center)
    change = relative(cy, cx)
    worse_rel = None if change is None else sign * change
    worse_abs = sign * (cy - cx)
    better_rel = None if worse_rel is None else -worse_rel
    kind = rule.rule
    if kind == "auto":
        kind = "tolerance" if min(len(x), len(y)) < 2 else "statistical"
    common = dict(n_baseline=len(x), n_current=len(y), baseline=cx, current=cy,
                  change=change, rule=kind)
    paired = (rule.center == "mean" and len(x) == len(baseline) and len(y) == len(current)
              and paired_01(x, y))
    if paired:
        b, c, common["mcnemar_p"] = mcnemar(x, y)
        common["discordant"] = (b, c)
    if kind == "tolerance":
        limit = f"tolerance {rule.tolerance:.1%} and {rule.abs_tolerance:g}"
        if _beyond(worse_rel, worse_abs, rule.tolerance, rule.abs_tolerance):
            decision, reason = REGRESSION, f"worse beyond {limit}"
        elif _beyond(better_rel, -worse_abs, rule.tolerance, rule.abs_tolerance):
            decision, reason = IMPROVED, f"better beyond {limit}"
        else:
            decision, reason = OK, f"within {limit}"
        return _gated(Outcome(interval=None, p=None, decision=decision, reason=reason,
                              **common), rule)
    if len(x) < 2 or len(y) < 2:
        return _gated(Outcome(interval=None, p=None, decision=TOO_FEW,
                              reason="the statistical rule needs 2+ samples per side",
                              **common), rule)
    interval = change_interval(x, y, rule.center, confidence, paired=paired)
    if paired:  # exact McNemar, one-sided: lost items (b) against won items (c)
        lost, won = (b, c) if higher_is_better else (c, b)
        p_bad, p_good = mcnemar_one_sided(lost, b + c), mcnemar_one_sided(won, b + c)
        smallest = 0.5 ** len(x)
    else:
        p_bad, p_good = p_worse(x, y, higher_is_better), p_worse(y, x, higher_is_better)
        smallest = smallest_p(len(x), len(y))
    p = p_bad if worse_abs >= 0 else p_good
    if smallest >= alpha:
        decision, reason = TOO_FEW, (f"{len(x)} and {len(y)} samples cannot reach "
                                     f"p < {alpha:g}")
    else:
        decision, reason = decide(worse_rel, worse_abs, p_bad, p_good, rule, alpha)
    return _gated(Outcome(interval=interval, p=p, decision=decision, reason=reason,
                          p_worse=p_bad, **common), rule)


def decide(worse_rel: float | None, worse_abs: float, p_bad: float, p_good: float,
           rule: Rule, alpha: float, test: str = "p") -> tuple[str, str]:
    """The statistical rule (module docstring): the decision and its reason, from the
    worsening (relative and in the unit) and the one-sided p that the current run is
    worse (p_bad) and better (p_good); `test` names the p in the reason."""
    limit = f"threshold {rule.threshold:.1%}"
    better_rel = None if worse_rel is None else -worse_rel
    if _beyond(worse_rel, worse_abs, rule.threshold, rule.abs_threshold):
        if p_bad < alpha:
            return REGRESSION, f"worse beyond {limit}, {test} < {alpha:g}"
        return OK, f"worse beyond {limit} but not significant"
    if _beyond(better_rel, -worse_abs, rule.threshold, rule.abs_threshold) and p_good < alpha:
        return IMPROVED, f"better beyond {limit}, {test} < {alpha:g}"
    return OK, f"within {limit}"


def _gated(outcome: Outcome, rule: Rule) -> Outcome:
    """A metric with gate: false is reported, never decided."""
    if rule.gate:
        return outcome
    from dataclasses import replace

    return replace(outcome, decision=NOT_GATED,
                   reason=rule.why or "gate: false in the gate config")
