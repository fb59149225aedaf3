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
"""

from __future__ import annotations

import math
from collections.abc import Sequence

BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 20261121


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


def summarize(samples: Sequence[float]) -> dict[str, float]:
    """Summary statistics of one metric's raw samples (see the module docstring)."""
    xs = [float(x) for x in samples if x is not None and not math.isnan(float(x))]
    n = len(xs)
    if n == 0:
        return {"n": 0}
    mean = sum(xs) / n
    stdev = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1)) if n > 1 else 0.0
    lo, hi = bootstrap_ci(xs)
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
        "ci_low": lo,
        "ci_high": hi,
    }
