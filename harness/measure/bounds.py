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
  largest sample is not a 95% bound of the median (P(median > max of n) = 0.5^n).
- percentile_bound: ITL percentiles. Gaps of one repetition are correlated (a slow
  stretch, a neighbour's burst), so the gaps are never treated as independent: the
  standard error of the share of gaps above the pooled percentile comes from a bootstrap
  that resamples whole repetitions, and Woodruff's method turns it into a bound on the
  percentile (Student t, repetitions - 1 df). A percentile bootstrap of pooled gaps
  PASSes 10-16% at the budget even when resampling repetitions. Woodruff: 1-3% at p99 with 10 repetitions. p99 needs
  MIN_REPS_PERCENTILE[99] repetitions (simulated: benchmarks/simulate_verdicts.py).
- accuracy_bound: exact one-sided Clopper-Pearson bound of a proportion (0/1 samples).
- perplexity_bound: the ratio estimator r = sum(nll) / sum(tokens) over windows, its
  delta-method standard error, a Student-t bound on r, exp() of it (perplexity).
- single: a single reading (load time of one worker, a peak RSS, determinism): the
  value, no bound.
The soak's memory slope is in harness.measure.soak.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

LEVEL = 0.95
RESAMPLES = 2000
SEED = 20261121
MIN_REPS_MEDIAN = 5
#: repetitions a percentile's bound needs (per percentile; others: the nearest above)
MIN_REPS_PERCENTILE = {50: 10, 90: 10, 99: 10}
MIN_WINDOWS = 5
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


def _check_side(side: str) -> None:
    if side not in ("upper", "lower"):
        raise ValueError(f"side must be 'upper' or 'lower', got {side!r}")


def _finite(samples: Sequence[float]) -> list[float]:
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

    _check_side(side)
    xs = np.sort(np.asarray(_finite(samples), dtype=float))
    if xs.size == 0:
        return None
    n, med = int(xs.size), float(np.median(xs))
    if n == 1:
        return single(med)
    method = (f"median of {n} repetitions, one-sided {level:.0%} order-statistic "
              "(binomial) bound")
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
                     level: float = LEVEL, resamples: int = RESAMPLES, seed: int = SEED
                     ) -> Bound | None:
    """The q-th percentile of the pooled gaps and its bound from a bootstrap over whole
    repetitions (module docstring)."""
    import numpy as np

    _check_side(side)
    reps = [np.asarray(_finite(r), dtype=float) for r in reps]
    reps = [r for r in reps if r.size]
    if not reps:
        return None
    pooled = np.concatenate(reps)
    value = float(np.percentile(pooled, q))
    k, need = len(reps), min_reps_for(q)
    method = (f"p{q:g} of {pooled.size} gaps in {k} repetitions, one-sided {level:.0%} "
              "bound (Woodruff, SE by bootstrap over repetitions)")
    if k < need:
        return Bound(value, None, method, level, k, side,
                     f"{k} repetitions cannot bound p{q:g} at {level:.0%} (needs {need})")
    # Woodruff: the bound of the q-th percentile is the pooled percentile at q + t * se,
    # se the standard error of the share of gaps above it, estimated by resampling whole
    # repetitions (gaps within one repetition are correlated)
    from scipy.stats import t as student

    above = np.array([np.count_nonzero(r > value) for r in reps], dtype=float)
    sizes = np.array([r.size for r in reps], dtype=float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, k, size=(resamples, k))
    shares = above[idx].sum(axis=1) / sizes[idx].sum(axis=1)
    # the bootstrap's spread is the plug-in SE, too small by sqrt((k - 1) / k) beside a
    # Student t with k - 1 degrees of freedom: scaled back up
    se = float(np.std(shares, ddof=1)) * (k / (k - 1)) ** 0.5
    shift = float(student.ppf(level, k - 1)) * max(se, 0.5 / pooled.size)
    at = q / 100.0 + shift if side == "upper" else q / 100.0 - shift
    if not 0.0 <= at <= 1.0:
        return Bound(value, None, method, level, k, side,
                     f"{pooled.size} gaps in {k} repetitions cannot bound p{q:g} at "
                     f"{level:.0%}: more repetitions needed")
    b = float(np.quantile(pooled, at, method="higher" if side == "upper" else "lower"))
    return Bound(value, b, method, level, k, side)


def accuracy_bound(samples: Sequence[float], side: str, level: float = LEVEL
                   ) -> Bound | None:
    """Share of correct items and its exact one-sided Clopper-Pearson bound."""
    from scipy.stats import beta

    _check_side(side)
    xs = _finite(samples)
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


def perplexity_bound(window_nll: Sequence[float], window_tokens: Sequence[float],
                     side: str = "upper", level: float = LEVEL) -> Bound | None:
    """Token perplexity exp(r), r = sum nll / sum tokens, with a one-sided bound from the
    ratio estimator's delta-method standard error (Student t, windows - 1 df)."""
    from scipy.stats import t as student

    _check_side(side)
    nll, tok = _finite(window_nll), _finite(window_tokens)
    if not nll or len(nll) != len(tok) or sum(tok) <= 0:
        return None
    r, se = ratio_se(nll, tok)
    n = len(nll)
    method = (f"exp(sum nll / sum tokens) over {n} windows, one-sided {level:.0%} bound "
              "(ratio estimator, delta-method SE)")
    if n < MIN_WINDOWS:
        return Bound(math.exp(r), None, method, level, n, side,
                     f"{n} windows cannot give a standard error (needs {MIN_WINDOWS})")
    z = float(student.ppf(level, n - 1)) * se
    return Bound(math.exp(r), math.exp(r + z if side == "upper" else r - z), method,
                 level, n, side, notes=(f"SE of log-perplexity {se:.4g}",))
