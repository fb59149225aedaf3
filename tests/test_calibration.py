"""The calibration kernel: the machine's own speed around each timed item (issue 27)."""

from __future__ import annotations

import json

from conftest import run_cli
from harness.measure import calibration
from harness.measure.conditions import judge
from harness.records import read_record, record_files
from harness.specs import ConditionLimits


def test_a_drifting_kernel_makes_the_conditions_unstable():
    fake = {"other_cpu": {"mean_cores": 0.0, "pinned_cores": 2, "resolution_cores": 0.0},
            "calibration": calibration.summary(0.020, 0.0248)}  # a fake probe: 24% slower
    out = judge(fake, ConditionLimits())
    assert out["state"] == "unstable"
    assert out["evidence"] == ["the calibration kernel ran 24% slower after the item than "
                               "before (20.0 -> 24.8 ms, limit 20%): the machine changed speed "
                               "while it measured"]
    steady = {**fake, "calibration": calibration.summary(0.020, 0.0205)}
    assert judge(steady, ConditionLimits())["state"] == "ok"
    assert judge(fake, ConditionLimits(calibration_drift_max=0.3))["state"] == "ok"


def test_contention_still_comes_first():
    c = {"other_cpu": {"mean_cores": 1.5, "pinned_cores": 2, "resolution_cores": 0.0},
         "calibration": calibration.summary(0.020, 0.030)}
    out = judge(c, ConditionLimits())
    assert out["state"] == "contended" and len(out["evidence"]) == 2


def test_the_kernel_is_short_and_positive():
    t = calibration.probe()
    assert 0 < t < 2.0


def test_speed_records_carry_the_kernel_around_their_item(project):
    r = run_cli("run", "-b", "fake", "-p", "8", "-n", "8", "-r", "2", "--tasks", "none",
                "--out", str(project / "out"), cwd=project)
    assert r.returncode == 0, r.stderr
    (rec,) = [read_record(p) for p in record_files([project / "out"])]
    k = rec.conditions["calibration"]
    assert k["before_ms"] > 0 and k["after_ms"] > 0 and isinstance(k["drift"], float)


def test_compare_says_when_the_machine_changed_speed(tmp_path):
    from helpers import record

    def with_kernel(ms):
        d = record().to_dict()
        d["conditions"] = {"state": "ok", "evidence": [], "calibration":
                           calibration.summary(ms / 1000, ms / 1000)}
        return d

    for name, ms in (("b", 20.0), ("c", 26.0)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "r.json").write_text(json.dumps(with_kernel(ms)))
    r = run_cli("compare", str(tmp_path / "b"), str(tmp_path / "c"), "--format", "json")
    warnings = json.loads(r.stdout)["warnings"]
    assert any("calibration kernel took 20.0 ms in the baseline and 26.0 ms" in w
               and "interleaved" in w for w in warnings), warnings
