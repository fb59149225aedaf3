"""Calibration of the verdict's bounds (harness.measure.bounds, harness.measure.soak):
seeded simulations where the budget equals the true value, so the PASS rate is the
bound's real one-sided error rate (nominal 5%). benchmarks/simulate_verdicts.py reruns
them with more trials."""

import math

import pytest

from benchmarks import simulate_verdicts as sim
from harness.measure import bounds, soak

TRIALS = 400
#: nominal 5% plus two Monte-Carlo standard errors at TRIALS
CEILING = 0.05 + 2 * math.sqrt(0.05 * 0.95 / TRIALS)


@pytest.mark.parametrize("n", [5, 10, 20])
def test_speed_median_bound_passes_at_most_5_percent_at_the_budget(n):
    assert sim.rate_speed(TRIALS, n) <= CEILING
    assert sim.rate_speed(TRIALS, 20, better=0.05) > 0.8  # reported power at 5% better


@pytest.mark.parametrize("kind", ["independent", "correlated"])
def test_itl_p99_bound_with_independent_and_correlated_gaps(kind):
    truth = sim.true_itl_percentile(kind, 99, reps=8000)
    assert sim.rate_itl(200, 10, kind, truth=truth, resamples=500) <= 0.05 + 2 * math.sqrt(
        0.05 * 0.95 / 200)
    assert sim.rate_itl(100, 10, kind, better=0.05, truth=truth, resamples=500) > 0.0


def test_too_few_repetitions_for_p99_is_no_bound_with_the_reason():
    import numpy as np

    reps = sim.itl_reps(np.random.default_rng(0), 5, "correlated")
    b = bounds.percentile_bound(reps, 99, "upper")
    assert b.bound is None and "5 repetitions cannot bound p99" in b.reason
    assert bounds.median_bound([1.0, 2.0, 3.0, 4.0], "lower").bound is None


def test_accuracy_clopper_pearson_is_exact_and_one_sided():
    b = bounds.accuracy_bound([1.0] * 36, "lower")
    assert b.value == 1.0 and b.bound == pytest.approx(0.05 ** (1 / 36))  # 0.9202
    assert bounds.accuracy_bound([0.0] * 10, "lower").bound == 0.0
    assert max(sim.rate_accuracy(TRIALS, 36, p) for p in (0.6, 0.7, 0.8, 0.9)) <= CEILING


def test_perplexity_ratio_estimator_with_topic_variation():
    assert sim.rate_perplexity(TRIALS, 20) <= CEILING
    nll, tok = [10.0, 30.0], [5.0, 10.0]
    r, se = bounds.ratio_se(nll, tok)
    assert r == pytest.approx(40 / 15)


def test_soak_slope_step_and_sawtooth():
    assert sim.rate_soak(200, 4.0, 5.0, "line")[0] <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / 200)
    assert sim.rate_soak(100, 4.0, 0.0, "step")[1] <= 0.05  # one +8 MB step: no FAIL
    ok, bad = sim.rate_soak(50, 10.0, 0.0, "sawtooth")
    assert ok == 1.0 and bad == 0.0  # returns to its floor: bounded, passes
    assert sim.rate_soak(50, 10.0, 8.0, "sawtooth")[1] == 1.0  # rising peaks: a leak
    import numpy as np

    t, y = sim.soak_series(np.random.default_rng(1), 2.0, 0.0, "sawtooth")
    b = soak.slope_bound(t, y, 5.0, 120.0)
    assert b.bound is None and "sawtooth cycles of about 42 s cannot bound" in b.reason
    t, y = sim.soak_series(np.random.default_rng(1), 2.0, 0.0, "line")
    assert "too short" in soak.slope_bound(t, y, 5.0, 120.0).reason
