"""`sllm-bench report`: section order, verdict banner, escaping, self-containment, embedded
plots, bad input, and records made by the fake backend through the CLI.

synthetic_results() writes a run folder of real-looking records (speed sweeps for two
backends, quality, parity, determinism, soak, one failure) and a verdict per backend; the
browser test (test_report_page.py) and the docs screenshot use it too.
"""

from __future__ import annotations

import base64
import json
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_cli
from harness.report import write_report
from harness.records import Measurement, Record, make_record, now_iso, write_json

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


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    run = synthetic_results(root / "runs")
    html, md = write_report([run], root / "out")
    return run, html.read_text(encoding="utf-8"), md.read_text(encoding="utf-8")


SECTION_IDS = ["verdict", "speed", "memory", "quality", "parity", "reliability", "failures",
               "provenance"]


def test_sections_present_in_order(built):
    _, html, md = built
    pos = [html.find(f'<section id="{s}">') for s in SECTION_IDS]
    assert all(p > 0 for p in pos) and pos == sorted(pos), pos
    heads = re.findall(r"^## (.+)$", md, re.M)
    assert heads == ["Verdict", "Speed", "Memory", "Quality", "Parity", "Reliability",
                     "Failed runs", "Provenance"]


def test_verdict_banner_table_and_warnings(built):
    _, html, md = built
    banner = re.search(r'<div class="banner (\w+)" id="overall-verdict">\s*'
                       r'<span class="word">([A-Z ]+)</span>', html)
    assert banner and banner.groups() == ("fail", "FAIL")
    assert html.find('id="overall-verdict"') < html.find('<section id="speed">')
    for text in ("PASS", "FAIL", "NOT MEASURED", "≤ 1000 ms at 128 prompt tokens",
                 "≥ 20 tokens/s at 128 prompt tokens", "≥ 0.4 at task hellaswag-mini"):
        assert text in html, text
    assert "this host allows 8 core(s); profile pinned to 2" in html
    assert "emulated on a host with more cores: pinned to 2 of 8 logical cores" in html
    assert "**Overall: FAIL** (llama_cpp on laptop-2c-4g: INCOMPLETE; onnxruntime on " \
           "laptop-2c-4g: FAIL)" in md
    assert "| determinism | ≥ 1 at" not in md
    assert re.search(r"\| greedy outputs repeat exactly \| ≥ 1 \| 0 \| 0 \| \*\*FAIL\*\*", md)


def test_single_passing_verdict_and_no_verdict(tmp_path):
    run = synthetic_results(tmp_path / "runs")
    (run / "verdict-onnxruntime.json").unlink()
    doc = json.loads((run / "verdict-llama_cpp.json").read_text())
    doc["budgets"] = [b for b in doc["budgets"] if b["status"] == "pass"]
    doc["verdict"] = "pass"
    write_json(run / "verdict-llama_cpp.json", doc)
    html = write_report([run], tmp_path / "a")[0].read_text()
    assert re.search(r'<div class="banner pass" id="overall-verdict">\s*'
                     r'<span class="word">PASS</span>', html)
    (run / "verdict-llama_cpp.json").unlink()
    html = write_report([run / "records"], tmp_path / "b")[0].read_text()
    assert re.search(r'<div class="banner none" id="overall-verdict">\s*'
                     r'<span class="word">NO VERDICT</span>', html)


def test_every_string_from_results_is_escaped(tmp_path):
    run = synthetic_results(tmp_path / "runs", model_id=HOSTILE)
    html_path, md_path = write_report([run], tmp_path / "out")
    html, md = html_path.read_text(), md_path.read_text()
    assert HOSTILE not in html and "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert HOSTILE not in md and "&lt;script&gt;alert(1)&lt;/script&gt;" in md


def test_page_is_self_contained(built):
    _, html, _ = built
    assert "http://" not in html and "https://" not in html
    assert not re.search(r"<script\b", html, re.I)
    assert not re.search(r"<(link|iframe|object|embed)\b", html, re.I)
    assert "@import" not in html and "url(" not in html
    for attr in re.findall(r'\b(?:src|href)="([^"]*)"', html):
        assert attr.startswith(("data:image/svg+xml;base64,", "#")), attr[:60]


def test_plots_are_embedded_svg_images(built):
    _, html, _ = built
    uris = re.findall(r'<img src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)" alt="([^"]+)"',
                      html)
    assert [alt for _, alt in uris] == [
        "TTFT and decode tokens/s against prompt length", "Inter-token latency histogram",
        "Peak RSS per backend", "Soak run: decode tokens/s and RSS over time"]
    for data, _ in uris:
        svg = base64.b64decode(data).decode("utf-8")
        assert "<svg" in svg and "</svg>" in svg and len(svg) > 5000
        assert "<script" not in svg


def test_tables_carry_the_numbers(built):
    _, html, md = built
    assert "onnxruntime (int4)" in html and "llama_cpp vs onnxruntime" in html
    assert re.search(r"\| hellaswag-mini v1 \| smollm2-135m-instruct-q4_1 \| llama_cpp \| "
                     r"laptop-2c-4g \| acc \| 0\.\d{4} \| 0\.0\d{3} \| 200 \|", md)
    assert "| wikitext-ko-mini v2 |" in md and "token_perplexity" in md
    assert "MISMATCH" in md and "| onnxruntime (int4) | 2 | 17 | 3144 | 2718 |" in md
    assert "memory_budget: peak RSS 1090 MB is over the device memory budget" in md
    assert SHA in html and "9b9644ab306114fded21c8bb6dfc3067ef918b34" in html
    assert "AMD EPYC 9R14" in html and "llama-cpp-python" in html


def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path):
    run = synthetic_results(tmp_path / "runs")
    bad = run / "records" / "0001-llama_cpp-speed.json"
    bad.write_text(bad.read_text()[:200])
    out = tmp_path / "out"
    r = run_cli("report", str(run), "-o", str(out))
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and str(bad) in r.stderr and "not valid JSON" in r.stderr
    assert not out.exists()
    bad.write_text(json.dumps({"schema": "sllm-bench/run-record", "schema_version": 1}))
    r = run_cli("report", str(run), "-o", str(out))
    assert r.returncode == 2 and "invalid record" in r.stderr and str(bad) in r.stderr
    bad.unlink()
    verdict = run / "verdict-llama_cpp.json"
    verdict.write_text(verdict.read_text().replace('"pass"', '"maybe"'))
    r = run_cli("report", str(run), "-o", str(out))
    assert r.returncode == 2 and "invalid verdict" in r.stderr and str(verdict) in r.stderr
    r = run_cli("report", str(tmp_path / "missing"), "-o", str(out))
    assert r.returncode == 2 and "no such file or folder" in r.stderr
    assert not out.exists()


def test_existing_report_is_left_alone_on_bad_input(tmp_path):
    run = synthetic_results(tmp_path / "runs")
    html, _ = write_report([run], tmp_path / "out")
    before = html.read_bytes()
    (run / "records" / "9999-broken.json").write_text("{")
    r = run_cli("report", str(run), "-o", str(tmp_path / "out"))
    assert r.returncode == 2 and html.read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["report.html", "report.md"]


def test_report_from_fake_backend_records_through_the_cli(project):
    out = project / "out"
    r = run_cli("run", "-b", "fake", "-p", "8,16,32", "-n", "8", "-r", "2", "--tasks", "none",
                "--out", str(out), "--format", "jsonl")
    assert r.returncode == 0, r.stderr
    r = run_cli("report", str(out), "-o", str(project / "rep"), "--title", "Fake <run>")
    assert r.returncode == 0, r.stderr
    html = (project / "rep" / "report.html").read_text()
    md = (project / "rep" / "report.md").read_text()
    assert "<title>Fake &lt;run&gt;</title>" in html and md.startswith("# Fake &lt;run&gt;\n")
    speed = re.findall(r"^\| fake-ok \| fake \| host \| 1 \| (\d+) \| 8 \| 2 \| \d", md, re.M)
    assert speed == ["8", "16", "32"]
    assert html.count('<img src="data:image/svg+xml;base64,') == 3  # speed, ITL, memory
    assert "No verdict" not in html and "NO VERDICT" in html
    assert "No soak records in these results." in html


def test_cli_help_does_not_import_heavy_modules():
    code = ("import sys; from harness.cli import build_parser; build_parser(); "
            "print(sorted(m for m in ('matplotlib', 'jinja2', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_modules_stay_small():
    folder = Path(__file__).resolve().parent.parent / "harness" / "report"
    for path in folder.glob("*.py"):
        assert len(path.read_text().splitlines()) < 400, path.name
