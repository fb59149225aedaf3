"""The soak's memory-growth bound (harness.measure.soak) on autocorrelated readings, and
the soak length a budget needs (planned by verify, named in the NOT MEASURED reason).
Seeded and fast; benchmarks/simulate_soak.py runs the same processes on more trials."""

import numpy as np
import pytest

from benchmarks import simulate_soak as sim
from conftest import write
from harness.measure import soak


def _old_sen_passes(t, y, budget=5.0):
    """The bound before issue 27: Sen's plain bound, readings taken as independent."""
    skip = len(t) // 10
    return soak.theil_sen(t[skip:], y[skip:])[2] <= budget


def test_ar09_leak_at_the_budget_that_plain_sen_passed_is_no_longer_a_pass():
    old = new = 0
    for seed in range(40):
        t, y = sim.ar_series(np.random.default_rng(seed), 4.0, 5.0, 0.9)
        b = soak.slope_bound(t, y, 5.0, 240.0)
        old += _old_sen_passes(t, y)
        new += b.bounded and b.bound <= 5.0
    assert old >= 8  # about 35% of them
    assert new <= 2  # nominal 5%
    t, y = sim.ar_series(np.random.default_rng(2), 4.0, 5.0, 0.9)
    assert _old_sen_passes(t, y)
    b = soak.slope_bound(t, y, 5.0, 240.0)
    assert not (b.bounded and b.bound <= 5.0)
    assert b.method.endswith("widened for autocorrelation")


def test_independent_readings_keep_a_sen_bound_and_note_their_effective_count():
    t, y = sim.ar_series(np.random.default_rng(1), 400 / 60, 0.0, 0.0)
    b = soak.slope_bound(t, y, 5.0, 400.0)
    assert b.bounded and b.bound < 0.5 and b.value == pytest.approx(0.0, abs=0.2)
    assert "lag-1 autocorrelation" in b.notes[0]


def test_readings_too_correlated_to_count_are_not_measured_with_the_soak_needed():
    t, y = sim.ar_series(np.random.default_rng(2), 4.0, 0.0, 0.995, sd=1.0)
    b = soak.slope_bound(t, y, 5.0, 240.0)
    assert b.bound is None
    assert "autocorrelated" in b.reason and "is needed to decide 5 MB/min" in b.reason


def test_one_allocator_step_is_a_level_shift_not_autocorrelation():
    t, y = sim.step(np.random.default_rng(4), 4.0, 0.0)
    rho = soak.lag1_autocorrelation(t, y, 0.0)
    assert abs(rho) < 0.2
    b = soak.slope_bound(t, y, 5.0, 240.0)
    assert b.bounded and b.bound <= 5.0


def test_a_staircase_leak_at_the_budget_is_not_a_pass():
    """+8 MB every 96 s (5 MB/min): plain Sen passed about 60% of such series; two jumps
    or more are not level shifts but the leak, and their deviations count as
    correlation."""
    old = new = 0
    for seed in range(10):
        t, y = sim.staircase(np.random.default_rng(seed), 400 / 60, 5.0)
        b = soak.slope_bound(t, y, 5.0, 400.0)
        old += _old_sen_passes(t, y)
        new += b.bounded and b.bound <= 5.0
    assert old >= 3 and new == 0


def test_sawtooth_peaks_use_the_exact_kendall_distribution():
    assert soak.inversions_cdf(3) == pytest.approx([1 / 6, 3 / 6, 5 / 6, 1.0])
    rng = np.random.default_rng(0)
    hits = sum(soak.sen_upper_exact(np.arange(5) * 42.0,
                                    5 * np.arange(5) * 42.0 / 60 + rng.normal(0, 0.2, 5))[1]
               <= 5.0 for _ in range(400))
    assert hits / 400 <= 0.05 + 2 * (0.05 * 0.95 / 400) ** 0.5


def test_too_few_sawtooth_cycles_name_the_soak_length_they_need():
    t, y = sim.sawtooth(np.random.default_rng(1), 2.0, 0.0)
    b = soak.slope_bound(t, y, 5.0, 120.0)
    assert b.bound is None and "sawtooth cycles of about" in b.reason
    assert "is needed to decide 5 MB/min" in b.reason


def test_duration_planner():
    assert soak.min_duration_s(5.0) == pytest.approx(192.0)  # one 8 MB step = half budget
    assert soak.min_duration_s(5.0, 42.0) == pytest.approx(280.0)  # 6 cycles after warm-up
    assert soak.planned_duration_s(5.0) == 400  # cycles of up to CYCLE_S = 60 s
    assert soak.planned_soak_s([]) == 240.0 and soak.planned_soak_s([5.0, 1000.0]) == 400
    assert soak.needed(192, 5.0) == "a soak of 3.2 min (192 s) is needed to decide 5 MB/min"
    t, y = sim.ar_series(np.random.default_rng(1), 2.0, 0.0, 0.0)
    assert "a soak of 3.2 min (192 s) is needed" in soak.slope_bound(t, y, 5.0, 120.0).reason


PROFILE = """
name: soaky
threads: 1
cores: 1
budgets:
  - {metric: decode_tps, min: 1, prompt_tokens: 8, gen_tokens: 4}
  - {metric: rss_slope_mb_per_min, max: 5}
"""


def test_verify_plans_the_soak_from_the_budget_and_warns_when_told_shorter(project):
    from harness import api

    write(project / "devices" / "soaky.yaml", PROFILE)
    assert api.verify_request("soaky", backends=("fake",), reps=5).soak_seconds == 400
    plan = api.plan(api.verify_request("soaky", backends=("fake",), reps=5, soak_seconds=60))
    assert any("--soak-seconds 60 cannot decide rss_slope_mb_per_min <= 5: a soak of 3.2 "
               "min (192 s) is needed to decide 5 MB/min" in n for n in plan.notes)
    plan = api.plan(api.verify_request("soaky", backends=("fake",), reps=5))
    assert not any("cannot decide" in n for n in plan.notes)


def _soak_record(t, y, duration_s):
    from harness.measure.environment import environment
    from harness.records import Measurement, make_record

    return make_record(kind="soak", run_id="r", seq=0, started_at="t",
                       model={"id": "m", "format": "gguf", "sha256": None, "size_bytes": 1},
                       backend={"name": "llama_cpp"}, device={"name": "d"},
                       task={"name": "soak", "version": 1, "kind": "soak"},
                       params={"duration_s": duration_s, "prompt_tokens": 64,
                               "gen_tokens": 64}, env=environment(),
                       measurements=[Measurement.of("soak_t_s", t),
                                     Measurement.of("soak_rss_mb", y)])


def test_verdict_does_not_pass_an_ar09_leak_at_the_budget_that_plain_sen_passed():
    from harness.specs import Budget, DeviceProfile
    from harness.verdict import check_budget

    dev = DeviceProfile(name="d", threads=2, budgets=[Budget(metric="rss_slope_mb_per_min",
                                                             max=5.0)])
    t, y = sim.ar_series(np.random.default_rng(2), 4.0, 5.0, 0.9)
    assert _old_sen_passes(t, y)
    row = check_budget([_soak_record(t, y, 240.0)], dev.budgets[0], dev)
    assert row["status"] == "fail" and "taken as 0.90: 288 readings count as 16" in row["detail"]
    t, y = sim.ar_series(np.random.default_rng(6), 4.0, 5.0, 0.9)
    row = check_budget([_soak_record(t, y, 240.0)], dev.budgets[0], dev)
    assert row["status"] == "not_measured" and "is needed to decide 5 MB/min" in row["detail"]
