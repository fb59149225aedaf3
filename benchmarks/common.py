"""Helpers for the overhead benchmarks: alternate A and B in one run, report ratios.

The machine is shared and noisy, so absolute figures across runs mean little; each
benchmark interleaves its two contenders (A, B, A, B, ...) in one process and reports
the ratio of their medians with a bootstrap interval.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections.abc import Callable


def parser(doc: str):
    """The flags every overhead benchmark takes: rounds, prompt, gen, threads."""
    import argparse

    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=10, help="alternating rounds (default 10)")
    ap.add_argument("--prompt", type=int, default=128, help="prompt tokens (default 128)")
    ap.add_argument("--gen", type=int, default=64, help="generated tokens (default 64)")
    ap.add_argument("--threads", type=int, default=2, help="threads (default 2)")
    return ap


def default_model():
    """(path, sha256) of the catalogue's default model, checked."""
    from harness.config import load_catalogue, project_root
    from harness.models import resolve

    cat = load_catalogue(project_root() / "models.yaml")
    return resolve(cat.get(cat.default), project_root())


def alternate(contenders: dict[str, Callable[[], dict[str, float]]], rounds: int,
              warmup: int = 1) -> dict[str, dict[str, list[float]]]:
    """Call each contender once per round, in turn; collect their metric samples."""
    for _ in range(warmup):
        for fn in contenders.values():
            fn()
    out: dict[str, dict[str, list[float]]] = {name: {} for name in contenders}
    for r in range(rounds):
        order = list(contenders) if r % 2 == 0 else list(reversed(contenders))
        for name in order:
            for metric, value in contenders[name]().items():
                out[name].setdefault(metric, []).append(value)
        print(f"  round {r + 1}/{rounds}", file=sys.stderr, flush=True)
    return out


def ratio_report(samples: dict[str, dict[str, list[float]]], a: str, b: str,
                 metrics: list[str]) -> dict:
    """Median of A / median of B per metric, with a bootstrap 95% interval of the ratio."""
    import numpy as np

    rng = np.random.default_rng(0)
    report = {}
    for m in metrics:
        xa, xb = np.array(samples[a][m]), np.array(samples[b][m])
        boots = [np.median(rng.choice(xa, xa.size)) / np.median(rng.choice(xb, xb.size))
                 for _ in range(2000)]
        report[m] = {a: statistics.median(xa), b: statistics.median(xb),
                     "ratio": float(np.median(xa) / np.median(xb)),
                     "ci95": [float(np.quantile(boots, 0.025)), float(np.quantile(boots, 0.975))]}
    return report


def print_report(title: str, report: dict, a: str, b: str, targets: dict[str, float]) -> bool:
    print(f"\n{title}\n\n| metric | {a} | {b} | ratio {a}/{b} | 95% CI | target | met |")
    print("|---|---|---|---|---|---|---|")
    ok = True
    for m, r in report.items():
        target = targets.get(m)
        met = target is None or r["ratio"] >= target
        ok &= met
        print(f"| {m} | {r[a]:.1f} | {r[b]:.1f} | {r['ratio']:.3f} | "
              f"{r['ci95'][0]:.3f}-{r['ci95'][1]:.3f} | "
              f"{'>= ' + str(target) if target else '-'} | {'yes' if met else 'NO'} |")
    print("\n" + json.dumps(report))
    return ok


def harness_record(request, out):
    """The one record of a harness run (api.execute of a one-item RunRequest, one worker)."""
    from harness import api

    result = api.execute(api.plan(request), out_dir=out, log=lambda m: None)
    if result.failed:
        raise SystemExit(f"harness run of {', '.join(request.backends)} failed: "
                         f"{result.failed[0].error}")
    (record,) = result.records
    return record


def t_interval(xs: list[float]) -> tuple[float, float]:
    """95 % t-interval of the mean of xs (per-round ratios); NaNs with fewer than two."""
    import math

    from scipy import stats

    if len(xs) < 2:
        return (math.nan, math.nan)
    m, se = statistics.mean(xs), statistics.stdev(xs) / math.sqrt(len(xs))
    h = se * stats.t.ppf(0.975, len(xs) - 1)
    return (m - h, m + h)


def rate_with_interval(hits: int, trials: int) -> str:
    """A simulated rate with its two-sided 95% Clopper-Pearson interval, "4.2% [3.4%,
    5.2%]" (the verdict's own exact bound, harness.measure.bounds.accuracy_bound, at
    97.5% on each side)."""
    from harness.measure.bounds import accuracy_bound

    xs = [1.0] * int(hits) + [0.0] * (int(trials) - int(hits))
    lo = accuracy_bound(xs, "lower", 0.975).bound
    hi = accuracy_bound(xs, "upper", 0.975).bound
    return f"{hits / trials:.1%} [{lo:.1%}, {hi:.1%}]"
