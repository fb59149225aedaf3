"""The soak's memory growth: a robust slope, a one-sided bound, and sawtooth detection.

Resident memory of a healthy runtime is not a line: allocators grow an arena step by
step and hand it back (a sawtooth that returns to its floor), one +8 MB step can land
anywhere in the run, and consecutive readings are not independent (the heap a
generation leaves behind is most of the next one's). A leak is growth that does not
come back. So:

- slope: Theil-Sen (the median of all pairwise slopes, robust to a single step), in MB
  per minute, over the run after its first 10% (warm-up).
- bound: Sen's one-sided 95% bound (an order statistic of the pairwise slopes picked by
  the variance of Kendall's statistic), widened for autocorrelation: Kendall's variance
  is multiplied by n / n_eff = 1 + 2 sum_k (1 - k/n) r^k (Yue and Wang's correction for
  AR(1) residuals) and the quantile is Student t with n_eff - 2 df. r is the lag-1
  autocorrelation of the residuals around the slope (each side detrended on its own when
  the series jumps once, so one allocator step is not read as correlation; a staircase
  of two jumps or more may be the leak and counts), raised by (3 + 8r)/n (an
  estimated r is biased low when a slope is fitted) and by one standard error
  sqrt((1 - r^2)/n); both allowances were chosen by simulation: with the plain r the
  bound PASSed 5-7% at the budget for AR(0.5) noise. Simulated (benchmarks/simulate_soak
  .py, docs/soak.md): PASS at the budget 4.1-4.8% for independent readings, 3.8-3.9% for
  AR(0.5) and 2.0-3.0% for AR(0.9) noise (a 35-minute soak included), where Sen's plain
  bound PASSed 15-18% and 33-36%. Fewer than MIN_EFFECTIVE effective readings cannot be
  bounded: NOT MEASURED with the soak length that would give them.
- sawtooth: the series drops back, at least once, by more than half of its range (and
  more than 6 noise SDs and MIN_DROP_MB) to within a quarter of the range above its
  floor. The leak statistic is then the slope of the cycles' peaks (peaks rising from
  cycle to cycle is a leak, peaks returning to the same level is not), with Sen's bound
  (exact distribution of Kendall's statistic; peaks a cycle apart are taken as
  independent). Fewer than MIN_CYCLES complete cycles
  cannot bound that slope: NOT MEASURED, with the soak length those cycles need.
- length: min_duration_s(budget) = 2 * 60 * STEP_MB / budget (192 s for 5 MB/min), so
  that one allocator step of STEP_MB over the whole soak reads as at most half the
  budget; a shorter soak is NOT MEASURED. With a cycle length it is also long enough for
  MIN_CYCLES + 1 cycles after the warm-up. planned_duration_s(budget) is what `verify`
  runs by default: that length for cycles of up to CYCLE_S (400 s for 5 MB/min).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from harness.measure.bounds import LEVEL, Bound

STEP_MB = 8.0
MIN_POINTS = 10
MIN_CYCLES = 5
#: the longest allocator cycle a planned soak is long enough for (seconds)
CYCLE_S = 60.0
#: fewer effective (independent-equivalent) readings than this give no bound
MIN_EFFECTIVE = 6.0
WARMUP_SHARE = 0.1
MIN_DROP_MB = 2.0


def min_duration_s(budget_mb_per_min: float, cycle_s: float | None = None) -> float:
    """The shortest soak that can decide this budget (module docstring): one STEP_MB
    step reads as at most half the budget, and, given a sawtooth's cycle length, the
    soak holds MIN_CYCLES + 1 cycles after its warm-up."""
    if budget_mb_per_min <= 0:
        return math.inf
    need = 120.0 * STEP_MB / budget_mb_per_min
    if cycle_s:
        need = max(need, (MIN_CYCLES + 1) * cycle_s / (1.0 - WARMUP_SHARE))
    return need


def planned_duration_s(budget_mb_per_min: float) -> float:
    """The soak `verify` plans for a budget: long enough for cycles of up to CYCLE_S."""
    return math.ceil(min_duration_s(budget_mb_per_min, CYCLE_S))


def planned_soak_s(budgets_mb_per_min, default: float = 240.0) -> float:
    """The soak length `verify` plans for these rss_slope budgets (the longest
    planned_duration_s; `default` when there is none)."""
    return max((planned_duration_s(b) for b in budgets_mb_per_min if b and b > 0),
               default=default)


def needed(seconds: float, budget: float) -> str:
    """'a soak of N min (S s) is needed to decide B MB/min'."""
    return (f"a soak of {seconds / 60:.1f} min ({math.ceil(seconds)} s) is needed to decide "
            f"{budget:g} MB/min")


def theil_sen(ts: Sequence[float], ys: Sequence[float], level: float = LEVEL
              ) -> tuple[float, float, float]:
    """(slope, lower, upper) per minute; lower/upper are Sen's one-sided `level` bounds
    for independent points."""
    import numpy as np
    from scipy.stats import theilslopes

    t = np.asarray(ts, dtype=float) / 60.0
    y = np.asarray(ys, dtype=float)
    if t.size < 2 or np.ptp(t) == 0:
        return 0.0, math.nan, math.nan
    res = theilslopes(y, t, alpha=1.0 - 2.0 * (1.0 - level))
    return float(res[0]), float(res[2]), float(res[3])


def pairwise_slopes(ts: Sequence[float], ys: Sequence[float]):
    """The sorted slopes (per minute) of every pair of readings with distinct times."""
    import numpy as np

    t = np.asarray(ts, dtype=float) / 60.0
    y = np.asarray(ys, dtype=float)
    slopes = []
    for lag in range(1, t.size):
        dx = t[lag:] - t[:-lag]
        ok = dx > 0
        slopes.append((y[lag:] - y[:-lag])[ok] / dx[ok])
    return np.sort(np.concatenate(slopes)) if slopes else np.empty(0)


def sen_upper(ts: Sequence[float], ys: Sequence[float], z: float, slopes=None
              ) -> tuple[float, float]:
    """(Theil-Sen slope, upper bound) per minute: the pairwise slope at rank
    (N + z * sd(Kendall's S)) / 2 of N; infinite when that rank is past the largest.
    `slopes`: pairwise_slopes(ts, ys) when already computed."""
    import numpy as np

    s = pairwise_slopes(ts, ys) if slopes is None else slopes
    n = len(ts)
    if s.size == 0:
        return 0.0, math.nan
    sd = math.sqrt(n * (n - 1) * (2 * n + 5) / 18.0)
    k = int(round((s.size + z * sd) / 2.0))
    return float(np.median(s)), (float(s[max(k, 0)]) if k < s.size else math.inf)


def inversions_cdf(n: int) -> list[float]:
    """P(a random permutation of n has at most c inversions), c = 0 .. n(n-1)/2: the
    exact null distribution of the count of pairwise slopes above the true one."""
    counts = [1]
    for m in range(2, n + 1):  # Mahonian numbers: add the m-th element
        nxt = [0] * (len(counts) + m - 1)
        for c, w in enumerate(counts):
            for j in range(m):
                nxt[c + j] += w
        counts = nxt
    total, acc, out = math.factorial(n), 0, []
    for w in counts:
        acc += w
        out.append(acc / total)
    return out


def sen_upper_exact(ts: Sequence[float], ys: Sequence[float], level: float = LEVEL
                    ) -> tuple[float, float]:
    """(Theil-Sen slope, Sen's one-sided upper bound) for a few independent points (a
    sawtooth's cycle peaks), from the exact distribution of Kendall's statistic: Sen's
    normal approximation PASSed 5.5% at the budget on 5-6 peaks."""
    import numpy as np

    n = len(ts)
    s = pairwise_slopes(ts, ys)
    if s.size == 0 or s.size != n * (n - 1) // 2:
        return (float(np.median(s)) if s.size else 0.0), math.nan
    cdf = inversions_cdf(n)
    # the bound s[k] misses when more than k slopes lie below the truth, i.e. when at
    # most N - k - 1 lie above it: the smallest k with that chance <= 1 - level
    k = next((k for k in range(s.size) if cdf[s.size - k - 1] <= 1 - level), None)
    return float(np.median(s)), (float(s[k]) if k is not None else math.inf)


def _noise(ys) -> float:
    """Reading-to-reading noise SD from the median absolute successive difference."""
    import numpy as np

    d = np.diff(np.asarray(ys, dtype=float))
    return 1.4826 * float(np.median(np.abs(d - np.median(d)))) / math.sqrt(2) if d.size else 0.0


def lag1_autocorrelation(ts: Sequence[float], ys: Sequence[float], slope_per_min: float
                         ) -> float:
    """Lag-1 autocorrelation of the residuals around the slope; when the series jumps
    once (a step larger than 6 noise SDs and MIN_DROP_MB), of the residuals around each
    side's own least-squares line: one allocator step is a level shift (which also tilts
    the overall slope), not correlation. Two jumps or more are a staircase, which may be
    the leak itself: its deviations from the line count as correlation."""
    import numpy as np

    t = np.asarray(ts, dtype=float) / 60.0
    y = np.asarray(ys, dtype=float)
    if y.size < 3:
        return 0.0
    jump = np.abs(np.diff(y)) > max(6 * _noise(y), MIN_DROP_MB)
    seg = np.concatenate([[0], np.cumsum(jump)])
    r = y - slope_per_min * t
    if jump.sum() == 1:
        for s in np.unique(seg):
            m = seg == s
            if m.sum() >= 3 and np.ptp(t[m]) > 0:
                r[m] = y[m] - np.polyval(np.polyfit(t[m], y[m], 1), t[m])
            else:
                r[m] = 0.0
    else:
        r -= r.mean()
    same = seg[1:] == seg[:-1]
    den = float(np.dot(r, r))
    return float(np.dot(r[:-1][same], r[1:][same]) / den) if den else 0.0


def effective_share(rho: float, n: int) -> tuple[float, float]:
    """(r used, n_eff / n): the conservative r of the module docstring and the share of
    the n readings that count as independent under AR(1) residuals."""
    import numpy as np

    r = rho + (3 + 8 * rho) / n
    r = min(r + math.sqrt(max(1 - r * r, 0.0) / n), 0.999)
    if r <= 0:
        return r, 1.0
    k = np.arange(1, n)
    return r, 1.0 / (1.0 + 2.0 * float(np.sum((1 - k / n) * r ** k)))


def cycles(ts: Sequence[float], ys: Sequence[float]) -> list[tuple[float, float]]:
    """(time, peak) of each sawtooth cycle; empty when the series never returns to its
    floor (module docstring). The last, unfinished cycle counts only when its peak is
    already above the one before (so a leak is never hidden by a cut-off cycle)."""
    ys = list(ys)
    if len(ys) < 3:
        return []
    lo, hi = min(ys), max(ys)
    span = hi - lo
    drop = max(span / 2, 6 * _noise(ys), MIN_DROP_MB)
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
    from scipy.stats import t as student

    ts, rss = list(ts), list(rss)
    if len(ts) != len(rss) or not ts:
        return None
    skip = len(ts) // 10
    t, y = ts[skip:], rss[skip:]
    length = duration_s if duration_s is not None else (ts[-1] - ts[0] if ts else 0.0)
    method = (f"Theil-Sen slope of {len(t)} RSS readings, one-sided {level:.0%} Sen bound "
              "widened for autocorrelation")
    if len(t) < MIN_POINTS:
        return Bound(None, None, method, level, len(t), "upper",
                     f"{len(t)} readings after warm-up (needs {MIN_POINTS})")
    slopes = pairwise_slopes(t, y)
    slope = sen_upper(t, y, 0.0, slopes)[0]
    notes = []
    peaks = cycles(t, y)
    if peaks:
        method = (f"sawtooth: returns to its floor; Theil-Sen slope of {len(peaks)} cycle "
                  f"peaks, one-sided {level:.0%} Sen bound")
        pt, py = [p[0] for p in peaks], [p[1] for p in peaks]
        value = theil_sen(pt, py, level)[0] if len(peaks) > 1 else 0.0
        if len(peaks) < MIN_CYCLES:
            period = ((pt[-1] - pt[0]) / (len(peaks) - 1) if len(peaks) > 1
                      else t[-1] - t[0])
            want = min_duration_s(budget, period) if budget else \
                (MIN_CYCLES + 1) * period / (1.0 - WARMUP_SHARE)
            return Bound(value, None, method, level, len(peaks), "upper",
                         f"{len(peaks)} sawtooth cycles of about {period:.0f} s cannot bound "
                         f"the peaks' slope (needs {MIN_CYCLES}): "
                         + (needed(want, budget) if budget else
                            f"a soak of {want / 60:.1f} min is needed"),
                         (f"all-points slope {slope:.3g} MB/min",))
        slope, upper = sen_upper_exact(pt, py, level)
        if not math.isfinite(upper):
            return Bound(slope, None, method, level, len(peaks), "upper",
                         f"{len(peaks)} sawtooth cycle peaks cannot bound their slope at "
                         f"{level:.0%}: soak longer")
        notes.append(f"all-points slope {theil_sen(t, y, level)[0]:.3g} MB/min")
    else:
        rho = lag1_autocorrelation(t, y, slope)
        r, share = effective_share(rho, len(t))
        n_eff = len(t) * share
        if n_eff < MIN_EFFECTIVE:
            want = max(length * MIN_EFFECTIVE / max(n_eff, 1e-9), length + 1,
                       min_duration_s(budget) if budget else 0.0)
            return Bound(slope, None, method, level, len(t), "upper",
                         f"the readings are autocorrelated (lag-1 r = {rho:.2f}): {len(t)} "
                         f"count as {n_eff:.1f} independent ones (needs {MIN_EFFECTIVE:g}); "
                         + (needed(want, budget) if budget else
                            f"a soak of {want / 60:.1f} min is needed"))
        z = float(student.ppf(level, max(n_eff - 2.0, 1.0))) / math.sqrt(share)
        upper = sen_upper(t, y, z, slopes)[1]
        if not math.isfinite(upper):
            return Bound(slope, None, method, level, len(t), "upper",
                         f"the readings are autocorrelated (lag-1 r = {rho:.2f}): no pairwise "
                         f"slope is as high as the {level:.0%} bound; soak longer")
        notes.append(f"lag-1 autocorrelation {rho:.2f}, taken as {r:.2f}: {len(t)} "
                     f"readings count as {n_eff:.0f} independent ones")
    if budget is not None and length < min_duration_s(budget):
        return Bound(slope, None, method, level, len(t), "upper",
                     f"a {length:g} s soak is too short: {needed(min_duration_s(budget), budget)}"
                     f" (one {STEP_MB:g} MB step must read as at most half the budget)",
                     tuple(notes))
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
