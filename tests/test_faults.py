"""Fault injection across whole runs: nothing lost, nothing misleading."""

import json
import signal
import subprocess
import sys
import time

import pytest

from conftest import run_cli, write
from harness.records import read_record, record_files

FAULTS = ["kill", "segfault", "raise", "hang", "exit", "nan"]


def catalogue_of_20(project):
    lines = ["default: m00", "models:"]
    for i in range(20):
        lines += [f"  - id: m{i:02d}", "    format: fake", "    source: {kind: path, path: fake.bin}"]
        if i % 3 == 2:  # every third worker faults, each in a different way
            lines.append(f"    options: {{fault: {FAULTS[i // 3]}, fault_after_tokens: 3}}")
    write(project / "models.yaml", "\n".join(lines) + "\n")


def test_twenty_workers_every_third_faulting(project):
    catalogue_of_20(project)
    models = ",".join(f"m{i:02d}" for i in range(20))
    out = project / "out"
    r = subprocess.run([sys.executable, "-m", "harness", "run", "-m", models, "-b", "fake",
                        "-p", "4", "-n", "8", "-r", "1", "--warmup", "0", "--tasks", "none",
                        "--timeout", "3", "--format", "jsonl", "--out", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 1, r.stderr
    rows = {json.loads(x)["model"]: json.loads(x) for x in r.stdout.splitlines()}
    records = {rec["model"]["id"]: rec for rec in map(read_record, record_files([out]))}
    assert len(rows) == len(records) == 20
    for i in range(20):
        rec = records[f"m{i:02d}"]
        if i % 3 == 2:
            assert rec["status"] == "failed" and rec["measurements"] == []
        else:
            assert rec["status"] == "ok" and rec["error"] is None
            assert len(next(m for m in rec["measurements"] if m["metric"] == "itl_ms")["samples"]) == 7
    reasons = {FAULTS[i // 3]: records[f"m{i:02d}"]["error"]["message"] for i in range(2, 20, 3)}
    assert "SIGKILL" in reasons["kill"] and "SIGSEGV" in reasons["segfault"]
    assert reasons["raise"] == "fake backend: injected failure"
    assert "no progress for 3 s" in reasons["hang"] and "exited with code 3" in reasons["exit"]
    assert "NaN logits" in reasons["nan"]
    assert "(20 record(s), 6 failed)" in r.stderr and "Traceback" not in r.stderr


def test_two_runs_into_one_folder_do_not_collide(project):
    out = project / "out"
    cmd = [sys.executable, "-m", "harness", "run", "-b", "fake", "-p", "4,8", "-n", "8", "-r", "2",
           "--tasks", "none", "--out", str(out)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(2)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    runs = sorted(out.iterdir())
    assert len(runs) == 2
    for run in runs:
        assert json.loads((run / "run.json").read_text())["status"] == "ok"
        assert len([read_record(p) for p in (run / "records").iterdir()]) == 2
    assert not [p for p in out.rglob("*.tmp")]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_interrupt_keeps_finished_records_and_resume_completes(project, sig):
    with open(project / "models.yaml", "a") as f:
        f.write("  - id: fake-slow\n    format: fake\n    source: {kind: path, path: fake.bin}\n"
                "    options: {decode_ms_per_token: 15}\n")
    out = project / "out"
    cmd = [sys.executable, "-m", "harness", "run", "-m", "fake-slow", "-b", "fake", "-p", "4,8,16,32",
           "-n", "32", "-r", "2", "--tasks", "none", "--out", str(out)]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 60
    while time.time() < deadline and not list(out.glob("*/records/*.json")):
        time.sleep(0.1)
    p.send_signal(sig)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "Resume with: sllm-bench run --resume" in err and "Traceback" not in err
    (run_dir,) = out.iterdir()
    assert json.loads((run_dir / "run.json").read_text())["status"] == "interrupted"
    kept = [read_record(q) for q in (run_dir / "records").iterdir()]
    assert 1 <= len(kept) < 4 and all(k["status"] == "ok" for k in kept)
    r = subprocess.run([sys.executable, "-m", "harness", "run", "--resume", str(run_dir)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert f"{len(kept)} record(s) already finished" in r.stderr
    done = [read_record(q) for q in (run_dir / "records").iterdir()]
    assert len(done) == 4 and all(d["status"] == "ok" for d in done)
    assert json.loads((run_dir / "run.json").read_text())["status"] == "ok"


def test_resume_of_a_folder_that_is_not_a_run(project):
    (project / "nothing").mkdir()
    r = subprocess.run([sys.executable, "-m", "harness", "run", "--resume", str(project / "nothing")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "not a run folder" in r.stderr


# ------------------------------------------------------------------ resume trusts content
def _complete_run(project, out):
    r = run_cli("run", "-b", "fake", "-p", "4,8,16", "-n", "8", "-r", "2", "--tasks", "none",
                "--out", str(out), cwd=project)
    assert r.returncode == 0, r.stderr
    (run_dir,) = out.iterdir()
    return run_dir


def _resume(run_dir, project):
    r = run_cli("run", "--resume", str(run_dir), cwd=project)
    assert r.returncode == 0, r.stderr
    return r


def _prompts(run_dir):
    return sorted(read_record(q).params["prompt_tokens"]
                  for q in (run_dir / "records").glob("*.json"))


def test_resume_remeasures_a_record_renamed_over_another_items_file(project):
    run_dir = _complete_run(project, project / "out")
    files = sorted((run_dir / "records").glob("*.json"), key=lambda q: read_record(q).seq)
    p4, p8 = files[0], files[1]
    p8.write_bytes(p4.read_bytes())  # the p4 record now also sits in p8's place
    r = _resume(run_dir, project)
    assert f"resume: {p8} is not this run's record" in r.stderr and "seq" in r.stderr
    assert _prompts(run_dir) == [4, 8, 16]  # measured again: no p4 twice, no p8 lost
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["records"] == 3


def test_resume_remeasures_a_record_copied_from_another_run(project):
    first = _complete_run(project, project / "a")
    second = _complete_run(project, project / "b")
    name = sorted(q.name for q in (second / "records").glob("*.json"))[0]
    (second / "records" / name).write_bytes((first / "records" / name).read_bytes())
    started = json.loads((second / "run.json").read_text())["started_at"]
    r = _resume(second, project)
    assert "run id" in r.stderr and "measuring it again" in r.stderr
    recs = [read_record(q) for q in (second / "records").glob("*.json")]
    assert {x.run_id for x in recs} == {second.name} and len(recs) == 3
    assert json.loads((second / "run.json").read_text())["started_at"] == started


def test_a_renamed_run_folder_resumes_under_its_own_run_id(project):
    run_dir = _complete_run(project, project / "out")
    victim = sorted((run_dir / "records").glob("*.json"))[0]
    victim.unlink()
    moved = run_dir.with_name("renamed")
    run_dir.rename(moved)
    r = _resume(moved, project)
    assert "2 record(s) already finished" in r.stderr
    recs = [read_record(q) for q in (moved / "records").glob("*.json")]
    assert len(recs) == 3 and {x.run_id for x in recs} == {run_dir.name}
    assert not run_dir.exists()


def test_a_worker_dies_within_a_second_of_its_parent(project):
    """SIGKILL of the parent sends the worker nothing; it must not run on as an orphan."""
    import psutil

    with open(project / "models.yaml", "a") as f:
        f.write("  - id: fake-slow\n    format: fake\n    source: {kind: path, path: fake.bin}\n"
                "    options: {decode_ms_per_token: 50}\n")
    cmd = [sys.executable, "-m", "harness", "run", "-m", "fake-slow", "-b", "fake", "-p", "8",
           "-n", "400", "-r", "5", "--tasks", "none", "--out", str(project / "out")]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        kids = []
        while time.time() < deadline and not kids:
            kids = psutil.Process(p.pid).children(recursive=True)
            kids = [k for k in kids if "multiprocessing" in " ".join(k.cmdline())
                    and "resource_tracker" not in " ".join(k.cmdline())]
            time.sleep(0.1)
        assert kids, "no worker started"
        time.sleep(1.0)  # the worker is measuring
        p.kill()
        p.wait()
        gone, alive = psutil.wait_procs(kids, timeout=2.0)
        assert not alive, f"orphaned worker(s) still running: {alive}"
    finally:
        p.kill()


def test_a_full_disk_leaves_no_running_run_json_and_says_how_to_resume(project):
    """ulimit -f: the first records fit, a later one does not."""
    import resource

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (12_000, 12_000))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a killed process

    out = project / "out"
    r = subprocess.run([sys.executable, "-m", "harness", "run", "-b", "fake", "-p", "4,8,16,32",
                        "-n", "8", "-r", "40", "--tasks", "none", "--out", str(out)],
                       capture_output=True, text=True, timeout=120, preexec_fn=small_files)
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr and "Resume with: sllm-bench run --resume" in r.stderr
    (run_dir,) = out.iterdir()
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["status"] != "running"
    assert not [q for q in (run_dir / "records").glob(".*")]  # no temporary file left
