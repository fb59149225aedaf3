"""Leaderboard inputs built with make_record (via helpers.speed_record): speed rows with a
device profile, measurement conditions, an ONNX artifact and a host; quality and parity
records as the quality and parity scenarios write them. Shared by test_leaderboard.py and
test_leaderboard_page.py (test files never import one another)."""

from __future__ import annotations

from harness.records import Measurement, Record, make_record
from helpers import T0, speed_record

SHA = "ab" * 32
OK = {"state": "ok", "evidence": []}
CONTENDED = {"state": "contended",
             "evidence": ["other processes used 0.8 of the 2 pinned cores"]}
LAPTOP = {"name": "laptop-2c-4g", "threads": 2, "cores": 2, "cpus": [0, 1],
          "workload": {"prompt_tokens": 128, "gen_tokens": 64, "depth": 0},
          "budgets": [{"metric": "decode_tps", "min": 20, "prompt_tokens": 128},
                      {"metric": "acc", "min": 0.5, "task": "mc_en"}]}
HOST = {"name": "host", "threads": "all", "cores": "all", "cpus": [0, 1],
        "workload": {"prompt_tokens": 128, "gen_tokens": 64, "depth": 0}, "budgets": []}


def onnx_art(precision: str = "gguf") -> dict:
    return {"kind": "onnx", "precision": precision, "recipe": precision + "-recipe",
            "size_bytes": 90_000_000}


def speed(model="m", backend="llama_cpp", device=None, *, precision=None, conditions=OK,
          host_id=None, cpu="Test CPU", **kw) -> Record:
    """A speed record; device: a profile dict (default LAPTOP); precision: an ONNX port."""
    device = LAPTOP if device is None else device
    kw.setdefault("threads", device["threads"] if isinstance(device["threads"], int) else 2)
    d = speed_record(model, backend, device["name"], **kw).to_dict()
    d["device"] = dict(device)
    if precision is not None:
        d["model"]["artifact"] = onnx_art(precision)
    if conditions is not None:
        d["conditions"] = conditions
    if host_id is not None:
        d["env"]["host"] = {**d["env"]["host"], "id": host_id, "cpu_model": cpu}
    return Record(d)


def quality(task="mc_en", acc=(1.0, 1.0, 0.0, 1.0), model="m", backend="llama_cpp",
            device=None, precision=None, run_id="q1", finished=T0) -> Record:
    d = speed(model, backend, device, precision=precision, run_id=run_id,
              finished=finished).to_dict()
    d["kind"] = "quality"
    d["task"] = {"name": task, "version": 1, "kind": "multiple_choice"}
    d["measurements"] = [Measurement("acc", "fraction", True, tuple(acc)).to_dict()]
    d.pop("conditions", None)
    return Record(d)


def parity(port="onnxruntime", precision="gguf", *, kl=0.004, top1=0.98, ppl=0.3,
           model="m", reference="llama_cpp", run_id="p1", finished=T0) -> Record:
    """A parity record as harness.scenarios.parity.pairwise writes it."""
    ref_art, port_art = {"kind": "gguf"}, onnx_art(precision)
    rec = make_record(
        kind="parity", run_id=run_id, seq=0, started_at=finished,
        model={"id": model, "format": "gguf", "sha256": SHA, "size_bytes": 98_000_000,
               "artifact": ref_art},
        backend={"name": f"{reference}~{port}", "info": {}}, device=dict(HOST),
        task={"name": "parity", "kind": "parity", "version": 1, "text_task": "prose_en",
              "data_sha256": "cd" * 32},
        params={"tokens": 512, "reference": reference,
                "artifacts": {reference: ref_art, port: port_art}},
        env=speed().env,
        measurements=[Measurement("ppl_diff_pct", "%", False, (ppl,)),
                      Measurement("top1_agreement", "fraction", True, (top1,)),
                      Measurement("mean_kl", "nats", False, (kl,))],
        details={"artifact": port_art, "reference_artifact": ref_art,
                 "summary": {"ppl_diff_pct": ppl, "top1_agreement": top1, "mean_kl": kl,
                             "greedy_identical": 3 if kl < 0.05 else 0,
                             "greedy_prompts": 3}})
    return Record({**rec.to_dict(), "finished_at": finished})
