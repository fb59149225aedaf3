"""The soak rows of benchmarks/simulate_verdicts.py: autocorrelated memory series.

    .venv/bin/python -m benchmarks.simulate_verdicts --only soak [--trials 2000]

Each process is a seeded series of RSS readings (80 a minute, as a 64-token soak
generation on a small model takes about 0.75 s) whose true memory growth is known, fed
to the real harness.measure.soak.slope_bound with a 5 MB/min budget:

- AR(rho) noise: a line rising at the leak rate plus AR(1) noise of marginal SD `sd` MB
  (rho 0: independent readings; 0.5, 0.9: the heap one generation leaves behind is most
  of the next one's);
- sawtooth: climbs 0.55 MB a reading from 209 MB and drops back every 56 readings (42 s),
  with the leak added to every reading, so its peaks rise at the leak rate;
- staircase: the leak as +8 MB steps (every 96 s at 5 MB/min, random phase), noise
  0.3 MB: growth that never comes back, in allocator-sized steps;
- step: one +8 MB step at a random time, no leak (its error is a FAIL, not a PASS).

"PASS at the budget" puts the leak exactly at the budget: its rate is the bound's
one-sided error (nominal 5%), printed with a 95% Clopper-Pearson interval over the
trials; NOT MEASURED is the share of series the bound refused (with the reason the
verdict prints). "at 5% better" puts the leak 5% under the budget (power). "old Sen"
is Sen's plain bound, which assumes independent readings (the bound before issue 27).
"""

from __future__ import annotations

import math

import numpy as np

from benchmarks.common import rate_with_interval
from harness.measure import soak

PER_MIN = 80
BUDGET = 5.0


def ar_series(rng, minutes: float, leak: float, rho: float, sd: float = 0.3,
              per_min: int = PER_MIN) -> tuple[list[float], list[float]]:
    """(t in s, RSS in MB): 209 MB + leak * minutes + AR(1) noise (marginal SD sd)."""
    n = max(2, int(minutes * per_min))
    t = np.linspace(0.0, minutes * 60.0, n)
    e = rng.normal(0.0, sd * math.sqrt(1 - rho ** 2), n)
    z = np.empty(n)
    z[0] = rng.normal(0.0, sd)
    for i in range(1, n):
        z[i] = rho * z[i - 1] + e[i]
    return list(t), list(209.0 + leak * t / 60.0 + z)


def sawtooth(rng, minutes: float, leak: float, per_min: int = PER_MIN
             ) -> tuple[list[float], list[float]]:
    n = max(2, int(minutes * per_min))
    t = np.linspace(0.0, minutes * 60.0, n)
    phase = (np.arange(n) + rng.integers(0, 56)) % 56
    return list(t), list(209.0 + 0.55 * phase + leak * t / 60.0 + rng.normal(0.0, 0.2, n))


def step(rng, minutes: float, leak: float, per_min: int = PER_MIN
         ) -> tuple[list[float], list[float]]:
    n = max(2, int(minutes * per_min))
    t = np.linspace(0.0, minutes * 60.0, n)
    y = 209.0 + leak * t / 60.0 + rng.normal(0.0, 0.3, n)
    return list(t), list(y + np.where(t >= rng.uniform(0, t[-1]), 8.0, 0.0))


def staircase(rng, minutes: float, leak: float, per_min: int = PER_MIN
              ) -> tuple[list[float], list[float]]:
    n = max(2, int(minutes * per_min))
    t = np.linspace(0.0, minutes * 60.0, n)
    period = 60.0 * 8.0 / leak if leak > 0 else math.inf
    steps = np.floor((t + rng.uniform(0, period)) / period) if leak > 0 else 0.0
    return list(t), list(209.0 + 8.0 * steps + rng.normal(0.0, 0.3, n))


def outcomes(trials: int, make, minutes: float, leak: float, seed: int = 1,
             budget: float = BUDGET) -> dict:
    """Counts of pass / fail / not measured (and the plain Sen bound's passes) over
    seeded series; `reasons`: one NOT MEASURED reason, as the verdict prints it."""
    out = {"pass": 0, "fail": 0, "not_measured": 0, "old_pass": 0, "n": trials,
           "reason": ""}
    for k in range(trials):
        rng = np.random.default_rng(seed + k)
        t, y = make(rng, minutes, leak)
        b = soak.slope_bound(t, y, budget, minutes * 60.0)
        if b is None or not b.bounded:
            out["not_measured"] += 1
            out["reason"] = out["reason"] or (b.reason if b is not None else "")
        else:
            out["pass" if b.bound <= budget else "fail"] += 1
        skip = len(t) // 10
        old = soak.theil_sen(t[skip:], y[skip:])[2]
        out["old_pass"] += (minutes * 60.0 >= soak.min_duration_s(budget)
                            and not soak.cycles(t[skip:], y[skip:]) and old <= budget)
    return out


PROCESSES = [  # (label, generator(rng, minutes, leak), minutes)
    ("independent readings (AR 0), sd 0.3 MB", lambda r, m, s: ar_series(r, m, s, 0.0), 4.0),
    ("independent readings (AR 0), sd 0.3 MB", lambda r, m, s: ar_series(r, m, s, 0.0), 400 / 60),
    ("AR(0.5) noise, sd 0.3 MB", lambda r, m, s: ar_series(r, m, s, 0.5), 4.0),
    ("AR(0.5) noise, sd 0.3 MB", lambda r, m, s: ar_series(r, m, s, 0.5), 400 / 60),
    ("AR(0.9) noise, sd 0.3 MB", lambda r, m, s: ar_series(r, m, s, 0.9), 4.0),
    ("AR(0.9) noise, sd 0.3 MB", lambda r, m, s: ar_series(r, m, s, 0.9), 400 / 60),
    ("AR(0.9) noise, sd 2 MB", lambda r, m, s: ar_series(r, m, s, 0.9, 2.0), 400 / 60),
    ("AR(0.9) noise, sd 0.3 MB", lambda r, m, s: ar_series(r, m, s, 0.9), 35.0),
    ("staircase of +8 MB steps", staircase, 4.0),
    ("staircase of +8 MB steps", staircase, 400 / 60),
    ("sawtooth, 42 s cycles, peaks rising", sawtooth, 4.0),
    ("sawtooth, 42 s cycles, peaks rising", sawtooth, 400 / 60),
    ("sawtooth, 42 s cycles, peaks rising", sawtooth, 10.0),
]


def rows(trials: int, seed: int = 1) -> list[str]:
    """The soak table (module docstring); the 35-minute rows use a fifth of the trials."""
    out = ["| soak process (budget 5 MB/min) | length | PASS at budget [95% CP] | "
           "NOT MEASURED at budget | PASS at 5% better | old Sen: PASS at budget |",
           "|---|---|---:|---:|---:|---:|"]
    reasons = {}
    for label, make, minutes in PROCESSES:
        n = max(50, trials // 5) if minutes > 20 else trials
        at = outcomes(n, make, minutes, BUDGET, seed)
        better = outcomes(n, make, minutes, 0.95 * BUDGET, seed + 10 ** 6)
        out.append(f"| {label} | {minutes * 60:.0f} s, {n} trials | "
                   f"{rate_with_interval(at['pass'], n)} | "
                   f"{at['not_measured'] / n:.1%} | {better['pass'] / n:.1%} | "
                   f"{at['old_pass'] / n:.1%} |")
        if at["reason"]:
            reasons.setdefault(label, at["reason"])
    for label, minutes in (("sawtooth returning to its floor, no leak", 4.0),
                           ("sawtooth returning to its floor, no leak", 400 / 60)):
        r = outcomes(trials, sawtooth, minutes, 0.0, seed)
        out.append(f"| {label}: PASS / FAIL | {minutes * 60:.0f} s, {trials} trials | "
                   f"{r['pass'] / trials:.1%} / {r['fail'] / trials:.1%} | "
                   f"{r['not_measured'] / trials:.1%} | - | - |")
    r = outcomes(trials, step, 4.0, 0.0, seed)
    out.append(f"| one +8 MB step, no leak: PASS / FAIL | 240 s, {trials} trials | "
               f"{r['pass'] / trials:.1%} / {rate_with_interval(r['fail'], trials)} | "
               f"{r['not_measured'] / trials:.1%} | - | - |")
    out.append("")
    out += [f"NOT MEASURED reason, {label}: {why}" for label, why in reasons.items()]
    out.append(f"planned soak for 5 MB/min: {soak.planned_soak_s([BUDGET]):.0f} s; "
               f"shortest that can decide it: {soak.min_duration_s(BUDGET):.0f} s "
               f"(with 42 s cycles: {soak.min_duration_s(BUDGET, 42.0):.0f} s)")
    return out


if __name__ == "__main__":
    print("\n".join(rows(200)))
