"""Verdict logic on synthetic measurements, affinity pinning, and verify end to end."""

import json

import pytest

from conftest import run_cli, write
from harness.measure.environment import environment
from harness.records import Measurement, make_record, read_record, record_files
from harness.specs import DeviceProfile
from harness.verdict import check_budget, markdown_table, verdict


def speed_record(decode, ttft=(100.0,) * 10, prompt=128, threads=2, peak=300.0):
    ms = [Measurement("ttft_ms", "ms", False, tuple(ttft)),
          Measurement("decode_tps", "tokens/s", True, tuple(decode)),
          Measurement("itl_ms", "ms", False, tuple(1000 / d for d in decode for _ in range(63))),
          Measurement("load_s", "s", False, (0.5,)),
          Measurement("peak_rss_mb", "MB", False, (peak,))]
    return make_record(kind="speed", run_id="r", seq=0, started_at="t",
                       model={"id": "m", "format": "gguf", "sha256": None, "size_bytes": 1},
                       backend={"name": "llama_cpp"}, device={"name": "d"},
                       task={"name": "speed", "version": 1},
                       params={"prompt_tokens": prompt, "gen_tokens": 64, "threads": threads,
                               "repetitions": len(decode)},
                       env=environment(), measurements=ms)


def quality_record(task, correct, n):
    return make_record(kind="quality", run_id="r", seq=1, started_at="t",
                       model={"id": "m", "format": "gguf", "sha256": None, "size_bytes": 1},
                       backend={"name": "llama_cpp"}, device={"name": "d"},
                       task={"name": task, "version": 1, "kind": "multiple_choice"},
                       params={"threads": 2}, env=environment(),
                       measurements=[Measurement("acc", "", True,
                                                 tuple([1.0] * correct + [0.0] * (n - correct)))])


def device(*budgets, threads=2):
    return DeviceProfile(name="d", threads=threads, budgets=list(budgets))


def test_min_budget_uses_the_lower_bound():
    recs = [speed_record([50.0 + i for i in range(10)])]  # median 54.5, lower bound 51
    ok = check_budget(recs, *device({"metric": "decode_tps", "min": 45,
                                     "prompt_tokens": 128}).budgets, device())
    assert ok["status"] == "pass" and ok["measured"] == pytest.approx(54.5)
    assert ok["bound"] < ok["measured"]
    # the median meets 54 but the lower bound does not: FAIL, with a note saying so
    close = check_budget(recs, *device({"metric": "decode_tps", "min": 54}).budgets, device())
    assert close["status"] == "fail" and "bound does not" in close["detail"]


def test_max_budget_uses_the_upper_bound_and_percentiles():
    recs = [speed_record([100.0] * 10, ttft=[90.0 + i for i in range(10)])]
    r = check_budget(recs, *device({"metric": "ttft_ms", "max": 100}).budgets, device())
    assert r["status"] == "pass" and r["bound"] > r["measured"]
    # an ITL percentile needs 29 repetitions (a slow mode in 1 of 10 then shows)
    enough = [speed_record([100.0] * 29)]
    r = check_budget(enough, *device({"metric": "itl_p99_ms", "max": 5}).budgets, device())
    assert r["status"] == "fail" and r["measured"] == pytest.approx(10.0)
    assert r["level"] == 0.95 and "one-sided 95%" in r["method"]
    # p99 from 10 repetitions has no 95% bound: NOT MEASURED with the reason
    r = check_budget(recs, *device({"metric": "itl_p99_ms", "max": 50}).budgets, device())
    assert r["status"] == "not_measured" and "10 repetitions cannot bound p99" in r["detail"]
    assert "1 of 10 repetitions" in r["detail"]


def test_peak_memory_takes_the_worst_worker_and_accuracy_its_stderr():
    recs = [speed_record([100.0] * 5, peak=300), speed_record([100.0] * 5, peak=900),
            quality_record("mc_en", 30, 36)]
    d = device({"metric": "peak_rss_mb", "max": 800}, {"metric": "acc", "min": 0.7, "task": "mc_en"})
    mem, acc = (check_budget(recs, b, d) for b in d.budgets)
    assert mem["status"] == "fail" and mem["measured"] == 900
    assert mem["bound"] is None and mem["level"] is None and "no bound" in mem["method"]
    assert acc["measured"] == pytest.approx(30 / 36) and acc["bound"] < acc["measured"]
    assert "Clopper-Pearson" in acc["method"]  # P(Binomial(36, 0.6973) >= 30) = 0.05
    assert acc["bound"] == pytest.approx(0.6973, abs=1e-4)


def test_not_measured_makes_the_verdict_incomplete_and_a_failure_wins():
    recs = [speed_record([100.0] * 10)]
    d = device({"metric": "decode_tps", "min": 10}, {"metric": "acc", "min": 0.5, "task": "mc_ko"})
    doc = verdict(recs, d, model={"id": "m", "sha256": None}, backend="llama_cpp", run_id="r",
                  env={}, host_warnings=[])
    assert doc["verdict"] == "incomplete"
    assert [b["status"] for b in doc["budgets"]] == ["pass", "not_measured"]
    d2 = device({"metric": "decode_tps", "min": 1000}, {"metric": "acc", "min": 0.5, "task": "x"})
    assert verdict(recs, d2, model={"id": "m", "sha256": None}, backend="llama_cpp",
                   run_id="r", env={}, host_warnings=[])["verdict"] == "fail"
    table = markdown_table(doc)
    assert table.startswith("**INCOMPLETE**") and "| acc | >= 0.5 on mc_ko | - | - | NOT MEASURED |" in table


def test_speed_budget_only_counts_the_profiles_thread_count():
    recs = [speed_record([100.0] * 10, threads=1)]
    d = device({"metric": "decode_tps", "min": 10}, threads=2)
    assert check_budget(recs, d.budgets[0], d)["status"] == "not_measured"


FAKE_PROFILE = """
name: fake-laptop
threads: 1
cores: 1
memory_budget_mb: 2048
conditions: {other_cpu_max: 1.0, calibration_drift_max: 100}  # about budgets, not a quiet machine
budgets:
  - {metric: decode_tps, min: 1, prompt_tokens: 16}
  - {metric: ttft_ms, max: 10000, prompt_tokens: 16}
  - {metric: peak_rss_mb, max: 2048}
  - {metric: determinism, min: 1}
  - {metric: rss_slope_mb_per_min, max: 1000}
"""


def test_worker_is_pinned_to_the_profiles_cores(project):
    write(project / "devices" / "one.yaml", "name: one\nthreads: 1\ncores: 1\n")
    r = run_cli("run", "-b", "fake", "-d", "one", "-p", "4", "-n", "4", "-r", "1",
                "--tasks", "none", "--out", str(project / "out"))
    assert r.returncode == 0, r.stderr
    (rec,) = [read_record(p) for p in record_files([project / "out"])]
    assert len(rec["backend"]["info"]["affinity"]) == 1
    assert rec["backend"]["info"]["affinity"] == rec["device"]["cpus"]


def test_verify_passes_on_a_deterministic_fake_model(project):
    # a soak of a second or two cannot bound memory growth: its readings are too few and
    # too autocorrelated (harness.measure.soak; NOT MEASURED, tests/test_soak.py), so the
    # profile here has no rss_slope budget; the soak still runs
    write(project / "devices" / "fake-laptop.yaml",
          FAKE_PROFILE.replace("  - {metric: rss_slope_mb_per_min, max: 1000}\n", ""))
    # 5 repetitions: the fewest that bound a median at 95% (0.5^5 = 3.1%)
    r = run_cli("verify", "-d", "fake-laptop", "-b", "fake", "-r", "5", "--soak-seconds", "1",
                "--out", str(project / "out"), "--no-report")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("**PASS**: fake-ok / fake on fake-laptop")
    (run_dir,) = (project / "out").iterdir()
    doc = json.loads((run_dir / "verdict.json").read_text())
    assert doc["verdict"] == "pass" and len(doc["budgets"]) == 4
    assert list((run_dir / "records").glob("*soak*.json"))
    det = read_record(run_dir / "records" / "fake-fake-ok-t1-determinism.json")
    assert det["details"]["mismatches"] == [] and det["details"]["workers"] == 2


def test_verify_reports_a_determinism_mismatch_across_processes(project):
    write(project / "devices" / "fake-laptop.yaml", FAKE_PROFILE)
    with open(project / "models.yaml", "a") as f:
        f.write("  - id: fake-flaky\n    format: fake\n    source: {kind: path, path: fake.bin}\n"
                "    options: {nondeterministic: true}\n")
    r = run_cli("verify", "-d", "fake-laptop", "-b", "fake", "-m", "fake-flaky", "-r", "3",
                "--soak-seconds", "0", "--out", str(project / "out"), "--no-report")
    assert r.returncode == 1
    assert "| determinism | >= 1 | 0 | - | FAIL | - | 1 = identical" in r.stdout
    assert "single reading, no bound" in r.stdout
    assert "| rss_slope_mb_per_min | <= 1000 MB/min | - | - | NOT MEASURED |" in r.stdout
    (run_dir,) = (project / "out").iterdir()
    det = read_record(run_dir / "records" / "fake-fake-flaky-t1-determinism.json")
    first = det["details"]["mismatches"][0]
    assert first["prompt"] == 0 and first["position"] == 0 and first["expected"] != first["got"]


def test_verify_needs_budgets(project):
    r = run_cli("verify", "-d", "host", "-b", "fake")
    assert r.returncode == 2 and "has no budgets" in r.stderr


def test_a_floor_with_a_limit_is_not_measured_on_fewer_items():
    from harness.specs import Budget

    b = Budget(metric="acc", min=0.5, task="mc_en", limit=500)
    rec = quality_record("mc_en", 30, 36)
    assert rec.task.get("n_items") is None  # old records: the count is unknown, judged
    assert check_budget([rec], b, device(b))["status"] == "pass"
    data = rec.to_dict()
    data["task"] = {**data["task"], "n_items": 36}
    from harness.records import Record

    out = check_budget([Record(data)], b, device(b))
    assert out["status"] == "not_measured"
    assert "judged on 500 items; this record scored 36" in out["detail"]


def test_a_timed_budget_under_contention_is_not_valid_even_when_it_has_no_bound():
    """Conditions come first: a contended record is NOT VALID whether its bound would pass,
    fail or be missing (3 repetitions cannot bound a median); memory is never invalidated."""
    from harness.records import Record
    from harness.specs import Budget

    data = speed_record([100.0, 101.0, 99.0]).to_dict()
    data["conditions"] = {"state": "contended", "evidence": [
        "other processes used 0.74 of the 2 pinned cores (limit 0.25)"]}
    rec = Record(data)
    for b in (Budget(metric="decode_tps", min=20), Budget(metric="ttft_ms", max=1000),
              Budget(metric="itl_p99_ms", max=100)):
        out = check_budget([rec], b, device(b))
        assert out["status"] == "not_valid" and out["conditions"] == "contended"
        assert out["detail"].startswith("measured while contended: other processes used 0.74")
    mem = Budget(metric="peak_rss_mb", max=1024)
    assert check_budget([rec], mem, device(mem))["status"] == "pass"
    doc = verdict([rec], device(Budget(metric="decode_tps", min=20)), model={"id": "m"},
                  backend="llama_cpp", run_id="r", env={}, host_warnings=[])
    assert doc["verdict"] == "incomplete"
    assert "| NOT VALID | contended |" in markdown_table(doc)
