"""Warm-up: leading repetitions of a run that are worse than the rest because the machine
was still warming up (caches, frequency, page faults), not because of what was measured.

warm_up(samples, higher_is_better) tests the repetitions, in the order they ran, for a
trend towards better: a one-sided Kendall tau between repetition index and sample
(scipy.stats.kendalltau: exact for small samples without ties), alternative "the
samples get better as the run goes on". While that test gives p < alpha (0.05) and more
than half the repetitions (and at least the caller's `keep`) would remain, the first
repetition is dropped and the rest tested again. Without warm-up the test fires in at
most alpha of runs (and then drops what happened to be slow at the start, which changes
a median little); with it, the repetitions left are the warmed machine's.

The regression gate applies it to both sides of every metric whose samples are a run's
repetitions in run order (harness.gate.compare): under warm-up drift of up to 30% in a
run, decaying over the first repetitions, the compare of two runs otherwise raised false
alarms in more than 5% of A/A compares (benchmarks/simulate_gate.py --part drift).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

#: the level of the trend test that decides to drop one more repetition
ALPHA = 0.05


@dataclass(frozen=True)
class WarmUp:
    """What warm_up found: `dropped` leading repetitions of `n`, and the p of the last
    trend test that dropped one (None when none was dropped)."""

    dropped: int
    n: int
    p: float | None = None

    def text(self) -> str:
        return (f"warm-up in its first {self.dropped} of {self.n} repetitions "
                f"(one-sided Kendall trend p {self.p:.2g})")


def trend_p(samples: Sequence[float], higher_is_better: bool) -> float:
    """One-sided p of Kendall's tau that the samples get better with their order (1.0
    when the test has nothing to say: fewer than 3 samples, or all equal)."""
    import math

    from scipy.stats import kendalltau

    if len(samples) < 3 or len(set(samples)) < 2:
        return 1.0
    better = "greater" if higher_is_better else "less"
    p = kendalltau(range(len(samples)), samples, alternative=better).pvalue
    return 1.0 if p is None or math.isnan(p) else float(p)


def warm_up(samples: Sequence[float], higher_is_better: bool, keep: int = 0,
            alpha: float = ALPHA) -> WarmUp:
    """The leading repetitions to drop as warm-up (module docstring), leaving at least
    `keep` of them (and always more than half)."""
    n, dropped, last = len(samples), 0, None
    while 2 * (n - dropped - 1) > n and n - dropped - 1 >= keep:
        p = trend_p(samples[dropped:], higher_is_better)
        if p >= alpha:
            break
        dropped, last = dropped + 1, p
    return WarmUp(dropped, n, last)
