"""`sllm-bench report`: section order, verdict banner, escaping, self-containment, embedded
plots, bad input, and records made by the fake backend through the CLI.

The report is built from helpers.synthetic_results(): a run folder of real-looking records
(speed sweeps for two backends, quality, parity, determinism, soak, one failure) and a
verdict per backend, which the browser test (test_report_page.py) and the docs screenshot
use too.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_cli
from harness.report import write_report
from harness.records import write_json
from helpers import HOSTILE, SHA, synthetic_results


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


def test_a_set_backend_option_is_named_beside_the_backend():
    from harness.report.collect import backend_label
    from helpers import speed_record

    assert backend_label(speed_record()) == "llama_cpp"
    assert backend_label(speed_record(options={"flash_attn": "off", "n_batch": 512})) == \
        "llama_cpp flash_attn=off n_batch=512"
