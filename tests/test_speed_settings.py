"""Speed settings through the CLI on the fake backend: --depth, --prompt-source, --set."""

from __future__ import annotations

import json

import pytest

from conftest import ROOT, run_cli
from harness.records import read_record, record_files


@pytest.fixture
def with_tasks(project):
    import shutil

    shutil.copytree(ROOT / "tasks", project / "tasks")
    return project


def test_depth_is_swept_and_recorded(project):
    r = run_cli("run", "-b", "fake", "-p", "8", "-n", "4", "--depth", "0,16", "-r", "2",
                "--tasks", "none", "--format", "json", "--out", str(project / "out"))
    assert r.returncode == 0, r.stderr
    assert "p8/g4, p8/g4@d16" in r.stderr  # the printed plan
    recs = sorted((read_record(p) for p in record_files([project / "out"])),
                  key=lambda x: x.params.get("depth", 0))
    assert [x.params.get("depth") for x in recs] == [None, 16]  # depth 0: params as before
    assert recs[1].path.name == "fake-fake-ok-t1-p8-g4-d16.json"
    assert recs[1].params["n_ctx"] >= 8 + 4 + 16


def test_text_prompts_come_from_a_task_and_are_recorded(with_tasks):
    r = run_cli("run", "-b", "fake", "-p", "8", "-n", "4", "--prompt-source", "text:prose_ko",
                "-r", "2", "--tasks", "none", "--out", str(with_tasks / "out"))
    assert r.returncode == 0, r.stderr
    (rec,) = [read_record(p) for p in record_files([with_tasks / "out"])]
    assert rec.params["prompt_source"] == "text:prose_ko" and "text" not in rec.params
    assert rec.samples("gen_tokens_out") and rec.stat("decode_tps") > 0


@pytest.mark.parametrize("args, message", [
    (["--set", "flash_attn"], "--set: expected KEY=VALUE"),
    (["--set", "no_such_setting=1"], "--set: unknown setting(s) no_such_setting"),
    (["--depth", "-1"], "--depth: values must be 0 or more"),
    (["--prompt-source", "poem"], "--prompt-source: expected synthetic or text:TASK"),
    (["--prompt-source", "text:mc_en"], "not a perplexity task"),
])
def test_bad_speed_flags_are_one_line_errors(with_tasks, args, message):
    r = run_cli("run", "-b", "fake", "--tasks", "none", *args, "--out", str(with_tasks / "o"))
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (with_tasks / "o").exists()


def test_settings_reach_the_backend(project):
    r = run_cli("run", "-b", "fake", "-p", "8", "-n", "4", "-r", "1", "--tasks", "none",
                "--set", "decode_ms_per_token=0.1", "--format", "jsonl",
                "--out", str(project / "out"))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["status"] == "ok"
    run_json = json.loads(next((project / "out").iterdir()).joinpath("run.json").read_text())
    assert run_json["request"]["options"] == {"decode_ms_per_token": 0.1}
    (rec,) = [read_record(p) for p in record_files([project / "out"])]
    assert rec.params["backend_options"] == {"decode_ms_per_token": 0.1}
    assert rec.label().endswith("decode_ms_per_token=0.1")


def test_only_the_settings_a_backend_reads_go_into_its_params(project):
    from harness.engine.plan import backend_options

    both = {"flash_attn": "off", "decode_ms_per_token": 0.1, "fault": "crash"}
    assert backend_options("fake", both) == {"decode_ms_per_token": 0.1, "fault": "crash"}
    assert backend_options("llama_cpp", both) == {"flash_attn": "off"}
    assert backend_options("onnxruntime", both) == {}


def test_the_printed_table_names_a_set_setting(project):
    r = run_cli("run", "-b", "fake", "-p", "8", "-n", "4", "-r", "1", "--tasks", "none",
                "--set", "decode_ms_per_token=0.1", "--out", str(project / "out"))
    assert r.returncode == 0, r.stderr
    assert "### fake decode_ms_per_token=0.1 on host" in r.stdout
