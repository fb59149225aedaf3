"""Statistics derived from raw samples; the samples themselves are always kept.

Definitions (all over the raw samples of one metric):
- median, mean, min, max;
- stdev: sample standard deviation (n - 1 in the denominator), 0 for one sample;
- cv: coefficient of variation, stdev / mean;
- sem: standard error of the mean, stdev / sqrt(n) (for 0/1 samples this is the
  standard error of an accuracy, as lm-evaluation-harness reports it);
- p50, p90, p99: percentiles with linear interpolation between closest ranks;
- ci_low, ci_high: 95% percentile-bootstrap confidence interval of the median
  (2000 resamples, fixed seed so the same samples always give the same interval).

Significance tests (the gate decides with them, harness.gate.stats; the parity scenario
reports McNemar): change_interval (bootstrap interval of a relative change, optionally
paired), p_worse (one-sided Mann-Whitney U), mcnemar and mcnemar_one_sided (exact, for
paired 0/1 samples), smallest_p (the floor Mann-Whitney can reach) and holm (family-wise
adjusted p-values). Each function's docstring gives its definition.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 20261121
EXACT_MAX_PAIRS = 2500  # exact Mann-Whitney p-values up to n * m pairs (50 x 50)


def percentile(samples: Sequence[float], q: float) -> float:
    """q in [0, 100], linear interpolation (numpy's default method)."""
    xs = sorted(samples)
    if not xs:
        return math.nan
    pos = (len(xs) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def bootstrap_ci(samples: Sequence[float], stat=None, confidence: float = 0.95,
                 resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED
                 ) -> tuple[float, float]:
    """Percentile-bootstrap interval of `stat` (default: the median)."""
    import numpy as np

    xs = np.asarray(samples, dtype=float)
    if xs.size == 0:
        return (math.nan, math.nan)
    if xs.size == 1:
        return (float(xs[0]), float(xs[0]))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, xs.size, size=(resamples, xs.size))
    draws = xs[idx]
    values = np.median(draws, axis=1) if stat is None else np.apply_along_axis(stat, 1, draws)
    alpha = (1.0 - confidence) / 2.0
    return (float(np.quantile(values, alpha)), float(np.quantile(values, 1.0 - alpha)))


#: the statistics describe() gives (cheap: no resampling); summarize() adds the interval
DESCRIBED = ("n", "median", "mean", "stdev", "cv", "sem", "min", "max", "p50", "p90", "p99")


def summarize(samples: Sequence[float]) -> dict[str, float]:
    """Summary statistics of one metric's raw samples (see the module docstring)."""
    out = describe(samples)
    if out["n"] == 0:
        return out
    lo, hi = bootstrap_ci(_numbers(samples))
    return {**out, "ci_low": lo, "ci_high": hi}


def _numbers(samples: Sequence[float]) -> list[float]:
    return [float(x) for x in samples if x is not None and not math.isnan(float(x))]


def describe(samples: Sequence[float]) -> dict[str, float]:
    """summarize() without the bootstrap interval: what readers recompute from the samples
    of every record they read (a stored summary is a cache, never evidence)."""
    xs = _numbers(samples)
    n = len(xs)
    if n == 0:
        return {"n": 0}
    mean = sum(xs) / n
    stdev = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1)) if n > 1 else 0.0
    return {
        "n": n,
        "median": percentile(xs, 50),
        "mean": mean,
        "stdev": stdev,
        "cv": stdev / mean if mean else math.nan,
        "sem": stdev / math.sqrt(n),
        "min": xs[0] if n == 1 else min(xs),
        "max": max(xs),
        "p50": percentile(xs, 50),
        "p90": percentile(xs, 90),
        "p99": percentile(xs, 99),
    }


# ------------------------------------------------------------------ significance tests
def clean(samples: Sequence[float | None]) -> list[float]:
    """Drop missing (None) and NaN samples; infinities are kept (see `compare`)."""
    return [float(s) for s in samples if s is not None and not math.isnan(float(s))]


def center(samples: Sequence[float], how: str = "median") -> float:
    import numpy as np

    return float(np.median(samples) if how == "median" else np.mean(samples))


def relative(new: float, old: float) -> float | None:
    """new / old - 1, or None when old is 0."""
    return new / old - 1.0 if old else None


def change_interval(x: Sequence[float], y: Sequence[float], how: str = "median",
                    confidence: float = 0.95, resamples: int = BOOTSTRAP_RESAMPLES,
                    seed: int = BOOTSTRAP_SEED, paired: bool = False
                    ) -> tuple[float, float] | None:
    """Percentile-bootstrap interval of center(y) / center(x) - 1; paired: x[i] and y[i]
    (one item) are resampled together."""
    import numpy as np

    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xs.size < 2 or ys.size < 2:
        return None
    rng = np.random.default_rng(seed)
    reduce = np.median if how == "median" else np.mean
    ix = rng.integers(0, xs.size, (resamples, xs.size))
    iy = ix if paired else rng.integers(0, ys.size, (resamples, ys.size))
    cx, cy = reduce(xs[ix], axis=1), reduce(ys[iy], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = cy / cx - 1.0
    ratio = ratio[np.isfinite(ratio)]
    if ratio.size == 0:
        return None
    alpha = (1.0 - confidence) / 2.0
    return float(np.quantile(ratio, alpha)), float(np.quantile(ratio, 1.0 - alpha))


def p_worse(x: Sequence[float], y: Sequence[float], higher_is_better: bool) -> float:
    """One-sided Mann-Whitney U p-value for "y is worse than x"."""
    from scipy.stats import mannwhitneyu

    ties = len(set(x) | set(y)) < len(x) + len(y)
    method = "exact" if not ties and len(x) * len(y) <= EXACT_MAX_PAIRS else "asymptotic"
    alternative = "less" if higher_is_better else "greater"
    p = float(mannwhitneyu(y, x, alternative=alternative, method=method).pvalue)
    return 1.0 if math.isnan(p) else p  # all samples equal: no evidence either way


def paired_01(x: Sequence[float], y: Sequence[float]) -> bool:
    """Per-item 0/1 samples of the same items on both sides (same count, item i = item i)."""
    return len(x) == len(y) > 0 and all(v in (0.0, 1.0) for v in (*x, *y))


def mcnemar(x: Sequence[float], y: Sequence[float]) -> tuple[int, int, float]:
    """Exact McNemar test of paired 0/1 samples: b items 1 -> 0, c items 0 -> 1, and the
    two-sided exact p = min(1, 2 P(X <= min(b, c))), X ~ Binomial(b + c, 1/2)."""
    from scipy.stats import binom

    b = sum(1 for u, v in zip(x, y) if u == 1.0 and v == 0.0)
    c = sum(1 for u, v in zip(x, y) if u == 0.0 and v == 1.0)
    p = min(1.0, 2.0 * float(binom.cdf(min(b, c), b + c, 0.5))) if b + c else 1.0
    return b, c, p


def mcnemar_one_sided(k: int, n: int) -> float:
    """P(X >= k), X ~ Binomial(n, 1/2): k of n discordant items went the tested way."""
    from scipy.stats import binom

    return float(binom.sf(k - 1, n, 0.5)) if n else 1.0


def smallest_p(n: int, m: int) -> float:
    """The smallest one-sided p-value Mann-Whitney U can give with n and m samples."""
    from fractions import Fraction

    return float(Fraction(1, math.comb(n + m, n)))  # underflows to 0.0, never overflows


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values: H_i is rejected at level alpha (family-wise)
    exactly when its adjusted p < alpha. adjusted p_(i) = max over j <= i of
    min(1, (m - j) * p_(j)), p sorted ascending, j from 0."""
    order = sorted(range(len(pvalues)), key=lambda i: pvalues[i])
    out, running = [1.0] * len(pvalues), 0.0
    for j, i in enumerate(order):
        running = max(running, min(1.0, (len(pvalues) - j) * pvalues[i]))
        out[i] = running
    return out
