"""Workers that succeed, crash, hang, raise or leak: each becomes records, never a crash."""

import json

import pytest

from conftest import run_cli
from harness.records import read_record, record_files
from harness.engine.runner import run_worker
from harness.scenarios.speed import SpeedItem


def payload(tmp_path, **options):
    model = tmp_path / "fake.bin"
    model.write_bytes(b"x")
    return {"backend": "fake", "scenario": "speed", "cpus": None,
            "load": {"path": str(model), "threads": 1, "n_ctx": 64, "options": options},
            "items": [SpeedItem(8, 16, repetitions=2, warmup=0),
                      SpeedItem(16, 16, repetitions=2, warmup=0)]}


@pytest.fixture(autouse=True)
def _fake(monkeypatch):
    monkeypatch.setenv("SLLM_BENCH_TEST_BACKENDS", "1")


def events(tmp_path, timeout_s=60, budget=None, **options):
    return list(run_worker(payload(tmp_path, **options), 2, timeout_s=timeout_s,
                           memory_budget_mb=budget))


def test_healthy_worker_reports_load_progress_and_results(tmp_path):
    ev = events(tmp_path)
    kinds = [e[0] for e in ev]
    assert kinds[0] == "loaded" and kinds.count("result") == 2 and "failed" not in kinds
    assert kinds.count("progress") == 4
    result = [e for e in ev if e[0] == "result"][0]
    metrics = {m["metric"]: m for m in result[2]}
    assert len(metrics["ttft_ms"]["samples"]) == 2
    assert len(metrics["itl_ms"]["samples"]) == 2 * 15
    assert result[3]["peak_rss_bytes"] > 10 * 2**20


def test_worker_killed_mid_run_keeps_finished_items(tmp_path):
    # 16 tokens per generation, 2 reps per item: the 40th token falls in item 2
    ev = events(tmp_path, fault="kill", fault_after_tokens=40)
    results = [e for e in ev if e[0] == "result"]
    failed = [e for e in ev if e[0] == "failed"]
    assert [e[1] for e in results] == [0] and [e[1] for e in failed] == [1]
    assert "SIGKILL" in failed[0][2]["message"]


def test_segfault_in_native_code(tmp_path):
    ev = events(tmp_path, fault="segfault", fault_after_tokens=1)
    failed = [e for e in ev if e[0] == "failed"]
    assert len(failed) == 2 and "SIGSEGV" in failed[0][2]["message"]


def test_python_exception_is_reported_with_its_message(tmp_path):
    ev = events(tmp_path, fault="raise", fault_after_tokens=40)
    failed = {e[1]: e[2] for e in ev if e[0] == "failed"}
    assert [e[1] for e in ev if e[0] == "result"] == [0]
    assert failed[1]["exception"] == "RuntimeError"
    assert failed[1]["message"] == "fake backend: injected failure"


def test_hang_is_killed_after_the_silence_timeout(tmp_path):
    ev = events(tmp_path, timeout_s=2, fault="hang", fault_after_tokens=1)
    failed = [e for e in ev if e[0] == "failed"]
    assert len(failed) == 2 and failed[0][2]["kind"] == "timeout"


def test_memory_budget_breach_fails_the_worker(tmp_path):
    ev = events(tmp_path, budget=120, fault="leak", leak_mb_per_token=4,
                decode_ms_per_token=20)
    failed = [e for e in ev if e[0] == "failed"]
    assert failed and failed[0][2]["kind"] == "memory_budget"
    assert "over the device memory budget of 120 MB" in failed[0][2]["message"]


def test_run_with_faulty_models_keeps_going_and_exits_1(project):
    out = project / "out"
    r = run_cli("run", "-m", "fake-ok,fake-raise,fake-kill", "-b", "fake", "-p", "8",
                "-n", "16,32", "-r", "2", "--format", "jsonl", "--out", str(out))
    assert r.returncode == 1, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [(x["model"], x["gen_tokens"], x["status"]) for x in rows] == [
        ("fake-ok", 16, "ok"), ("fake-ok", 32, "ok"),
        ("fake-raise", 16, "failed"), ("fake-raise", 32, "failed"),
        ("fake-kill", 16, "ok"), ("fake-kill", 32, "failed")]
    records = [read_record(p) for p in record_files([out])]  # every file validates
    assert len(records) == 6
    assert "Traceback" not in r.stderr and "1 failed" not in r.stderr
    assert "(6 record(s), 3 failed)" in r.stderr


def test_successful_run_exit_0_and_records_carry_provenance(project):
    out = project / "out"
    r = run_cli("run", "-b", "fake", "-p", "4,8", "-n", "8", "-r", "3", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "### fake on host" in r.stdout and r.stdout.count("| fake-ok |") == 2
    assert "plan (device host" in r.stderr
    (run_dir,) = list(out.iterdir())
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["status"] == "ok" and manifest["records"] == 2
    rec = read_record(sorted((run_dir / "records").iterdir())[0])
    assert len(rec["model"]["sha256"]) == 64 and rec["env"]["harness_version"]
    assert rec["env"]["host"]["cores_logical"] >= 1 and rec["env"]["runtimes"]["python"]
    assert rec["device"]["name"] == "host"
    m = {x["metric"]: x for x in rec["measurements"]}
    assert len(m["decode_tps"]["samples"]) == 3 and m["decode_tps"]["higher_is_better"]
    assert not m["ttft_ms"]["higher_is_better"] and m["peak_rss_mb"]["samples"][0] > 10
    assert m["decode_tps"]["summary"]["median"] > 0


def test_dry_run_prints_the_plan_only(project):
    r = run_cli("run", "-b", "fake", "-t", "1,2", "--dry-run", "--out", str(project / "o"))
    assert r.returncode == 0 and r.stdout == ""
    assert "[2/2] fake-ok / fake / 2 thread(s)" in r.stderr
    assert not (project / "o").exists()
