"""How often each verdict bound PASSes a budget equal to the true value (should be <= 5%).

    .venv/bin/python -m benchmarks.simulate_verdicts [--trials 2000] [--only speed,itl,...]

(--only soak: the soak table of benchmarks/simulate_soak.py; soak-old: the earlier
independent-readings soak rows.)

Every bound of harness.measure.bounds / harness.measure.soak is fed seeded synthetic
data whose true value is known, with the budget set to exactly that value: the PASS rate
is then the bound's real one-sided error rate (nominal 5%), printed with its two-sided 95%
Clopper-Pearson interval over the trials. "no bound" is the share of runs for which the
bound is not given (the verdict's NOT MEASURED, with the reason); a run without a bound
never PASSes. "5% better" puts the true value 5% on the good side of the budget: the PASS
rate there is the power. The target: every PASS-at-the-budget rate at most 5%, the upper
end of its interval at most 6.5%. The generators are imported by tests/test_bounds.py,
which checks the same figures on fewer trials. ITL rows use trials / 2 runs, perplexity
rows 2 x trials.
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from benchmarks.common import rate_with_interval
from harness.measure import bounds, soak
from harness.measure import windows as text_bounds

GAPS = 63  # gaps per repetition: gen_tokens 64


# ------------------------------------------------------------------ generators
def lognormal(rng, n: int, median: float, cv: float) -> np.ndarray:
    sigma = math.sqrt(math.log(1 + cv ** 2))
    return median * rng.lognormal(0.0, sigma, n)


#: the processes of inter-token gaps (itl_reps), each described there
ITL_KINDS = ("independent", "correlated", "bimodal", "bursty", "ar0.5", "ar0.9", "drift")
_SIGMA = math.sqrt(math.log(1 + 0.10 ** 2))  # log-sd of a gap: CV 10%


def _ar_log(rng, reps: int, phi: float, gaps: int, sigma: float = _SIGMA) -> np.ndarray:
    """Stationary AR(1) series (one row per repetition) of log-sd sigma."""
    z = np.empty((reps, gaps))
    z[:, 0] = rng.normal(0.0, sigma, reps)
    e = rng.normal(0.0, sigma * math.sqrt(1 - phi ** 2), (reps, gaps))
    for i in range(1, gaps):
        z[:, i] = phi * z[:, i - 1] + e[:, i]
    return z


def itl_reps(rng, reps: int, kind: str, gaps: int = GAPS) -> list[np.ndarray]:
    """Inter-token gaps (ms) of `reps` repetitions, around 20 ms, gaps CV 10%.

    independent: i.i.d. lognormal gaps.
    correlated: a run-to-run factor (CV 3%), AR(1) gaps within a repetition (phi 0.8)
      and, in 30% of repetitions, a burst of 6 gaps 1.6x slower (a neighbour).
    bimodal: i.i.d. gaps; one repetition in ten (at random) is 30% slower throughout.
    bursty: i.i.d. gaps; any gap starts a burst with probability 1%, a burst lasts a
      geometric number of gaps (mean 5) 1.8x slower.
    ar0.5, ar0.9: AR(1) log-gaps (phi 0.5 / 0.9) within a repetition, and a heavy-tailed
      level per repetition: exp(0.02 t3) (Student t, 3 df: now and then a far-off one).
    drift: i.i.d. gaps; warm-up: repetition i is 1 + 0.15 exp(-i / 2) times slower."""
    if kind == "correlated":
        return _correlated(rng, reps, gaps)
    if kind in ("ar0.5", "ar0.9"):
        level = np.exp(0.02 * rng.standard_t(3, reps))
        x = 20.0 * level[:, None] * np.exp(_ar_log(rng, reps, float(kind[2:]), gaps))
        return list(x)
    x = 20.0 * rng.lognormal(0.0, _SIGMA, (reps, gaps))
    if kind == "bimodal":
        x[rng.random(reps) < 0.1] *= 1.3
    elif kind == "bursty":
        for r, i in zip(*np.nonzero(rng.random((reps, gaps)) < 0.01)):
            x[r, i: i + rng.geometric(0.2)] *= 1.8
    elif kind == "drift":
        x *= (1 + 0.15 * np.exp(-np.arange(reps) / 2.0))[:, None]
    elif kind != "independent":
        raise ValueError(f"unknown ITL process {kind!r} (one of {', '.join(ITL_KINDS)})")
    return list(x)


def _correlated(rng, reps: int, gaps: int) -> list[np.ndarray]:
    out = []
    for _ in range(reps):
        phi = 0.8
        e = rng.normal(0.0, _SIGMA * math.sqrt(1 - phi ** 2), gaps)
        z = np.empty(gaps)
        z[0] = rng.normal(0.0, _SIGMA)
        for i in range(1, gaps):
            z[i] = phi * z[i - 1] + e[i]
        g = 20.0 * lognormal(rng, 1, 1.0, 0.03)[0] * np.exp(z)
        if rng.random() < 0.3:
            s = rng.integers(0, gaps - 6)
            g[s: s + 6] *= 1.6
        out.append(g)
    return out


def true_itl_percentile(kind: str, q: float, reps: int = 40000, seed: int = 7,
                        per_run: int = 30) -> float:
    """The percentile of the process's pooled gaps; under drift, of runs of `per_run`
    repetitions (the warm-up is part of what such a run pools)."""
    rng = np.random.default_rng(seed)
    if kind == "drift":
        runs = [np.concatenate(itl_reps(rng, per_run, kind)) for _ in range(reps // per_run)]
        return float(np.percentile(np.concatenate(runs), q))
    return float(np.percentile(np.concatenate(itl_reps(rng, reps, kind)), q))


#: the processes of perplexity windows (windows), each described there
PPL_KINDS = ("independent", "ar0.5", "ar0.9", "4 documents", "4 unnamed documents",
             "documents of 4 windows")


def windows(rng, n: int, kind: str = "independent"
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Perplexity windows in text order: 256-1024 tokens, a per-token NLL that varies by
    topic (sd 0.35 nats around 2.5) plus token noise. Returns (window_nll, window_tokens,
    the document of each window, or None when the record does not say).

    independent: one text, topics independent from window to window.
    ar0.5, ar0.9: one text, the topic an AR(1) series over its windows (phi 0.5 / 0.9).
    4 documents: n / 4 windows each; each document has its own level (sd 0.3) around
      which the topic moves as AR(0.5) (sd 0.2); the record names the documents.
    4 unnamed documents: the same, in a record that does not name them (records made
      before the perplexity scenario recorded window_document).
    documents of 4 windows: n / 4 documents as above of 4 windows each, named."""
    tok = rng.integers(256, 1025, n).astype(float)
    docs = None
    if kind == "independent":
        topic = rng.normal(0.0, 0.35, n)
    elif kind in ("ar0.5", "ar0.9"):
        topic = _ar_log(rng, 1, float(kind[2:]), n, 0.35)[0]
    elif kind in ("4 documents", "4 unnamed documents", "documents of 4 windows"):
        per = 4 if kind == "documents of 4 windows" else max(1, n // 4)
        docs = np.minimum(np.arange(n) // per, max(1, n // per) - 1)
        count = int(docs.max()) + 1
        topic = (rng.normal(0.0, 0.3, count)[docs]
                 + _ar_log(rng, count, 0.5, n, 0.2)[docs, np.arange(n)])
        docs = None if kind == "4 unnamed documents" else docs
    else:
        raise ValueError(f"unknown perplexity process {kind!r} (one of {', '.join(PPL_KINDS)})")
    nll = (2.5 + topic) * tok + rng.normal(0.0, 1.0, n) * np.sqrt(tok)
    return nll, tok, docs


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
             seed: int = 1, truth: float | None = None) -> tuple[int, int]:
    """(PASSes, runs with no bound) of an itl pQ max budget = the true percentile, over
    `trials` runs (better: the true value that much below the budget)."""
    budget = truth if truth is not None else true_itl_percentile(kind, q, per_run=reps)
    hits = nobound = 0
    for k in range(trials):
        rng = np.random.default_rng(seed + k)
        data = [g * (1 - better) for g in itl_reps(rng, reps, kind)]
        b = bounds.percentile_bound(data, q, "upper")
        hits += b.bounded and b.bound <= budget
        nobound += not b.bounded
    return hits, nobound


def rate_accuracy(trials: int, n: int, p: float, seed: int = 1) -> float:
    """acc min budget = p (the true accuracy)."""
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(trials):
        xs = (rng.random(n) < p).astype(float)
        hits += bounds.accuracy_bound(xs, "lower").bound >= p
    return hits / trials


def rate_perplexity(trials: int, n: int, better: float = 0.0, seed: int = 1,
                    kind: str = "independent") -> tuple[int, int]:
    """(PASSes, runs with no bound) of a perplexity max budget = the true perplexity."""
    hits = nobound = 0
    for k in range(trials):
        rng = np.random.default_rng(seed + k)
        nll, tok, docs = windows(rng, n, kind)
        nll = nll + math.log(1 - better) * tok
        b = text_bounds.perplexity_bound(nll, tok, "upper", documents=docs)
        hits += b.bounded and b.bound <= TRUE_PPL
        nobound += not b.bounded
    return hits, nobound


def rate_ratio(trials: int, n: int, kind: str, better: float = 0.0, seed: int = 1
               ) -> tuple[int, int]:
    """(PASSes, runs with no bound) of "run B's perplexity at most run A's" (an upper
    bound of ppl(B) / ppl(A) at most 1) when B is truly as good (better: B that much
    lower). Both runs score the same windows (`kind`); B's per-window NLL differs from
    A's by noise that drifts along the text (AR(0.5), sd 0.02 nats a token, within each
    document when there are documents) plus token noise."""
    hits = nobound = 0
    for k in range(trials):
        rng = np.random.default_rng(seed + k)
        nll, tok, docs = windows(rng, n, kind)
        # the drift restarts with each document
        ids = np.zeros(n, dtype=int) if docs is None else docs
        drift = _ar_log(rng, int(ids.max()) + 1, 0.5, n, 0.02)[ids, np.arange(n)]
        shift = drift * tok + rng.normal(0, 0.5, n) * np.sqrt(tok)
        b, _ = text_bounds.perplexity_ratio(nll, nll + shift + math.log(1 - better) * tok, tok,
                                       documents=docs)
        hits += b.bounded and b.bound <= 1.0
        nobound += not b.bounded
    return hits, nobound


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


# ------------------------------------------------------------------ the table
HEADER = ("| bound | setting | PASS at budget (<= 5%) [95% Clopper-Pearson] | no bound "
          "(NOT MEASURED) | PASS at 5% better |\n|---|---|---:|---:|---:|")


def row(bound: str, setting: str, hits: int, nobound: int | None, trials: int,
        better: str = "-") -> str:
    nb = "-" if nobound is None else f"{nobound / trials:.1%}"
    return f"| {bound} | {setting} | {rate_with_interval(hits, trials)} | {nb} | {better} |"


def speed_rows(tr: int):
    for n in (5, 10, 20):
        yield row("speed median (decode_tps, CV 5%)", f"n = {n}",
                  round(rate_speed(tr, n) * tr), 0, tr, f"{rate_speed(tr, n, 0.05):.1%}")


def itl_rows(tr: int, reps_list=(10, 30, 50)):
    t = max(200, tr // 2)
    for kind in ITL_KINDS:
        for reps in reps_list:
            truth = true_itl_percentile(kind, 99, per_run=reps)
            hits, nob = rate_itl(t, reps, kind, truth=truth)
            power, _ = rate_itl(t, reps, kind, better=0.05, truth=truth)
            yield row(f"ITL p99, {kind} gaps", f"{reps} reps x {GAPS} gaps", hits, nob, t,
                      f"{power / t:.1%}")


def exact_accuracy_rate(n: int, p: float) -> float:
    """The Clopper-Pearson lower bound's exact PASS rate at a budget equal to the true
    accuracy p: the binomial probability of the item counts whose bound reaches p."""
    from scipy.stats import binom

    return float(sum(binom.pmf(k, n, p) for k in range(n + 1)
                     if bounds.accuracy_bound([1.0] * k + [0.0] * (n - k), "lower").bound
                     >= p))


def accuracy_rows(tr: int):
    yield row("accuracy Clopper-Pearson", "36 items, p = 0.70",
              round(rate_accuracy(tr, 36, 0.70) * tr), 0, tr)
    worst = max((exact_accuracy_rate(36, p), p) for p in np.arange(0.50, 0.96, 0.01))
    yield (f"| accuracy Clopper-Pearson, worst p of 0.50-0.95 (exact binomial sum, no "
           f"simulation) | 36 items, p = {worst[1]:.2f} | {worst[0]:.2%} (exact) | 0.0% | - |")


def perplexity_rows(tr: int):
    tr *= 2  # cheap rows: twice the trials, a tighter interval
    for kind in PPL_KINDS:
        for n in (40, 200):
            hits, nob = rate_perplexity(tr, n, kind=kind)
            power, _ = rate_perplexity(tr, n, 0.05, kind=kind)
            yield row(f"perplexity, {kind}", f"{n} windows", hits, nob, tr,
                      f"{power / tr:.1%}")
    for kind in ("ar0.9", "documents of 4 windows"):
        for n in (40, 200):
            hits, nob = rate_ratio(tr, n, kind)
            power, _ = rate_ratio(tr, n, kind, better=0.05)
            yield row(f"paired perplexity ratio B / A, {kind}", f"{n} windows",
                      hits, nob, tr, f"{power / tr:.1%}")


def soak_rows(tr: int):
    """The soak table of benchmarks/simulate_soak.py (its own columns: autocorrelated
    series, sawtooth, steps; the NOT MEASURED reasons and the planned soak length)."""
    from benchmarks import simulate_soak

    yield ""
    yield from simulate_soak.rows(tr)


def soak_old_rows(tr: int):
    """The earlier independent-readings soak rows (the bound's behaviour there)."""
    t = max(200, tr // 4)
    p, _ = rate_soak(t, 4.0, 5.0, "line")
    p5, _ = rate_soak(t, 4.0, 4.75, "line")
    yield row("soak slope, true 5 MB/min = budget", "240 s", round(p * t), None, t,
              f"{p5:.1%}")
    _, f = rate_soak(t, 4.0, 0.0, "step")
    yield f"| soak, one +8 MB step, no leak (FAIL rate) | 240 s | {f:.1%} | - | - |"
    for minutes, slope, what in ((2.0, 0.0, "returning to its floor"),
                                 (10.0, 0.0, "returning to its floor"),
                                 (10.0, 8.0, "with peaks rising 8 MB/min")):
        ps, fs = rate_soak(t, minutes, slope, "sawtooth")
        yield (f"| soak, sawtooth {what} (PASS / FAIL; else NOT MEASURED) | "
               f"{minutes * 60:.0f} s | {ps:.1%} / {fs:.1%} | - | - |")


ROWS = {"speed": speed_rows, "itl": itl_rows, "accuracy": accuracy_rows,
        "perplexity": perplexity_rows, "soak": soak_rows, "soak-old": soak_old_rows}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=2000,
                    help="simulated runs per row (ITL rows: half as many, perplexity rows "
                         "twice as many; default 2000)")
    ap.add_argument("--only", default=",".join(g for g in ROWS if g != "soak-old"),
                    help=f"comma-separated groups of rows: {', '.join(ROWS)} (default: all "
                         "but soak-old)")
    args = ap.parse_args(argv)
    only = [g for g in args.only.split(",") if g]
    unknown = [g for g in only if g not in ROWS]
    if unknown or args.trials < 1:
        ap.error(f"unknown group {unknown[0]!r} (one of {', '.join(ROWS)})" if unknown
                 else "--trials must be at least 1")
    print(HEADER)
    for group in only:
        for line in ROWS[group](args.trials):
            print(line, flush=True)


if __name__ == "__main__":
    main()
