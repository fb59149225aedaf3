"""The soak's memory growth: a robust slope, a one-sided bound, and sawtooth detection.

Resident memory of a healthy runtime is not a line: allocators grow an arena step by
step and hand it back (a sawtooth that returns to its floor), and one +8 MB step can
land anywhere in the run. A leak is growth that does not come back. So:

- slope: Theil-Sen (the median of all pairwise slopes, robust to a single step), in MB
  per minute, over the run after its first 10% (warm-up); bound: Sen's one-sided 95%
  bound from Kendall's rank statistic (scipy.stats.theilslopes with a 90% two-sided
  interval). Sen's bound assumes independent points; a lag-1 autocorrelation of the
  residuals above AUTOCORR_FLAG is flagged in the notes (the bound is then too narrow).
- sawtooth: the series drops back, at least once, by more than half of its range (and
  more than 6 noise SDs and MIN_DROP_MB) to within a quarter of the range above its
  floor. The leak statistic is then the slope of
  the cycles' peaks (peaks rising from cycle to cycle is a leak, peaks returning to the
  same level is not). Fewer than MIN_CYCLES complete cycles cannot bound that slope: no
  bound, with the reason (soak longer).
- minimum length per budget: min_duration_s(budget) = 2 * 60 * STEP_MB / budget (192 s
  for 5 MB/min), so that one allocator step of STEP_MB over the whole soak reads as at
  most half the budget.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from harness.measure.bounds import LEVEL, Bound

STEP_MB = 8.0
MIN_POINTS = 10
MIN_CYCLES = 5
AUTOCORR_FLAG = 0.5
WARMUP_SHARE = 0.1
MIN_DROP_MB = 2.0


def min_duration_s(budget_mb_per_min: float) -> float:
    """The shortest soak whose slope can be compared with this budget (module docstring)."""
    return math.inf if budget_mb_per_min <= 0 else 120.0 * STEP_MB / budget_mb_per_min


def theil_sen(ts: Sequence[float], ys: Sequence[float], level: float = LEVEL
              ) -> tuple[float, float, float]:
    """(slope, lower, upper) per minute; lower/upper are one-sided `level` bounds."""
    import numpy as np
    from scipy.stats import theilslopes

    t = np.asarray(ts, dtype=float) / 60.0
    y = np.asarray(ys, dtype=float)
    if t.size < 2 or np.ptp(t) == 0:
        return 0.0, math.nan, math.nan
    res = theilslopes(y, t, alpha=1.0 - 2.0 * (1.0 - level))
    return float(res[0]), float(res[2]), float(res[3])


def lag1_autocorrelation(ts: Sequence[float], ys: Sequence[float], slope_per_min: float
                         ) -> float:
    """Lag-1 autocorrelation of the residuals around the Theil-Sen line."""
    import numpy as np

    t = np.asarray(ts, dtype=float) / 60.0
    r = np.asarray(ys, dtype=float) - slope_per_min * t
    r = r - np.median(r)
    if r.size < 3 or not np.any(r):
        return 0.0
    r = r - r.mean()
    den = float(np.dot(r, r))
    return float(np.dot(r[:-1], r[1:]) / den) if den else 0.0


def cycles(ts: Sequence[float], ys: Sequence[float]) -> list[tuple[float, float]]:
    """(time, peak) of each sawtooth cycle; empty when the series never returns to its
    floor (module docstring). The last, unfinished cycle counts only when its peak is
    already above the one before (so a leak is never hidden by a cut-off cycle)."""
    ys = list(ys)
    if len(ys) < 3:
        return []
    import numpy as np

    lo, hi = min(ys), max(ys)
    span = hi - lo
    d = np.diff(ys)
    noise = 1.4826 * float(np.median(np.abs(d - np.median(d)))) / math.sqrt(2)
    drop = max(span / 2, 6 * noise, MIN_DROP_MB)
    if span < drop:
        return []
    starts = [0] + [i for i in range(1, len(ys))
                    if ys[i - 1] - ys[i] > drop and ys[i] <= lo + span / 4]
    if len(starts) < 2:
        return []
    out = []
    bounds_ = list(zip(starts, starts[1:] + [len(ys)]))
    for k, (a, b) in enumerate(bounds_):
        seg = ys[a:b]
        j = max(range(len(seg)), key=seg.__getitem__)
        last = k == len(bounds_) - 1
        if last and (not out or seg[j] <= out[-1][1]):
            continue
        out.append((ts[a + j], seg[j]))
    return out


def slope_bound(ts: Sequence[float], rss: Sequence[float], budget: float | None = None,
                duration_s: float | None = None, level: float = LEVEL) -> Bound | None:
    """Memory growth in MB/min with its one-sided upper bound (module docstring)."""
    ts, rss = list(ts), list(rss)
    if len(ts) != len(rss) or not ts:
        return None
    skip = len(ts) // 10
    t, y = ts[skip:], rss[skip:]
    length = duration_s if duration_s is not None else (ts[-1] - ts[0] if ts else 0.0)
    method = f"Theil-Sen slope of {len(t)} RSS readings, one-sided {level:.0%} Sen bound"
    if len(t) < MIN_POINTS:
        return Bound(None, None, method, level, len(t), "upper",
                     f"{len(t)} readings after warm-up (needs {MIN_POINTS})")
    slope, _, upper = theil_sen(t, y, level)
    notes = []
    peaks = cycles(t, y)
    if peaks:
        method = (f"sawtooth: returns to its floor; Theil-Sen slope of {len(peaks)} cycle "
                  f"peaks, one-sided {level:.0%} Sen bound")
        pt, py = [p[0] for p in peaks], [p[1] for p in peaks]
        value = theil_sen(pt, py, level)[0] if len(peaks) > 1 else 0.0
        if len(peaks) < MIN_CYCLES:
            return Bound(value, None, method, level, len(peaks), "upper",
                         f"{len(peaks)} sawtooth cycles cannot bound the peaks' slope "
                         f"(needs {MIN_CYCLES}): soak longer", (f"all-points slope "
                                                               f"{slope:.3g} MB/min",))
        slope, _, upper = theil_sen(pt, py, level)
        notes.append(f"all-points slope {theil_sen(t, y, level)[0]:.3g} MB/min")
    else:
        rho = lag1_autocorrelation(t, y, slope)
        if rho > AUTOCORR_FLAG:
            notes.append(f"autocorrelated readings (lag-1 r = {rho:.2f}): the bound "
                         "assumes independence and is too narrow")
    if budget is not None and length < min_duration_s(budget):
        return Bound(slope, None, method, level, len(t), "upper",
                     f"a {length:g} s soak is too short for {budget:g} MB/min (needs "
                     f"{min_duration_s(budget):.0f} s: one {STEP_MB:g} MB step must read "
                     "as at most half the budget)", tuple(notes))
    return Bound(slope, upper, method, level, len(t), "upper", notes=tuple(notes))


def sustained_ratio(ts: Sequence[float], tps: Sequence[float], window_s: float = 60.0
                    ) -> tuple[float, float] | None:
    """Sustained over initial decode speed: the median tokens/s of the generations that
    started in the last `window_s` of the soak over that of the first `window_s` (a third
    of the soak each when it is shorter than 3 windows). Below 1: the machine slowed down
    as it ran (a laptop throttling after a minute or two). Returns (ratio, window used)."""
    import statistics

    if len(ts) < 4:
        return None
    span = ts[-1] - ts[0]
    w = min(window_s, span / 3) if span > 0 else 0.0
    first = [v for t, v in zip(ts, tps) if t <= ts[0] + w]
    last = [v for t, v in zip(ts, tps) if t >= ts[-1] - w]
    if not first or not last or statistics.median(first) <= 0:
        return None
    return statistics.median(last) / statistics.median(first), w
