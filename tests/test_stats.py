import math
import statistics

import numpy as np
import pytest

from harness.measure.stats import bootstrap_ci, percentile, summarize


def test_summary_matches_reference_implementations():
    xs = [5.0, 1.0, 4.0, 2.0, 3.0, 10.0]
    s = summarize(xs)
    assert s["n"] == 6
    assert s["median"] == statistics.median(xs)
    assert s["mean"] == pytest.approx(statistics.mean(xs))
    assert s["stdev"] == pytest.approx(statistics.stdev(xs))
    assert s["cv"] == pytest.approx(statistics.stdev(xs) / statistics.mean(xs))
    for q in (50, 90, 99):
        assert s[f"p{q}"] == pytest.approx(np.percentile(xs, q))
    assert (s["min"], s["max"]) == (1.0, 10.0)
    assert s["sem"] == pytest.approx(statistics.stdev(xs) / 6 ** 0.5)


def test_single_sample_has_zero_spread_and_degenerate_interval():
    s = summarize([7.5])
    assert s["stdev"] == 0.0 and s["ci_low"] == s["ci_high"] == 7.5


def test_empty_and_nan_samples():
    assert summarize([]) == {"n": 0}
    assert summarize([math.nan, 2.0])["n"] == 1


def test_bootstrap_interval_brackets_the_median_and_is_reproducible():
    rng = np.random.default_rng(0)
    xs = list(rng.normal(100, 5, size=30))
    lo, hi = bootstrap_ci(xs)
    assert lo < statistics.median(xs) < hi
    assert (lo, hi) == bootstrap_ci(xs)
    assert hi - lo < 10


def test_percentile_interpolates():
    assert percentile([0, 10], 50) == 5
    assert percentile([1, 2, 3, 4], 100) == 4
