"""A calibration kernel: the machine's own speed, timed around each timed item.

A guest VM's speed can swing by 20% within minutes with nothing else running (a noisy
neighbour, a host frequency change the guest cannot read), and the CPU-time test of
harness.measure.conditions does not see it. So the worker times a fixed, short piece of
work (a 16 MB array pass, memory-bound, and 128 x 128 matrix products, compute-bound; best
of 5, about 50 ms in all) on its pinned cores right before and right after each timed item.

  calibration = {"before_ms", "after_ms", "drift"}   drift = after / before - 1

A drift beyond the profile's `conditions.calibration_drift_max` (default 0.20; on a quiet
2-core VM, load 0.46, 60 pairs of probes half a second apart drifted by 1.7% at the
median, 4.5% at the 90th percentile and 17.5% at most) makes the
record's conditions "unstable": the machine changed speed while it measured, so its
numbers describe the machine as much as the build. The gate compares the two sides'
kernels too (harness.gate.compare.conditions_warnings).
"""

from __future__ import annotations

import time

ROUNDS = 5


def kernel() -> float:
    """Seconds of one fixed piece of memory- and compute-bound work."""
    import numpy as np

    a = np.arange(1 << 21, dtype=np.float64)
    m = np.full((128, 128), 1.0001)
    t0 = time.perf_counter()
    for _ in range(4):
        a = a * 1.0000001 + 0.5
    for _ in range(16):
        m = (m @ m) * (1 / 128)
    return time.perf_counter() - t0


def probe(rounds: int = ROUNDS) -> float:
    """The kernel's best time of `rounds`, in seconds."""
    return min(kernel() for _ in range(rounds))


def summary(before_s: float, after_s: float) -> dict:
    return {"before_ms": round(before_s * 1000, 3), "after_ms": round(after_s * 1000, 3),
            "drift": round(after_s / before_s - 1, 4) if before_s > 0 else None}
