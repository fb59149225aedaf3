"""A job that travels (harness/fleet/job.py): round trip, validation, the model fetched in
chunks into the cache, `run --request` on another "machine" (a fresh project folder)."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest

from conftest import ROOT, run_cli

from harness import api
from harness.errors import BenchError, DataError
from harness.fleet import job as jobs


@pytest.fixture
def with_tasks(project: Path, tmp_path, monkeypatch) -> Path:
    (project / "tasks" / "data").mkdir(parents=True)
    shutil.copy(ROOT / "tasks" / "mc_en.yaml", project / "tasks")
    shutil.copy(ROOT / "tasks" / "data" / "mc_en.jsonl", project / "tasks" / "data")
    monkeypatch.setenv("SLLM_BENCH_CACHE", str(tmp_path / "cache"))
    return project


def request(**kw):
    fields = dict(models=("fake-ok",), backends=("fake",), device="tiny", tasks=("mc_en",),
                  prompts=(16,), gens=(4,), reps=2, limit=5)
    fields.update(kw)
    return api.run_request(**fields)


def test_round_trip(with_tasks, tmp_path):
    req = request()
    path = api.write_job(req, tmp_path / "job")
    doc = json.loads(path.read_text())
    assert doc["schema"] == "sllm-bench/job" and doc["version"] == 1
    assert {f["path"] for f in doc["files"]} == {"devices/tiny.yaml", "tasks/mc_en.yaml",
                                                 "data/mc_en.jsonl"}
    assert doc["models"][0]["sha256"] == jobs.sha256_file(with_tasks / "fake.bin")
    sent = []

    def fetch(sha, offset, size):
        sent.append((offset, size))
        return jobs.read_range(with_tasks / "fake.bin", offset, size)

    back = jobs.unpack(jobs.read(path), path.parent, fetch=fetch)
    # the same request, but for the data folder (the job folder's own)
    assert back.model_dump(exclude={"data_dir"}) == req.model_dump(exclude={"data_dir"})
    assert back.data_dir == str((tmp_path / "job" / "data").resolve())
    cached = jobs.cache_dir() / doc["models"][0]["sha256"] / "fake.bin"
    assert sent == [] or cached.is_file()


def test_model_streamed_in_chunks_into_cache(with_tasks, tmp_path, monkeypatch):
    big = with_tasks / "big.bin"
    big.write_bytes(bytes(range(256)) * 40_000)  # ~10 MB: two chunks
    m = {"id": "x", "sha256": jobs.sha256_file(big), "size": big.stat().st_size,
         "file": "big.bin", "spec": {}}
    calls = []

    def fetch(sha, offset, size):
        calls.append(size)
        return jobs.read_range(big, offset, size)

    monkeypatch.setenv("SLLM_BENCH_DEVICE_MODELS", str(tmp_path / "nothing.yaml"))
    got = jobs.model_file(m, fetch=fetch)
    assert got.read_bytes() == big.read_bytes() and len(calls) == 2
    assert max(calls) <= jobs.CHUNK
    assert jobs.model_file(m, fetch=None) == got  # cached: nothing fetched again
    bad = {**m, "sha256": "0" * 64}
    with pytest.raises(DataError, match="sha256"):
        jobs.model_file(bad, fetch=fetch)
    assert not list((jobs.cache_dir() / ("0" * 64)).glob("*"))  # nothing half-written kept


@pytest.mark.parametrize("rel", ["../evil.yaml", "/etc/passwd", "devices/../../x",
                                 "other/x.yaml", "data/.hidden", "data\\x", "C:/x"])
def test_paths_outside_the_job_are_refused(with_tasks, tmp_path, rel):
    path = api.write_job(request(), tmp_path / "job")
    doc = json.loads(path.read_text())
    doc["files"][0]["path"] = rel
    with pytest.raises(DataError):
        jobs.check(doc, path)


def test_tampered_file_or_request_is_refused(with_tasks, tmp_path):
    path = api.write_job(request(), tmp_path / "job")
    doc = jobs.read(path)
    (tmp_path / "job" / "tasks" / "mc_en.yaml").write_text("name: mc_en\n")
    with pytest.raises(DataError, match="sha256 or size"):
        jobs.unpack(doc, path.parent)
    for field, value in (("models_file", "/etc/models.yaml"), ("data_dir", "/etc"),
                         ("device", "../x")):
        bad = copy.deepcopy(doc)
        bad["request"][field] = value
        with pytest.raises(DataError):
            jobs.check(bad, path)
    bad = copy.deepcopy(doc)
    bad["version"] = 99
    with pytest.raises(DataError, match="version"):
        jobs.check(bad, path)


def test_missing_model_without_a_coordinator_is_one_line(with_tasks, tmp_path, monkeypatch):
    path = api.write_job(request(), tmp_path / "job")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.setenv("SLLM_BENCH_HOME", str(elsewhere))  # another machine: no catalogue
    with pytest.raises(BenchError, match="not on this machine"):
        jobs.unpack(jobs.read(path), path.parent)


def test_run_request_cli_on_another_machine(with_tasks, tmp_path):
    """`sllm-bench run --request job.json` with the model in the cache (a device that got
    it once) and no project of its own."""
    path = api.write_job(request(tasks=()), tmp_path / "job")
    doc = json.loads(path.read_text())
    m = doc["models"][0]
    (tmp_path / "cache" / "models" / m["sha256"]).mkdir(parents=True)
    shutil.copy(with_tasks / "fake.bin", tmp_path / "cache" / "models" / m["sha256"])
    other = tmp_path / "device"
    other.mkdir()
    env = {"SLLM_BENCH_HOME": "", "SLLM_BENCH_CACHE": str(tmp_path / "cache"),
           "SLLM_BENCH_TEST_BACKENDS": "1", "PYTHONPATH": str(ROOT)}
    r = run_cli("run", "--request", str(path), "--out", str(other / "out"), "--no-progress",
                cwd=other, env=env)
    assert r.returncode == 0, r.stderr
    recs = list((other / "out").glob("*/records/*.json"))
    assert recs and all(json.loads(p.read_text())["status"] == "ok" for p in recs)
    bad = run_cli("run", "--request", str(tmp_path / "nope.json"), cwd=other, env=env)
    assert bad.returncode == 2 and "job file not found" in bad.stderr


# ---------------------------------------------------------------- head / join (no Ray started)
@pytest.mark.parametrize("address,ok", [("127.0.0.1:6379", True), ("10.1.2.3:6379", True),
                                        ("192.168.0.5:6379", True), ("172.16.0.1", True),
                                        ("8.8.8.8:6379", False), ("1.1.1.1", False)])
def test_join_refuses_public_heads(address, ok):
    from harness.fleet.cluster import check_private

    if ok:
        check_private(address, "HEAD_ADDRESS", i_know=False)
    else:
        with pytest.raises(BenchError, match="not a private or loopback"):
            check_private(address, "HEAD_ADDRESS", i_know=False)
        check_private(address, "HEAD_ADDRESS", i_know=True)


def test_head_and_join_commands(project):
    from harness.fleet.cluster import labels
    from harness.measure.host import fingerprint

    head = api.fleet_head_command()
    assert "--head" in head and "--node-ip-address=127.0.0.1" in head
    join = api.fleet_join_command("10.0.0.2:6379", "tiny")
    assert '--resources={"sllm-device:tiny": 1}' in join and "--address=10.0.0.2:6379" in join
    ray_labels = pytest.importorskip("ray._private.label_utils")
    lab = labels(fingerprint())
    ray_labels.validate_node_labels(lab)
    for k, v in lab.items():
        assert ray_labels.validate_label_key(k) is None
        ray_labels.validate_label_value(v)
    with pytest.raises(BenchError, match="unknown device profile"):
        api.fleet_join_command("10.0.0.2:6379", "nope")


def test_connect_without_address_stays_on_the_recorded_loopback_head(monkeypatch):
    """`fleet devices` with no --address after `fleet head`: Ray's "auto" would reach
    127.0.0.1:6379 through the host's IP and retry for ever; the recorded head is used."""
    ray = pytest.importorskip("ray")
    from ray._private import ray_constants, services

    from harness.fleet import cluster

    seen = {}
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(services, "find_bootstrap_address", lambda temp_dir: "127.0.0.1:6390")
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kw: seen.update(kw))
    monkeypatch.setattr(cluster.os, "environ", dict(cluster.os.environ))
    monkeypatch.setattr(ray_constants, "ENABLE_RAY_CLUSTER", ray_constants.ENABLE_RAY_CLUSTER)
    cluster.connect()
    assert seen["address"] == "127.0.0.1:6390"
    assert cluster.os.environ[cluster.LOOPBACK_ENV] == "0"


def test_cli_join_public_head_is_one_line_exit_2(project):
    r = run_cli("fleet", "join", "8.8.8.8:6379", "--device", "tiny", "--dry-run",
                env={"PYTHONPATH": str(ROOT)})
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "--i-know" in r.stderr


def test_fleet_resume_skips_only_records_that_are_really_theirs(with_tasks, tmp_path):
    """`fleet run --resume` checks the records it finds against the device's plan, as a
    local --resume does: a record copied over another item's file is measured again."""
    from harness.fleet.ray_engine import Fleet, device_plan

    req = request(gens=(4, 8))
    out = tmp_path / "out"
    res = api.execute(api.plan(req), out_dir=out / "tiny", log=lambda s: None)
    records = sorted((res.run_dir / "records").glob("*.json"))
    speed = [p for p in records if "-p16-" in p.name]
    assert len(speed) == 2
    shutil.copyfile(speed[0], speed[1])  # the g4 record now also sits under g8's name
    fleet = Fleet({"tiny": req}, out, log=(logs := []).append)
    fleet.plans = {"tiny": device_plan(req)}
    state = {"run_id": res.run_dir.name, "run_dirs": [res.run_dir.name]}
    kept = fleet._verified("tiny", state)
    assert set(kept) == {p.stem for p in records} - {speed[1].stem}
    assert any(speed[1].stem in line and "measuring it again" in line for line in logs)
