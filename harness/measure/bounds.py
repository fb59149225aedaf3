"""The verdict's statistics: one value and one one-sided 95% bound per budget.

Every bound here is one-sided at LEVEL (95%) on the side the caller names: "upper" for a
budget with a maximum (the true value is at most the bound with 95% confidence),
"lower" for a minimum. A bound that cannot honestly be given (too few repetitions, a
single reading) is None, with the reason; the caller reports "no bound" or NOT MEASURED.
Each result names its method, so the table, report and verdict.json say what it is.

- median_bound: speed metrics (one sample per repetition, repetitions independent). The
  exact distribution-free bound of the median: the k-th smallest (largest) repetition,
  k from Binomial(n, 1/2). A percentile bootstrap of the median was simulated too and
  PASSed 7-8% of budgets equal to the true median at n = 5-20 (it is anti-conservative
  at small n), so it is not used. Needs MIN_REPS_MEDIAN repetitions: below 5, even the
  largest sample is not a 95% bound of the median (P(median > max of n) = 0.5^n). It
  bounds the median of the repetitions as they ran: under warm-up drift that is not the
  warmed machine's median, and the method string says so.
- percentile_bound: ITL percentiles of the pooled gaps. Repetitions are the unit: gaps of
  one repetition are correlated (a slow stretch, a neighbour's burst) and a slow mode may
  hit whole repetitions, so nothing assumes independent gaps. Woodruff's method: the
  bound is the smallest pooled gap U whose share of gaps above it has a one-sided
  Clopper-Pearson bound of at most 1 - q, with the effective sample size of the pooled
  gaps (Korn and Graubard's interval for clustered data: gaps / design effect, the design
  effect from the between-repetition variance of the share above U, at its chi-square
  upper bound, and k - 1 degrees of freedom, fewer when the repetitions' counts are
  heavy-tailed, though not below 28), one more repetition like the worst seen counted in.
  It needs MIN_REPS_PERCENTILE (29) repetitions: a slow mode in 1 of 10 repetitions is
  then missed with probability 0.9^29 < 5%, and a slow mode no repetition shows cannot be
  bounded by any method (the old bootstrap SE with 10 repetitions PASSed 23-33% of
  budgets at a bimodal process's true p99). The assumption: no slow mode rarer than 1 in
  10 repetitions holds more than the share 1 - q of the gaps. Simulated
  (benchmarks/simulate_verdicts.py, 1,000 runs a row: independent, AR(0.8) with bursts,
  bimodal, bursty, AR(0.5/0.9) with heavy-tailed repetition levels, warm-up drift; 30
  and 50 repetitions of 63 gaps): PASS at a budget equal to the true p99 0-3.8%, the rest
  bounded above it or NOT MEASURED (bimodal at 30 repetitions: 77% NOT MEASURED); at 100
  and 200 repetitions (300 runs) at most 4.3%.
- accuracy_bound: exact one-sided Clopper-Pearson bound of a proportion (0/1 samples).
- perplexity_bound, perplexity_ratio: in harness.measure.windows (windows of a text).
- single: a single reading (load time of one worker, a peak RSS, determinism): the
  value, no bound.
The soak's memory slope is in harness.measure.soak.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

LEVEL = 0.95
MIN_REPS_MEDIAN = 5
#: repetitions a percentile's bound needs (per percentile; others: the nearest above)
MIN_REPS_PERCENTILE = {50: 29, 90: 29, 99: 29}
#: speed repetitions a verify runs by default: enough for every bound above (a slow mode in
#: 1 of 10 repetitions then shows with 95% probability)
VERIFY_REPS = max(MIN_REPS_PERCENTILE.values()) + 1
SINGLE = "single reading, no bound"


@dataclass(frozen=True)
class Bound:
    """A measured value and its one-sided bound (None: no bound, `reason` says why)."""

    value: float | None
    bound: float | None
    method: str
    level: float | None
    n: int
    side: str = "upper"
    reason: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def bounded(self) -> bool:
        return self.bound is not None and math.isfinite(self.bound)


def check_side(side: str) -> None:
    if side not in ("upper", "lower"):
        raise ValueError(f"side must be 'upper' or 'lower', got {side!r}")


def finite(samples: Sequence[float]) -> list[float]:
    return [float(x) for x in samples if x is not None and math.isfinite(float(x))]


def single(value: float, what: str = SINGLE, n: int = 1) -> Bound:
    """A reading with no bound: decided on its value."""
    return Bound(float(value), None, what, None, n)


def _quantile(values, level: float, side: str) -> float:
    """The bootstrap quantile on the unfavourable side, at the conservative rank."""
    import numpy as np

    if side == "upper":
        return float(np.quantile(values, level, method="higher"))
    return float(np.quantile(values, 1.0 - level, method="lower"))


def median_bound(samples: Sequence[float], side: str, level: float = LEVEL) -> Bound | None:
    """Median over repetitions and its one-sided bound (module docstring)."""
    import numpy as np
    from scipy.stats import binom

    check_side(side)
    xs = np.sort(np.asarray(finite(samples), dtype=float))
    if xs.size == 0:
        return None
    n, med = int(xs.size), float(np.median(xs))
    if n == 1:
        return single(med)
    method = (f"median of {n} repetitions as measured (any warm-up drift included), "
              f"one-sided {level:.0%} order-statistic (binomial) bound")
    # the largest k with P(Binomial(n, 1/2) <= k - 1) <= 1 - level: X_(k) is a lower
    # bound of the median (X_(n+1-k) an upper one) with at least `level` confidence
    k = int(binom.ppf(1.0 - level, n, 0.5))
    while k > 0 and binom.cdf(k - 1, n, 0.5) > 1.0 - level:
        k -= 1
    if k < 1:
        return Bound(med, None, method, level, n, side,
                     f"{n} repetitions cannot bound a median at {level:.0%} (needs "
                     f"{MIN_REPS_MEDIAN}: P(median > largest of n) = 0.5^n)")
    return Bound(med, float(xs[k - 1] if side == "lower" else xs[n - k]), method, level,
                 n, side)


def split_repetitions(gaps: Sequence[float], repetitions: int | None,
                      gen_tokens: int | None, tokens_out: Sequence[float] = ()
                      ) -> list[list[float]] | None:
    """The pooled inter-token gaps cut back into repetitions (speed scenario: each
    repetition adds its generated tokens - 1 gaps, in order). None when the counts do not
    add up (then repetitions cannot be recovered)."""
    gaps = list(gaps)
    if tokens_out:
        sizes = [int(t) - 1 for t in tokens_out]
    elif gen_tokens and repetitions:
        sizes = [int(gen_tokens) - 1] * int(repetitions)
    elif gen_tokens and gen_tokens > 1 and len(gaps) % (int(gen_tokens) - 1) == 0:
        sizes = [int(gen_tokens) - 1] * (len(gaps) // (int(gen_tokens) - 1))
    else:
        return None
    if any(s < 1 for s in sizes) or sum(sizes) != len(gaps):
        return None
    out, start = [], 0
    for s in sizes:
        out.append(gaps[start: start + s])
        start += s
    return out


def min_reps_for(q: float) -> int:
    """Repetitions a bound of the q-th percentile needs."""
    for p in sorted(MIN_REPS_PERCENTILE):
        if q <= p:
            return MIN_REPS_PERCENTILE[p]
    return MIN_REPS_PERCENTILE[max(MIN_REPS_PERCENTILE)]


def percentile_bound(reps: Sequence[Sequence[float]], q: float, side: str,
                     level: float = LEVEL) -> Bound | None:
    """The q-th percentile of the pooled gaps and its bound, repetitions the unit (module
    docstring)."""
    import numpy as np

    check_side(side)
    reps = [np.asarray(finite(r), dtype=float) for r in reps]
    reps = [r for r in reps if r.size]
    if not reps:
        return None
    pooled = np.concatenate(reps)
    value = float(np.percentile(pooled, q))
    k, need = len(reps), min_reps_for(q)
    method = (f"p{q:g} of {pooled.size} gaps in {k} repetitions, one-sided {level:.0%} "
              "bound (Woodruff on a Clopper-Pearson bound, effective size from the "
              "variance between repetitions)")
    if k < need:
        return Bound(value, None, method, level, k, side,
                     f"{k} repetitions cannot bound p{q:g} at {level:.0%}: needs {need}, so "
                     "that a slow mode in 1 of 10 repetitions is seen with 95% probability")
    if side == "upper":
        b = _upper_percentile(reps, q, level)
    else:
        b = _upper_percentile([-r for r in reps], 100.0 - q, level)
        b = None if b is None else -b
    if b is None:
        return Bound(value, None, method, level, k, side,
                     f"{pooled.size} gaps in {k} repetitions cannot bound p{q:g} at "
                     f"{level:.0%}: the gaps differ too much between repetitions; more "
                     "repetitions needed")
    return Bound(value, b, method, level, k, side)


def _upper_percentile(reps, q: float, level: float) -> float | None:
    """The smallest pooled gap U whose share of gaps above it has an upper bound of at
    most 1 - q: a Clopper-Pearson bound with the effective sample size of the pooled gaps
    at U (gaps / design effect; the design effect from the variance of the share above U
    between repetitions, at least that above the percentile itself, taken at its
    chi-square upper bound and scaled by (z / t)^2 for the repetitions' degrees of
    freedom: Korn and Graubard's interval for a proportion from clustered data)."""
    import numpy as np
    from scipy.stats import beta, chi2, norm
    from scipy.stats import t as student

    k = len(reps)
    pooled = np.sort(np.concatenate(reps))
    n = float(pooled.size)
    tail = 1.0 - q / 100.0
    if tail <= 0.0:
        return None
    value = float(np.percentile(pooled, q))
    cand = np.unique(np.concatenate([[value], pooled[pooled > value]]))
    sizes = np.array([r.size for r in reps], dtype=float)[:, None]
    # gaps of each repetition above each candidate (rows: repetitions)
    above = np.stack([r.size - np.searchsorted(np.sort(r), cand, side="right")
                      for r in reps]).astype(float)
    # one more repetition like the worst seen at each candidate: a slow mode rarer than
    # the repetitions could show is not assumed away
    worst = np.argmax(above / sizes, axis=0)
    cols = np.arange(cand.size)
    share = (above.sum(axis=0) + above[worst, cols]) / (n + sizes[worst, 0])
    dev = above - share * sizes
    var = k / (k - 1) * np.sum(dev ** 2, axis=0) / n ** 2
    # the variance's degrees of freedom shrink with the kurtosis of the repetitions'
    # counts (a rare far-off repetition): 2 / (2 / (k - 1) + excess kurtosis / k), but
    # not below those of MIN_REPS_PERCENTILE repetitions
    m2 = np.mean(dev ** 2, axis=0)
    m4 = np.mean(dev ** 4, axis=0)
    excess = np.maximum(np.divide(m4, m2 ** 2, out=np.full_like(m2, 3.0),
                                  where=m2 > 0) - 3.0, 0.0)
    floor = min(k, min(MIN_REPS_PERCENTILE.values())) - 1.0
    df = np.clip(2.0 / (2.0 / (k - 1) + excess / k), floor, k - 1.0)
    var *= df / chi2.ppf(1.0 - level, df)
    deff = np.maximum(1.0, var / np.maximum(share * (1.0 - share) / n, 1e-300))
    deff = np.maximum.accumulate(deff)  # never below the design effect further down
    eff = n / deff * (float(norm.ppf(level)) / student.ppf(level, np.maximum(df, 1.0))) ** 2
    x = share * eff
    ucb = beta.ppf(level, x + 1.0, np.maximum(eff - x, 1e-9))
    ok = np.nonzero(ucb <= tail)[0]
    return float(cand[ok[0]]) if ok.size else None


def accuracy_bound(samples: Sequence[float], side: str, level: float = LEVEL
                   ) -> Bound | None:
    """Share of correct items and its exact one-sided Clopper-Pearson bound."""
    from scipy.stats import beta

    check_side(side)
    xs = finite(samples)
    if not xs:
        return None
    if any(x not in (0.0, 1.0) for x in xs):
        raise ValueError("accuracy_bound needs 0/1 samples")
    n, k = len(xs), int(sum(xs))
    a = 1.0 - level
    if side == "lower":
        b = 0.0 if k == 0 else float(beta.ppf(a, k, n - k + 1))
    else:
        b = 1.0 if k == n else float(beta.ppf(1 - a, k + 1, n - k))
    return Bound(k / n, b, f"{k}/{n} items, one-sided {level:.0%} Clopper-Pearson bound",
                 level, n, side)


def ratio_se(num: Sequence[float], den: Sequence[float]) -> tuple[float, float]:
    """(r, se): r = sum(num) / sum(den) and its delta-method standard error over units."""
    n = len(num)
    tot_n, tot_d = float(sum(num)), float(sum(den))
    r = tot_n / tot_d
    if n < 2:
        return r, math.nan
    resid = sum((a - r * b) ** 2 for a, b in zip(num, den))
    return r, math.sqrt(n / (n - 1) * resid) / tot_d
