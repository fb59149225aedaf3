"""Builds (issue 26) without a real model: the decision rule, the Pareto fronts, the plot,
a "no build passes" verdict measured on the fake backend, and refused flags."""

from __future__ import annotations

import pytest

from conftest import run_cli, write
from harness.builds import decide


def budget(metric, status, measured, bound=None, max=None, min=None, unit="tok/s"):
    return {"metric": metric, "status": status, "measured": measured, "bound": bound,
            "max": max, "min": min, "unit": unit, "detail": ""}


def row(name, size, kl, tps, rss, budgets=()):
    return {"build": name, "size_mb": size, "kl": kl, "top1": 1 - kl, "decode_tps": tps,
            "peak_rss_mb": rss, "quality": {}, "verdict_doc": {"budgets": list(budgets)},
            "verdict": "pass"}


ROWS = [row("F16 (reference)", 258, 0.0, 20, 440), row("Q8_0", 138, 0.004, 35, 320),
        row("Q4_K_M", 100, 0.03, 50, 280), row("Q3_K_M", 85, 0.09, 45, 270),
        row("Q4_0", 88, 0.06, 60, 275)]


def test_recommends_the_smallest_build_within_the_kl_limit():
    rec = decide.recommend(ROWS, "laptop")
    assert rec["build"] == "Q4_K_M"
    assert ("the smallest build whose every budget passes and whose KL to the reference is "
            "within 0.05") in rec["text"]
    assert decide.recommend(ROWS, "laptop", kl_max=0.1)["build"] == "Q3_K_M"


def test_pareto_fronts():
    f = decide.fronts(ROWS)
    # Q3_K_M: worse KL than Q4_K_M and slower, dominated on speed; but least memory
    assert f["speed"] == ["F16 (reference)", "Q8_0", "Q4_K_M", "Q4_0"]
    assert "Q3_K_M" in f["memory"] and "Q4_0" in f["memory"]
    assert decide.pareto([{"build": "a", "x": 1, "y": 1}, {"build": "b", "x": 1, "y": 1}],
                         "x", True, "y", True) == ["a", "b"]  # ties dominate neither


def test_no_build_passes_names_the_first_failing_budget_and_its_margin():
    rows = [row("Q8_0", 138, 0.004, 35, 320, [
                budget("ttft_ms", "pass", 100, 120, max=500, unit="ms"),
                budget("decode_tps", "fail", 35, 30, min=40)]),
            row("Q4_0", 88, 0.06, 45, 275, [
                budget("ttft_ms", "fail", 600, 650, max=500, unit="ms"),
                budget("decode_tps", "pass", 45, 42, min=40)])]
    rec = decide.recommend(rows, "laptop")
    assert rec["build"] is None
    assert rec["text"].startswith("laptop: no build passes")
    # the smallest build (Q4_0) fails first on TTFT: bound 650 against 500
    assert "Q4_0, fails first on ttft_ms <= 500 ms: fail, bound 650, short by 150 ms (30.0%)" \
        in rec["text"]
    assert rec["failure"]["by"] == pytest.approx(150)


def test_render_formats_and_plot():
    decision = {"reference": "F16 dequantized from Q4_1 (x.gguf)", "device": "host",
                "quality": "kl", "kl_max": 0.05, "fronts": decide.fronts(ROWS),
                "recommendations": [decide.recommend(ROWS, "host")]}
    md = decide.render(ROWS, decision, "markdown")
    assert md.startswith("reference: F16 dequantized from Q4_1 (x.gguf)")
    assert "**recommended** on host: Q4_K_M" in md
    assert decide.render(ROWS, decision, "csv").splitlines()[0].startswith("build,format")
    assert '"rows"' in decide.render(ROWS, decision, "json")
    from harness.builds.plot import pareto_plot

    svg = pareto_plot(ROWS)
    assert svg.startswith("<?xml") and svg == pareto_plot(ROWS)  # same input, same bytes


def test_no_build_passes_on_the_fake_backend(project):
    """Measured with the harness's own machinery: a decode budget no build can meet."""
    from harness import api
    from harness.builds.make import Build, BuildSet

    write(project / "devices" / "strict.yaml", """
        name: strict
        threads: 1
        cores: all
        workload: {prompt_tokens: 8, gen_tokens: 4}
        conditions: {other_cpu_max: 1000, frequency_drop_max: 0.99, allow_battery: true}
        budgets:
          - {metric: decode_tps, min: 1000000, prompt_tokens: 8}
        """)
    ref = Build("fake-ok (reference)", None, "fake", size_bytes=2000, reference=True,
                model_name="fake-ok")
    builds = [Build("fake-leak", None, "fake", size_bytes=1000, model_name="fake-leak")]
    rows = api.measure_builds(BuildSet(ref, builds, "fake (fake.bin)", []), device="strict",
                              tasks=(), reps=5, parity_tokens=0,
                              out_dir=project / "out" / "runs", log=lambda m: None)
    assert [r["verdict"] for r in rows] == ["fail", "fail"]
    decision = api.decide_builds(rows, device="strict", reference="fake (fake.bin)")
    (rec,) = decision["recommendations"]
    assert rec["build"] is None
    assert "strict: no build passes" in rec["text"]
    assert "fake-leak, fails first on decode_tps >= 1e+06 tokens/s: fail, bound" in rec["text"]
    assert rec["failure"]["by"] > 900000 and rec["failure"]["pct"] > 90
    written = api.write_builds(rows, decision, project / "out")
    assert {p.name for p in written} >= {"decision.md", "decision.csv", "decision.json",
                                         "report.html", "report.md"}
    # the report of the measured records gets the decision and the Pareto plot
    html = (project / "out" / "report.html").read_text()
    section = html[html.index('<section id="builds">'):html.index('<section id="speed">')]
    assert "fake-leak" in section and "strict: no build passes" in section
    assert '<img src="data:image/svg+xml;base64,' in section
    md = (project / "out" / "report.md").read_text()
    assert "## Builds" in md and "| fake-leak |" in md


@pytest.mark.parametrize("args, message", [
    (["--quant", "Q4_7"], "--quant: unknown type 'Q4_7'"),
    ([], "nothing to do"),
    (["--dequantize", "--onnx", "gguf"], "--onnx: ports are made from a --quant build"),
    (["--quant", "Q8_0", "--onnx", "int5"], "unknown ONNX precision 'int5'"),
    (["--quant", "Q8_0", "--limit", "0"], "--limit: must be at least 1"),
    (["--quant", "Q8_0", "--device", "nosuch"], "nosuch"),
    (["--quant", "Q8_0", "--tasks", "nosuch_task"], "nosuch_task"),
    (["--quant", "Q8_0", "--tasks", "none", "--pareto-quality", "arc:acc"],
     "--pareto-quality: expected kl"),
])
def test_bad_flags_exit_2_with_one_line(project, args, message):
    r = run_cli("builds", "fake-ok", *args)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (project / "results").exists()


def test_catalogue_names_a_models_builds(project):
    from harness.config import load_catalogue
    from harness.errors import ConfigError

    text = (project / "models.yaml").read_text() + (
        "  - id: fake-built\n    format: fake\n    source: {kind: path, path: fake.bin}\n"
        "    builds: {reference: dequantized, quant: [Q4_7]}\n")
    (project / "models.yaml").write_text(text)
    assert load_catalogue(project / "models.yaml").get("fake-built").builds.quant == ["Q4_7"]
    r = run_cli("builds", "fake-built")  # no --quant: the catalogue's builds are used
    assert r.returncode == 2 and "--quant: unknown type 'Q4_7'" in r.stderr
    (project / "models.yaml").write_text(text.replace("quant: [Q4_7]", "quant: [Q8_0], x: 1"))
    with pytest.raises(ConfigError, match="x"):
        load_catalogue(project / "models.yaml")


def test_an_interrupted_build_leaves_no_file(tmp_path):
    from harness.builds.cache import atomic_output

    final = tmp_path / "builds" / "x-Q4_K_M.gguf"
    with pytest.raises(KeyboardInterrupt):
        with atomic_output(final) as tmp:
            tmp.write_bytes(b"GGUF half a model")
            raise KeyboardInterrupt
    assert list((tmp_path / "builds").iterdir()) == []
    with atomic_output(final) as tmp:
        tmp.write_bytes(b"GGUF whole")
    assert [p.name for p in (tmp_path / "builds").iterdir()] == [final.name]


def test_parity_against_a_reference_model_is_planned_per_model(project):
    from harness import api
    from harness.errors import BenchError

    req = api.run_request(models=("fake-ok", "fake-leak"), backends=("fake",), speed=False,
                          tasks=(), parity_task="prose_en", parity_reference_model=True)
    with pytest.raises(BenchError, match="does not expose logits"):
        api.plan(req)
    one = api.run_request(models=("fake-ok",), backends=("fake",), speed=False, tasks=(),
                          parity_task="prose_en", parity_reference_model=True)
    with pytest.raises(BenchError, match="needs it and at least one other"):
        api.plan(one)
