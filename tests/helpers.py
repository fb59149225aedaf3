"""Helpers shared by several test files (import them as `from helpers import ...`, like
`conftest`): test files never import from one another.

- record(): one speed record, as the printers see it (test_printers, test_results);
- speed_record(), quality_record(): leaderboard inputs (test_leaderboard,
  test_leaderboard_page);
- synthetic_results(): a run folder of real-looking records of every kind and a verdict
  per backend (test_report, test_report_page and the docs screenshot);
- set_fake_speed(): make model fake-ok slower or faster (test_gate, test_pytest_plugin).
"""

from __future__ import annotations

import random
from pathlib import Path

from conftest import FAKE_MODELS, write
from harness.measure.environment import environment
from harness.records import Measurement, Record, make_record, now_iso, write_json


# ------------------------------------------------------------------ printers, results
def record(backend="llama_cpp", decode=(100.0, 110.0, 90.0), error=None):
    ms = None if error else [
        Measurement("ttft_ms", "ms", False, (50.0, 52.0, 48.0)),
        Measurement("prefill_tps", "tokens/s", True, (2560.0, 2461.5, 2666.7)),
        Measurement("decode_tps", "tokens/s", True, decode),
        Measurement("itl_ms", "ms", False, (9.0, 10.0, 11.0, 12.0)),
        Measurement("load_s", "s", False, (0.25,)),
        Measurement("peak_rss_mb", "MB", False, (200.0,)),
        Measurement("model_size_mb", "MB", False, (93.8,)),
    ]
    return make_record(kind="speed", run_id="r1", seq=0, started_at="t", model={"id": "m", "format": "gguf",
                       "sha256": None, "size_bytes": 1}, backend={"name": backend},
                       device={"name": "host"}, task={"name": "speed", "version": 1},
                       params={"prompt_tokens": 128, "gen_tokens": 64, "threads": 2},
                       env=environment(), measurements=ms, error=error)


# ------------------------------------------------------------------ leaderboard
T0 = "2026-01-01T00:00:00+00:00"


def speed_record(model="m", backend="llama_cpp", device="host", *, prompt=128, gen=64,
                 threads=2, ttft=50.0, prefill=2560.0, decode=100.0, rss=200.0, size=93.8,
                 run_id="r1", seq=0, finished=T0, error=None, options=None) -> Record:
    ms = None if error else [
        Measurement("ttft_ms", "ms", False, (ttft,)),
        Measurement("prefill_tps", "tokens/s", True, (prefill,)),
        Measurement("decode_tps", "tokens/s", True, (decode,)),
        Measurement("itl_ms", "ms", False, (9.0, 10.0, 11.0)),
        Measurement("load_s", "s", False, (0.25,)),
        Measurement("peak_rss_mb", "MB", False, (rss,)),
        Measurement("rss_after_load_mb", "MB", False, (rss - 20,)),
        Measurement("model_size_mb", "MB", False, (size,)),
    ]
    rec = make_record(kind="speed", run_id=run_id, seq=seq, started_at=finished,
                      model={"id": model, "format": "gguf", "sha256": "ab" * 32,
                             "size_bytes": int(size * 2**20), "parameters": "135M",
                             "quantization": "Q4_1", "artifact": {"kind": "gguf"}},
                      backend={"name": backend}, device={"name": device},
                      task={"name": "speed", "version": 1},
                      params={"prompt_tokens": prompt, "gen_tokens": gen, "threads": threads,
                              "repetitions": 1,
                              **({"backend_options": options} if options else {})},
                      env=environment(), measurements=ms, error=error)
    return Record({**rec.to_dict(), "finished_at": finished})


def quality_record(task="arc_easy", acc=(1.0, 0.0, 1.0, 1.0), backend="llama_cpp",
                   device="host", run_id="q1", finished=T0, model="m") -> Record:
    rec = speed_record(model, backend, device, run_id=run_id, finished=finished).to_dict()
    rec["kind"] = "quality"
    rec["task"] = {"name": task, "version": 1, "kind": "multiple_choice"}
    rec["measurements"] = [Measurement("acc", "fraction", True, acc).to_dict()]
    if task.startswith("wikitext"):
        rec["task"]["kind"] = "perplexity"
        rec["measurements"] = [Measurement(m, "ppl", False, (v,)).to_dict() for m, v in
                               (("token_perplexity", 21.5), ("bits_per_byte", 0.9),
                                ("window_nll", 3.0))]
    return Record(rec)


# ------------------------------------------------------------------ report
HOSTILE = "<script>alert(1)</script>"
RUN = "20261121T090000Z-4242-abcdef"
SHA = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
MODEL = {"id": "smollm2-135m-instruct-q4_1", "format": "gguf", "sha256": SHA,
         "size_bytes": 98362432, "parameters": "135M", "quantization": "Q4_1"}
ONNX_ART = {"kind": "onnx", "precision": "int4", "size_bytes": 90091489}
ENV = {"harness_version": "0.1.0", "git_commit": "9b9644ab306114fded21c8bb6dfc3067ef918b34",
       "runtimes": {"python": "3.11.7", "llama-cpp-python": "0.3.36",
                    "onnxruntime": "1.31.1", "numpy": "2.4.6"},
       "host": {"id": "7c99cedbf6ef860a", "cpu_model": "AMD EPYC 9R14", "cores_logical": 8,
                "cores_physical": 8, "cores_allowed": 8, "memory_bytes": 32 * 2**30,
                "os": "Linux", "os_release": "6.18.44", "machine": "x86_64",
                "cpu_features": ["avx", "avx2", "avx512f", "fma"]}}
BUDGETS = [{"metric": "ttft_ms", "max": 1000, "prompt_tokens": 128},
           {"metric": "decode_tps", "min": 20, "prompt_tokens": 128},
           {"metric": "itl_p99_ms", "max": 100, "prompt_tokens": 128},
           {"metric": "peak_rss_mb", "max": 1024}, {"metric": "load_s", "max": 10},
           {"metric": "determinism", "min": 1}]
DEVICE = {"name": "laptop-2c-4g", "description": "Entry laptop or appliance SoC, 2 cores and "
          "4 GB of memory.", "threads": 2, "cores": 2, "memory_mb": 4096,
          "memory_budget_mb": 1024, "context_size": 2048, "cooldown_s": 2.0,
          "budgets": BUDGETS, "cpus": [0, 1]}
QUALITY = {"multiple_choice": "quality", "perplexity": "quality"}  # task kind -> record kind
# backend -> (prefill tok/s, decode tok/s, peak RSS MB, RSS after load, load s, artifact)
BACKENDS = {"llama_cpp": (450.0, 176.0, 222.0, 206.0, 0.21, None),
            "onnxruntime": (1300.0, 290.0, 261.0, 234.0, 0.29, ONNX_ART)}


def _record(task: dict, backend: str, ms: list[Measurement], seq: int, *, params=None,
            model_id=None, details=None, error=None) -> Record:
    art = BACKENDS.get(backend, (0,) * 5 + (None,))[5]
    model = {**MODEL, "id": model_id or MODEL["id"], "artifact": art}
    kind = "speed" if task["name"] == "speed" else QUALITY.get(task["kind"], task["kind"])
    return make_record(kind=kind, run_id=RUN, seq=seq, started_at=now_iso(),
                       model=model, backend={"name": backend, "info": {}}, device=DEVICE,
                       task=task, params={"threads": 2, "n_ctx": 2048, **(params or {})},
                       env=ENV, measurements=ms, error=error, details=details)


def _speed(backend: str, prompt: int, rng: random.Random, reps: int = 10) -> list[Measurement]:
    prefill, decode, peak, after, load, _ = BACKENDS[backend]
    decode = decode * (1 - prompt / 4096)
    ttft = [1000 * prompt / prefill * rng.uniform(0.96, 1.08) for _ in range(reps)]
    itl = [1000 / decode * rng.uniform(0.95, 1.06) * (3.0 if rng.random() < 0.01 else 1.0)
           for _ in range(reps * 63)]
    dec = [decode * rng.uniform(0.95, 1.03) for _ in range(reps)]
    return [Measurement("ttft_ms", "ms", False, tuple(ttft)),
            Measurement("prefill_tps", "tokens/s", True, tuple(1000 * prompt / t for t in ttft)),
            Measurement("decode_tps", "tokens/s", True, tuple(dec)),
            Measurement("itl_ms", "ms", False, tuple(itl)),
            Measurement("e2e_ms", "ms", False, tuple(t + 63 * 1000 / d for t, d in zip(ttft, dec))),
            Measurement("load_s", "s", False, (load,)),
            Measurement("peak_rss_mb", "MB", False, (peak + prompt / 64,)),
            Measurement("rss_after_load_mb", "MB", False, (after,)),
            Measurement("model_size_mb", "MB", False, (93.8 if backend == "llama_cpp" else 85.9,))]


def _budget_rows(backend: str, *, determinism_ok: bool) -> list[dict]:
    prefill, decode, peak, _, load, _ = BACKENDS[backend]
    median = "median, 95% bootstrap interval"
    values = {"ttft_ms": (128 / prefill * 1000, 128 / prefill * 1050, "ms", median),
              "decode_tps": (decode * 0.97, decode * 0.94, "tokens/s", median),
              "itl_p99_ms": (1000 / decode * 1.3, 1000 / decode * 1.45, "ms",
                             "p99 of 630 gaps, 95% bootstrap interval"),
              "peak_rss_mb": (peak + 2, peak + 2, "MB", "largest of 6 worker peaks"),
              "load_s": (load, load, "s", median),
              "determinism": (1.0 if determinism_ok else 0.0, None, "",
                              "1 = identical within and across two processes")}
    rows = []
    for b in BUDGETS:
        measured, bound, unit, detail = values[b["metric"]]
        bound = measured if bound is None else bound
        ok = (b.get("max") is None or bound <= b["max"]) and (b.get("min") is None
                                                               or bound >= b["min"])
        rows.append({**b, "gen_tokens": None, "task": None, "unit": unit, "measured": measured,
                     "bound": bound, "status": "pass" if ok else "fail", "detail": detail})
    rows.append({"metric": "acc_norm", "min": 0.4, "task": "hellaswag-mini", "unit": "",
                 "measured": None, "bound": None, "status": "not_measured",
                 "detail": "no record measured this"})
    return rows


def synthetic_results(root: Path, *, model_id: str | None = None, seed: int = 7) -> Path:
    """A run folder with real-looking records of every kind and one verdict per backend."""
    rng = random.Random(seed)
    run = root / RUN
    recs, seq = [], 0
    for backend in BACKENDS:
        for prompt in (64, 128, 256, 512):
            recs.append(_record({"name": "speed", "version": 1}, backend,
                                _speed(backend, prompt, rng), seq,
                                params={"prompt_tokens": prompt, "gen_tokens": 64,
                                        "repetitions": 10, "warmup": 1}, model_id=model_id))
            seq += 1
    for backend, shift in (("llama_cpp", 0.0), ("onnxruntime", -0.01)):
        mc = {"name": "hellaswag-mini", "version": 1, "kind": "multiple_choice"}
        acc = tuple(1.0 if rng.random() < 0.42 + shift else 0.0 for _ in range(200))
        norm = tuple(1.0 if rng.random() < 0.46 + shift else 0.0 for _ in range(200))
        recs.append(_record(mc, backend, [Measurement("acc", "fraction", True, acc),
                                          Measurement("acc_norm", "fraction", True, norm),
                                          Measurement("items_per_s", "items/s", True, (31.5,))],
                            seq, model_id=model_id))
        ppl = {"name": "wikitext-ko-mini", "version": 2, "kind": "perplexity"}
        recs.append(_record(ppl, backend, [
            Measurement("token_perplexity", "", False, (21.37 * (1 - shift),)),
            Measurement("word_perplexity", "", False, (38.2,)),
            Measurement("byte_perplexity", "", False, (1.712,)),
            Measurement("bits_per_byte", "bits", False, (0.776,))], seq + 1, model_id=model_id))
        seq += 2
    recs.append(_record({"name": "parity", "version": 1, "kind": "parity"},
                        "llama_cpp~onnxruntime",
                        [Measurement("ppl_diff_pct", "%", False, (0.84,)),
                         Measurement("top1_agreement", "fraction", True, (0.962,)),
                         Measurement("mean_kl", "nats", False, (0.0123,))], seq,
                        details={"windows": 8, "tokens": 4096}, model_id=model_id))
    seq += 1
    for backend, mismatch in (("llama_cpp", None), ("onnxruntime", 2)):
        xs = tuple(0.0 if i == mismatch else 1.0 for i in range(4))
        mm = [{"prompt": mismatch, "position": 17, "expected": 3144, "got": 2718}] \
            if mismatch is not None else []
        recs.append(_record({"name": "determinism", "version": 1, "kind": "determinism"},
                            backend, [Measurement("determinism", "identical (1) or not (0)",
                                                  True, xs)], seq,
                            details={"mismatches": mm, "workers": 2}, model_id=model_id))
        seq += 1
    for backend, growth in (("llama_cpp", 0.0), ("onnxruntime", 0.9)):
        _, decode, _, after, _, _ = BACKENDS[backend]
        ts = [i * 0.5 for i in range(240)]
        tps = [decode * 0.97 * rng.uniform(0.96, 1.02) - (4 if 150 < i < 170 else 0)
               for i in range(240)]
        rss = [after + 12 + growth * t / 60 + rng.uniform(-0.3, 0.3) for t in ts]
        recs.append(_record({"name": "soak", "version": 1, "kind": "soak"}, backend, [
            Measurement("soak_t_s", "s", False, tuple(ts)),
            Measurement("soak_decode_tps", "tokens/s", True, tuple(tps)),
            Measurement("soak_rss_mb", "MB", False, tuple(rss)),
            Measurement("rss_slope_mb_per_min", "MB/min", False, (growth,)),
            Measurement("decode_drift_pct_per_min", "%/min", True, (-0.12,)),
            Measurement("soak_errors", "count", False, (0.0,))], seq, model_id=model_id,
            params={"duration_s": 120, "prompt_tokens": 64, "gen_tokens": 64}))
        seq += 1
    recs.append(_record({"name": "speed", "version": 1}, "onnxruntime", [], seq,
                        params={"prompt_tokens": 2048, "gen_tokens": 64}, model_id=model_id,
                        error={"kind": "memory_budget", "message": "peak RSS 1090 MB is over "
                               "the device memory budget of 1024 MB"}))
    for i, r in enumerate(recs):
        write_json(run / "records" / f"{i:04d}-{r['backend']['name']}-{r['task']['name']}.json",
                   r)
    for backend in BACKENDS:
        ok = backend == "llama_cpp"
        budgets = _budget_rows(backend, determinism_ok=ok)
        states = {b["status"] for b in budgets}
        verdict = "fail" if "fail" in states else "incomplete" if "not_measured" in states \
            else "pass"
        doc = {"schema": "sllm-bench/verdict", "schema_version": 1, "run_id": RUN,
               "created_at": now_iso(),
               "device": {k: v for k, v in DEVICE.items() if k != "cpus"},
               "model": {"id": model_id or MODEL["id"], "sha256": SHA}, "backend": backend,
               "verdict": verdict, "budgets": budgets,
               "host_warnings": [] if ok else ["this host allows 8 core(s); profile pinned "
                                               "to 2"], "env": ENV}
        write_json(run / f"verdict-{backend}.json", doc)
    return run


# ------------------------------------------------------------------ gate
def set_fake_speed(project, decode_ms: float) -> None:
    """Model fake-ok decodes at `decode_ms` per token: the same model id, slower or not."""
    block = "  - id: fake-ok\n    format: fake\n    source: {kind: path, path: fake.bin}\n"
    write(project / "models.yaml", FAKE_MODELS.replace(
        block, block + f"    options: {{decode_ms_per_token: {decode_ms}}}\n"))
