"""How often each verdict bound PASSes a budget equal to the true value (should be <= 5%).

    .venv/bin/python -m benchmarks.simulate_verdicts [--trials 2000] [--only speed,itl,...]

(--only soak: the soak table of benchmarks/simulate_soak.py; soak-old: the earlier
independent-readings soak rows.)

Every bound of harness.measure.bounds / harness.measure.soak is fed seeded synthetic
data whose true value is known, with the budget set to exactly that value: the PASS rate
is then the bound's real one-sided error rate (nominal 5%). "5% better" puts the true
value 5% on the good side of the budget: the PASS rate there is the power. The generators
are imported by tests/test_bounds.py, which checks the same figures on fewer trials.
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from harness.measure import bounds, soak

GAPS = 63  # gaps per repetition: gen_tokens 64


# ------------------------------------------------------------------ generators
def lognormal(rng, n: int, median: float, cv: float) -> np.ndarray:
    sigma = math.sqrt(math.log(1 + cv ** 2))
    return median * rng.lognormal(0.0, sigma, n)


def itl_reps(rng, reps: int, kind: str, gaps: int = GAPS) -> list[np.ndarray]:
    """Inter-token gaps (ms) of `reps` repetitions.

    independent: i.i.d. lognormal gaps (CV 10%) around 20 ms.
    correlated: a run-to-run factor (CV 3%), AR(1) gaps within a repetition (phi 0.8,
      marginal CV 10%) and, in 30% of repetitions, a burst of 6 gaps 1.6x slower (a
      neighbour on the machine)."""
    out = []
    sigma = math.sqrt(math.log(1 + 0.10 ** 2))
    for _ in range(reps):
        if kind == "independent":
            out.append(20.0 * rng.lognormal(0.0, sigma, gaps))
            continue
        phi = 0.8
        e = rng.normal(0.0, sigma * math.sqrt(1 - phi ** 2), gaps)
        z = np.empty(gaps)
        z[0] = rng.normal(0.0, sigma)
        for i in range(1, gaps):
            z[i] = phi * z[i - 1] + e[i]
        g = 20.0 * lognormal(rng, 1, 1.0, 0.03)[0] * np.exp(z)
        if rng.random() < 0.3:
            s = rng.integers(0, gaps - 6)
            g[s: s + 6] *= 1.6
        out.append(g)
    return out


def true_itl_percentile(kind: str, q: float, reps: int = 40000, seed: int = 7) -> float:
    rng = np.random.default_rng(seed)
    return float(np.percentile(np.concatenate(itl_reps(rng, reps, kind)), q))


def windows(rng, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Perplexity windows: 256-1024 tokens, per-token NLL varying by topic (sd 0.35 nats
    around 2.5) plus token noise: returns (window_nll, window_tokens)."""
    tok = rng.integers(256, 1025, n).astype(float)
    rate = 2.5 + rng.normal(0.0, 0.35, n)
    nll = rate * tok + rng.normal(0.0, 1.0, n) * np.sqrt(tok)
    return nll, tok


TRUE_PPL = math.exp(2.5)  # E[nll] / E[tokens] = 2.5 (rate independent of length)


def soak_series(rng, minutes: float, slope: float, kind: str = "line", per_min: int = 80
                ) -> tuple[list[float], list[float]]:
    """RSS readings (MB) of a soak: a line with noise (sd 0.3 MB), a single +8 MB step at
    a random time with no leak, or a sawtooth (climbs 0.55 MB a reading from 209 MB and
    drops back every 56 readings) with `slope` added to its peaks."""
    n = max(2, int(minutes * per_min))
    t = np.linspace(0.0, minutes * 60.0, n)
    y = 209.0 + slope * t / 60.0 + rng.normal(0.0, 0.3, n)
    if kind == "step":
        y = 209.0 + rng.normal(0.0, 0.3, n) + np.where(t >= rng.uniform(0, t[-1]), 8.0, 0.0)
    elif kind == "sawtooth":
        phase = (np.arange(n) + rng.integers(0, 56)) % 56
        y = 209.0 + 0.55 * phase + slope * t / 60.0 + rng.normal(0.0, 0.2, n)
    return list(t), list(y)


# ------------------------------------------------------------------ pass rates
def rate_speed(trials: int, n: int, better: float = 0.0, cv: float = 0.05, seed: int = 1
               ) -> float:
    """decode_tps min budget = true median (better: true median that much above)."""
    hits = 0
    for k in range(trials):
        rng = np.random.default_rng(seed + k)
        xs = lognormal(rng, n, 100.0 * (1 + better), cv)
        b = bounds.median_bound(xs, "lower")
        hits += b.bounded and b.bound >= 100.0
    return hits / trials


def rate_itl(trials: int, reps: int, kind: str, q: float = 99, better: float = 0.0,
             seed: int = 1, resamples: int = bounds.RESAMPLES, truth: float | None = None
             ) -> float:
    """itl pQ max budget = true percentile (better: true value that much below)."""
    budget = truth if truth is not None else true_itl_percentile(kind, q)
    hits = 0
    for k in range(trials):
        rng = np.random.default_rng(seed + k)
        data = [g * (1 - better) for g in itl_reps(rng, reps, kind)]
        b = bounds.percentile_bound(data, q, "upper", resamples=resamples)
        hits += b.bounded and b.bound <= budget
    return hits / trials


def rate_accuracy(trials: int, n: int, p: float, seed: int = 1) -> float:
    """acc min budget = p (the true accuracy)."""
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(trials):
        xs = (rng.random(n) < p).astype(float)
        hits += bounds.accuracy_bound(xs, "lower").bound >= p
    return hits / trials


def rate_perplexity(trials: int, n: int, better: float = 0.0, seed: int = 1) -> float:
    hits = 0
    for k in range(trials):
        rng = np.random.default_rng(seed + k)
        nll, tok = windows(rng, n)
        nll = nll + math.log(1 - better) * tok
        b = bounds.perplexity_bound(nll, tok, "upper")
        hits += b.bounded and b.bound <= TRUE_PPL
    return hits / trials


def rate_soak(trials: int, minutes: float, slope: float, kind: str, budget: float = 5.0,
              seed: int = 1) -> tuple[float, float]:
    """(PASS rate, FAIL rate) of an rss_slope max budget."""
    passes = fails = 0
    for k in range(trials):
        rng = np.random.default_rng(seed + k)
        t, y = soak_series(rng, minutes, slope, kind)
        b = soak.slope_bound(t, y, budget, minutes * 60.0)
        if b is not None and b.bounded:
            passes += b.bound <= budget
            fails += b.bound > budget
    return passes / trials, fails / trials


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=2000)
    ap.add_argument("--only", default="speed,itl,accuracy,perplexity,soak")
    args = ap.parse_args(argv)
    tr, only = args.trials, set(args.only.split(","))
    print("| bound | setting | PASS at budget (nominal <= 5%) | PASS at 5% better |")
    print("|---|---|---:|---:|")
    if "speed" in only:
        for n in (5, 10, 20):
            print(f"| speed median (decode_tps, CV 5%) | n = {n} | {rate_speed(tr, n):.1%} | "
                  f"{rate_speed(tr, n, 0.05):.1%} |")
    if "itl" in only:
        for kind in ("independent", "correlated"):
            truth = true_itl_percentile(kind, 99)
            for reps in (5, 10, 20):
                t = max(200, tr // 4)
                print(f"| ITL p99, {kind} gaps | {reps} reps x {GAPS} gaps | "
                      f"{rate_itl(t, reps, kind, truth=truth):.1%} | "
                      f"{rate_itl(t, reps, kind, better=0.05, truth=truth):.1%} |")
    if "accuracy" in only:
        worst = max((rate_accuracy(tr, 36, p), p) for p in np.arange(0.50, 0.96, 0.05))
        print(f"| accuracy Clopper-Pearson | 36 items, p = 0.70 | "
              f"{rate_accuracy(tr, 36, 0.70):.1%} | worst over p 0.50-0.95: "
              f"{worst[0]:.1%} at {worst[1]:.2f} |")
    if "perplexity" in only:
        for n in (10, 40):
            print(f"| perplexity ratio estimator, topic variation | {n} windows | "
                  f"{rate_perplexity(tr, n):.1%} | {rate_perplexity(tr, n, 0.05):.1%} |")
    if "soak" in only:  # autocorrelated series, sawtooth, step: benchmarks/simulate_soak.py
        from benchmarks import simulate_soak

        print()
        print("\n".join(simulate_soak.rows(tr)))
    if "soak-old" in only:
        t = max(200, tr // 4)
        p, _ = rate_soak(t, 4.0, 5.0, "line")
        p5, _ = rate_soak(t, 4.0, 4.75, "line")
        print(f"| soak slope, true 5 MB/min = budget | 240 s | {p:.1%} | {p5:.1%} |")
        _, f = rate_soak(t, 4.0, 0.0, "step")
        print(f"| soak, one +8 MB step, no leak (FAIL rate) | 240 s | {f:.1%} | - |")
        ps, fs = rate_soak(t, 2.0, 0.0, "sawtooth")
        print(f"| soak, sawtooth returning to its floor (PASS / FAIL; else NOT MEASURED) "
              f"| 120 s | {ps:.1%} / {fs:.1%} | - |")
        ps, fs = rate_soak(t, 10.0, 0.0, "sawtooth")
        print(f"| soak, sawtooth returning to its floor (PASS / FAIL) | 600 s | "
              f"{ps:.1%} / {fs:.1%} | - |")
        ps, fs = rate_soak(t, 10.0, 8.0, "sawtooth")
        print(f"| soak, sawtooth with peaks rising 8 MB/min (PASS / FAIL) | 600 s | "
              f"{ps:.1%} / {fs:.1%} | - |")


if __name__ == "__main__":
    main()
