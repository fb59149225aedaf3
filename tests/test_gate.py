"""The regression gate: statistics on synthetic samples, direction handling, config,
baselines, the exporter and the CLI end to end on records of the fake backend."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, run_cli, write
from harness.cli import main
from harness.gate.config import load as load_config
from harness.gate.stats import (IMPROVED, NO_SAMPLES, NON_FINITE, NOT_GATED, OK,
                                REGRESSION, TOO_FEW, Rule, compare)
from harness.measure.environment import environment
from harness.records import (Measurement, Record, make_record, read_record, record_files,
                             write_json)
from helpers import set_fake_speed

# ------------------------------------------------------------------ synthetic noise
TRIALS_DETECT = 1000
TRIALS_AA = 1000
#: (coefficient of variation, share of outliers): lognormal noise on the time of each
#: repetition, and outliers 15-60% slower (interference on a shared runner)
NOISE = [(0.03, 0.05), (0.04, 0.03)]


def decode_tps(rng, n: int, cv: float, outliers: float, slowdown: float = 1.0) -> list[float]:
    """n decode speeds (tokens/s) whose time per token is lognormal with CV `cv`."""
    sigma = math.sqrt(math.log(1 + cv ** 2))
    t = rng.lognormal(0.0, sigma, n) * slowdown
    hit = rng.random(n) < outliers
    t[hit] *= rng.uniform(1.15, 1.6, hit.sum())
    return list(150.0 / t)


def alarm_rate(trials: int, cv: float, outliers: float, slowdown: float, seed: int) -> float:
    """Share of seeded trials (10 repetitions per side) the default rule calls a regression."""
    config = load_config(None)
    rule = config.rule("decode_tps", "tokens/s", "host", "speed")
    hits = 0
    for t in range(trials):
        rng = np.random.default_rng(seed + t)
        base = decode_tps(rng, 10, cv, outliers)
        cur = decode_tps(rng, 10, cv, outliers, slowdown)
        hits += compare(base, cur, True, rule, alpha=config.alpha).decision == REGRESSION
    return hits / trials


@pytest.fixture(autouse=True)
def _builtin_config(monkeypatch, tmp_path):
    """Statistics tests use the built-in rules, whatever the checkout's gate.yaml says."""
    monkeypatch.setenv("SLLM_BENCH_HOME", str(tmp_path))


@pytest.mark.parametrize("cv,outliers", NOISE)
def test_ten_percent_slowdown_is_caught_in_95_percent_of_trials(cv, outliers):
    assert alarm_rate(TRIALS_DETECT, cv, outliers, 1.10, seed=1) >= 0.95


@pytest.mark.parametrize("cv,outliers", NOISE)
def test_identical_distributions_false_alarm_at_most_1_percent(cv, outliers):
    assert alarm_rate(TRIALS_AA, cv, outliers, 1.0, seed=100_000) <= 0.01


def test_aa_false_alarm_per_compare_of_24_metrics_seeded():
    """benchmarks/simulate_gate.py on fewer trials: A/A compares of 4 metrics x 6
    settings (CV 5%, 5% outlier repetitions) through the real compare_runs fail at most
    5% of the time (Holm); a 10% decode slow-down at 10 repetitions is caught."""
    from benchmarks import simulate_gate as sim

    aa = sim.rate(60, seed=7, cv=0.05, outliers=0.05)[0]
    assert aa <= 0.05
    assert sim.rate(20, seed=7 + 10 ** 6, cv=0.05, slowdown=1.10)[0] >= 0.9


# ------------------------------------------------------------------ directions and rules
def noisy(center: float, n: int = 10, seed: int = 0, cv: float = 0.02) -> list[float]:
    return list(center * np.random.default_rng(seed).lognormal(0, cv, n))


@pytest.mark.parametrize("metric,unit,higher,base,worse,better", [
    ("decode_tps", "tokens/s", True, noisy(150), noisy(120, seed=1), noisy(180, seed=1)),
    ("ttft_ms", "ms", False, noisy(300), noisy(360, seed=1), noisy(240, seed=1)),
    ("itl_ms", "ms", False, noisy(6.7, 300), noisy(8.0, 300, 1), noisy(5.5, 300, 1)),
    ("peak_rss_mb", "MB", False, [200.0], [240.0], [160.0]),
    ("model_size_mb", "MB", False, [93.8], [93.9], [93.7]),
    ("acc", "fraction", True, [1.0] * 70 + [0.0] * 30, [1.0] * 50 + [0.0] * 50,
     [1.0] * 90 + [0.0] * 10),
    ("token_perplexity", "ppl", False, [21.0], [21.5], [20.5]),
])
def test_direction_of_every_metric_kind(metric, unit, higher, base, worse, better):
    rule = load_config(None).rule(metric, unit, "host", "speed")
    assert compare(base, worse, higher, rule).decision == REGRESSION
    assert compare(base, better, higher, rule).decision == IMPROVED
    assert compare(base, list(base), higher, rule).decision == OK
    # the same numbers with the opposite direction swap the verdicts
    assert compare(base, worse, not higher, rule).decision == IMPROVED


def test_single_measurements_use_their_tolerance():
    rule = load_config(None).rule("peak_rss_mb", "MB", "host", "speed")  # 5% and 8 MB
    assert compare([200.0], [207.0], False, rule).decision == OK  # +7 MB: under 8 MB
    assert compare([200.0], [209.0], False, rule).decision == OK  # +4.5%: under 5%
    out = compare([200.0], [211.0], False, rule)
    assert (out.decision, out.rule, out.p, out.interval) == (REGRESSION, "tolerance", None,
                                                             None)
    exact = load_config(None).rule("model_size_mb", "MB", "host", "speed")
    assert compare([93.8], [93.8001], False, exact).decision == REGRESSION
    assert compare([0.28], [0.9], False,
                   load_config(None).rule("load_s", "s", "host", "speed")).decision == NOT_GATED


def test_derived_metrics_are_reported_not_gated_with_the_reason(tmp_path):
    c = load_config(None)
    for metric, unit in [("prefill_tps", "tokens/s"), ("e2e_ms", "ms")]:
        out = compare(noisy(100), noisy(50, seed=1), True, c.rule(metric, unit, "host", "s"))
        assert out.decision == NOT_GATED and out.reason.startswith("derived: ")
        assert out.change < -0.4 and out.p < 0.001  # still measured and shown
    assert compare([1.0], [2.0], False, Rule(gate=False)).reason == \
        "gate: false in the gate config"
    path = write(tmp_path / "gate.yaml", "metrics:\n  prefill_tps: {gate: true}\n")
    assert load_config(path).rule("prefill_tps", "tokens/s", "host", "speed").gate


def test_holm_adjusted_p_values_by_hand():
    from harness.measure.stats import holm

    # sorted: 0.005 x 4 = 0.02, 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, max(0.06, 0.04 x 1)
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0]) and holm([]) == []


def test_holm_demotes_a_regression_the_family_does_not_support():
    from harness.gate.compare import Report, apply_holm

    def rows(*ps):
        return [{"decision": REGRESSION if p < 0.05 else OK, "p_worse": p, "reason": "r"}
                for p in ps] + [{"decision": NOT_GATED, "p_worse": 0.001, "reason": "d"},
                                {"decision": TOO_FEW, "p_worse": None, "reason": "t"}]
    two = Report(rows=rows(0.02, 0.5))
    apply_holm(two)  # 0.02 x 2 = 0.04 < 0.05: stands
    assert two.family == 2 and two.rows[0]["decision"] == REGRESSION
    assert two.rows[0]["p_holm"] == pytest.approx(0.04) and "p_holm" not in two.rows[2]
    three = Report(rows=rows(0.02, 0.5, 0.3))
    apply_holm(three)  # 0.02 x 3 = 0.06: not a regression of the family
    assert three.family == 3 and three.rows[0]["decision"] == OK
    assert "not after Holm's correction over 3 gated metrics" in three.rows[0]["reason"]


def test_holm_can_be_switched_off_in_the_config(tmp_path):
    assert load_config(None).holm
    assert not load_config(write(tmp_path / "gate.yaml", "holm: false\n")).holm


def test_mcnemar_by_hand_discordant_0_7_on_36_items():
    from harness.measure.stats import mcnemar

    base = [1.0] * 29 + [0.0] * 7
    cur = [1.0] * 36  # the 7 wrong items are now right, nothing lost
    assert mcnemar(base, cur) == (0, 7, pytest.approx(0.015625))  # 2 x (1/2)^7
    assert mcnemar(cur, base) == (7, 0, pytest.approx(0.015625))
    assert mcnemar(base, base) == (0, 0, 1.0)
    # 2 lost, 9 won: 2 x P(X <= 2), X ~ Bin(11, 1/2) = 2 x 67 / 2048
    b2 = [1.0, 1.0] + [0.0] * 9 + [1.0] * 25
    c2 = [0.0, 0.0] + [1.0] * 9 + [1.0] * 25
    assert mcnemar(b2, c2)[2] == pytest.approx(2 * 67 / 2048)


def test_accuracy_is_gated_by_exact_mcnemar_on_paired_items():
    rule = load_config(None).rule("acc", "fraction", "host", "mc_en")
    base, worse = [1.0] * 36, [1.0] * 29 + [0.0] * 7  # 7 items lost, none won
    out = compare(base, worse, True, rule)
    assert out.decision == REGRESSION and out.discordant == (7, 0)
    assert out.p == out.p_worse == pytest.approx(0.5 ** 7)  # one-sided
    assert out.mcnemar_p == pytest.approx(0.015625)
    assert out.interval[0] < out.change < out.interval[1] <= 0  # paired bootstrap
    better = compare(worse, base, True, rule)
    assert better.decision == IMPROVED and better.discordant == (0, 7)
    # an error rate (lower is better): the same counts are a regression the other way
    assert compare(worse, base, False, rule).decision == REGRESSION
    # 6 lost, 6 won: accuracy unchanged, McNemar p = 1
    swap = [0.0] * 6 + [1.0] * 6 + [1.0] * 24
    out = compare(swap, swap[6:12] + swap[:6] + swap[12:], True, rule)
    assert (out.decision, out.discordant, out.mcnemar_p) == (OK, (6, 6), 1.0)
    # unequal counts or non-0/1 samples: not paired, Mann-Whitney as before
    assert compare(base, worse[:-1], True, rule).discordant is None
    assert compare([0.5] * 36, [0.4] * 36, True, rule).discordant is None
    # 4 items cannot reach p < 0.05 (1/16 = 0.0625)
    assert compare([1.0] * 4, [0.0] * 4, True, rule).decision == TOO_FEW


def test_mcnemar_beats_unpaired_test_on_a_small_paired_drop():
    """Issue 18: on 36 items, a drop of 5 items (14 points) lost with none won is caught
    by McNemar (p = 1/32) and missed by Mann-Whitney on the same samples."""
    from harness.measure.stats import p_worse

    base, cur = [1.0] * 30 + [0.0] * 6, [1.0] * 25 + [0.0] * 11
    out = compare(base, cur, True, load_config(None).rule("acc", "fraction", "host", "t"))
    assert out.decision == REGRESSION and out.p == pytest.approx(1 / 32)
    assert p_worse(base, cur, True) > 0.05


def test_change_interval_and_p_are_reported():
    out = compare(noisy(150), noisy(120, seed=1), True, Rule())
    assert out.change == pytest.approx(out.current / out.baseline - 1)
    assert out.interval[0] < out.change < out.interval[1] < 0
    assert out.p < 0.001 and (out.n_baseline, out.n_current) == (10, 10)


def test_p_is_in_the_direction_of_the_change():
    better = compare(noisy(120), noisy(150, seed=1), True, Rule())
    assert better.decision == IMPROVED and better.p < 0.001
    assert compare(noisy(150), noisy(150, seed=1), True, Rule()).p > 0.05


def test_too_few_samples_cannot_be_significant():
    out = compare([100.0, 101, 99], [50.0, 51, 49], True, Rule(), alpha=0.05)
    assert out.decision == TOO_FEW  # 3 vs 3: smallest p is 1/20 = 0.05
    assert compare([100.0] * 4, [50.0] * 4, True, Rule(), alpha=0.05).decision != TOO_FEW


@pytest.mark.parametrize("base,cur,decision", [
    ([None, math.nan], [1.0, 2.0, 3.0], NO_SAMPLES),
    ([1.0, 2.0, 3.0, 4.0], [], NO_SAMPLES),
    ([], [], NO_SAMPLES),
    ([150.0] * 10, [150.0] * 9 + [math.inf], NON_FINITE),  # an infinite rate: not "faster"
    ([math.inf], [150.0], NON_FINITE),
    ([150.0], [-math.inf], NON_FINITE),
])
def test_no_usable_or_infinite_samples_are_undecided_never_a_pass(base, cur, decision):
    for higher in (True, False):
        for rule in (Rule(), Rule(rule="tolerance")):
            out = compare(base, cur, higher, rule)
            assert out.decision == decision and out.p is None and out.change is None
    assert compare(base, cur, True, Rule(gate=False)).decision == NOT_GATED


def test_metric_without_samples_fails_only_with_strict(tmp_path, capsys):
    base = side(tmp_path, "b", record())
    empty = record().to_dict()
    for m in empty["measurements"]:
        if m["metric"] == "decode_tps":
            m["samples"], m["summary"] = [None, None], {"n": 0}
    cur = side(tmp_path, "c", empty)
    code, out, _ = gate(capsys, base, cur)
    assert code == 0 and "| decode_tps (tokens/s) | 10/0 |" in out
    assert "decode_tps: no samples (current has no samples)" in out
    code, out, _ = gate(capsys, base, cur, "--strict", "--format", "json")
    doc = json.loads(out)
    assert code == 1 and doc["undecided"] == 1 and doc["verdict"].startswith("FAIL (--strict)")


# ------------------------------------------------------------------ config
def test_config_layers_per_metric_device_and_task(tmp_path):
    path = write(tmp_path / "gate.yaml", """
        alpha: 0.01
        default: {threshold: 0.04}
        metrics:
          decode_tps: {threshold: 0.06}
        overrides:
          - device: laptop-2c-4g
            metrics: {decode_tps: {threshold: 0.08}}
          - task: speed
            device: laptop-2c-4g
            metrics: {decode_tps: {abs_threshold: 1.5}}
          - task: hellaswag
            metrics: {acc: {rule: tolerance, abs_tolerance: 0}}
        """)
    c = load_config(path)
    assert c.alpha == 0.01 and c.rule("ttft_ms", "ms", "host", "speed").threshold == 0.04
    assert c.rule("decode_tps", "tokens/s", "host", "speed").threshold == 0.06
    lap = c.rule("decode_tps", "tokens/s", "laptop-2c-4g", "speed")
    assert (lap.threshold, lap.abs_threshold) == (0.08, 1.5)
    assert c.rule("decode_tps", "tokens/s", "laptop-2c-4g", "other").abs_threshold == 0.0
    acc = c.rule("acc", "fraction", "host", "hellaswag")
    assert (acc.rule, acc.center, acc.abs_tolerance) == ("tolerance", "mean", 0.0)
    assert c.rule("peak_rss_mb", "MB", "host", "speed").abs_tolerance == 8.0  # built-in kept


def test_shipped_gate_config_is_valid_and_states_the_defaults():
    shipped = load_config(ROOT / "results" / "baselines" / "gate.yaml")
    builtin = load_config(None)
    assert shipped.source and builtin.source is None
    assert (shipped.alpha, shipped.ignore_params) == (builtin.alpha, builtin.ignore_params)
    for metric, unit in [("decode_tps", "tokens/s"), ("acc", "fraction"), ("load_s", "s")]:
        assert shipped.rule(metric, unit, "host", "speed") == \
            builtin.rule(metric, unit, "host", "speed")


@pytest.mark.parametrize("text,message", [
    ("metrics:\n  decode_tps: {treshold: 0.1}\n", "unknown key 'metrics.decode_tps.treshold'"),
    ("overrides:\n  - devices: x\n", "unknown key 'overrides.0.devices'"),
    ("alpha: 2\n", "key 'alpha'"),
    ("metrics: [1, 2\n", "YAML syntax error"),
])
def test_bad_gate_config_is_exit_2_naming_file_and_key(tmp_path, capsys, text, message):
    path = write(tmp_path / "gate.yaml", text)
    rec = tmp_path / "r.json"
    write_json(rec, record())
    assert main(["compare", str(rec), str(rec), "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{path}: " in err and message in err


# ------------------------------------------------------------------ records and the CLI
def record(decode=None, *, threads=2, model_sha="a" * 64, host=None, runtimes=None,
           error=None, prompt=128, rss=200.0, run_id="r1", gbps=75.0, options=None) -> Record:
    env = environment()
    env = {**env, "host": {**env["host"], **(host or {})},
           "runtimes": {**env["runtimes"], **(runtimes or {})}}
    ms = None if error else [
        Measurement("ttft_ms", "ms", False, tuple(noisy(50.0, seed=7))),
        Measurement("decode_tps", "tokens/s", True, tuple(decode or noisy(150.0, seed=3))),
        Measurement("peak_rss_mb", "MB", False, (rss,)),
    ]
    return make_record(kind="speed", run_id=run_id, seq=0, started_at="t",
                       model={"id": "m", "format": "gguf", "sha256": model_sha,
                              "size_bytes": 1},
                       backend={"name": "llama_cpp"}, device={"name": "host"},
                       task={"name": "speed", "version": 1},
                       params={"prompt_tokens": prompt, "gen_tokens": 64, "threads": threads,
                               "repetitions": 10, "memory_bandwidth": {"gbps": gbps},
                               **({"backend_options": options} if options else {})},
                       env=env, measurements=ms, error=error)


def side(tmp_path, name: str, *records: Record):
    """A results folder of `records`; a record edited as a dict gets its summaries derived
    again from its (edited) samples, as the harness writes them."""
    from harness.measure.stats import summarize

    folder = tmp_path / name
    for i, r in enumerate(records):
        if isinstance(r, dict):
            for m in r.get("measurements") or ():
                m["summary"] = summarize(m["samples"])
        write_json(folder / f"{i:04d}.json", r)
    return str(folder)


def gate(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["compare", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_regression_fails_with_a_markdown_table(tmp_path, capsys):
    base = side(tmp_path, "b", record())
    cur = side(tmp_path, "c", record(noisy(130.0, seed=4)))
    code, out, err = gate(capsys, base, cur)
    assert code == 1 and err == ""
    assert out.startswith("## sllm-bench gate: FAIL: 1 regression(s)")
    row = next(line for line in out.splitlines() if "decode_tps" in line)
    assert "| 10/10 | 149.0 | 129.8 | -12.9% |" in row and row.endswith("| **regression** |")
    assert "| m · llama_cpp · host · speed · p128 g64 t2 | ttft_ms (ms) |" in out
    assert "Holm-adjusted one-sided p < 0.05 (Holm's correction across the 2 gated" in out


def test_compare_prints_mcnemar_counts_for_accuracy(tmp_path, capsys):
    def quality(acc):
        r = record().to_dict()
        r["measurements"] = [{**r["measurements"][0], "metric": "acc", "unit": "fraction",
                              "higher_is_better": True, "samples": acc}]
        return r
    base = side(tmp_path, "b", quality([1.0] * 29 + [0.0] * 7))
    cur = side(tmp_path, "c", quality([1.0] * 36))
    code, out, _ = gate(capsys, base, cur)
    row = next(line for line in out.splitlines() if "| acc (fraction) |" in line)
    assert code == 0 and "| 0/7, p 0.016 | improved |" in row
    code, out, _ = gate(capsys, cur, base, "--format", "json")
    (row,) = json.loads(out)["rows"]
    assert code == 1 and row["decision"] == REGRESSION and row["discordant"] == [7, 0]
    assert row["mcnemar_p"] == pytest.approx(0.015625)


def test_identical_runs_pass_and_json_format(tmp_path, capsys):
    base = side(tmp_path, "b", record(), record(prompt=512))
    code, out, _ = gate(capsys, base, base, "--format", "json")
    doc = json.loads(out)
    assert code == 0 and doc["verdict"] == "PASS" and doc["matched"] == 2
    assert {r["decision"] for r in doc["rows"]} == {OK}
    assert {r["metric"] for r in doc["rows"]} == {"ttft_ms", "decode_tps", "peak_rss_mb"}


def test_sample_count_and_measured_bandwidth_are_not_part_of_the_match(tmp_path, capsys):
    base = side(tmp_path, "b", record(noisy(150.0, n=5)))
    cur = side(tmp_path, "c", record(gbps=39.0))
    code, out, _ = gate(capsys, base, cur, "--strict")
    assert code == 0 and "1 run(s) matched" in out and "| 5/10 |" in out
    assert "Notes:" not in out and "gbps" not in out


def test_unmatched_runs_are_reported_and_fail_only_with_strict(tmp_path, capsys):
    base = side(tmp_path, "b", record(), record(prompt=512))
    cur = side(tmp_path, "c", record(), record(prompt=256))
    code, out, _ = gate(capsys, base, cur)
    assert code == 0 and out.startswith("## sllm-bench gate: PASS")
    assert "- only in the baseline: m · llama_cpp · host · speed · p512 g64 t2" in out
    assert "- only in the current results: m · llama_cpp · host · speed · p256 g64 t2" in out
    code, out, _ = gate(capsys, base, cur, "--strict")
    assert code == 1 and out.startswith("## sllm-bench gate: FAIL (--strict): 2 undecided")


def test_ignore_param_compares_across_thread_counts(tmp_path, capsys):
    base = side(tmp_path, "b", record(threads=2))
    cur = side(tmp_path, "c", record(noisy(80.0, seed=5), threads=1))
    code, out, _ = gate(capsys, base, cur, "--strict")
    assert code == 1 and "0 run(s) matched" in out
    code, out, _ = gate(capsys, base, cur, "--ignore-param", "threads")
    assert code == 1 and "p128 g64 t2→1 | ttft_ms" in out
    assert "threads differs (2 -> 1), ignored in matching" in out


def test_a_set_backend_option_is_another_run_unless_ignored(tmp_path, capsys):
    base = side(tmp_path, "b", record())
    cur = side(tmp_path, "c", record(noisy(80.0, seed=5), options={"flash_attn": "off"}))
    code, out, _ = gate(capsys, base, cur, "--strict")
    assert code == 1 and "0 run(s) matched" in out
    assert "only in the current results: m · llama_cpp · host · speed · p128 g64 t2 " \
           "flash_attn=off" in out
    code, out, _ = gate(capsys, base, cur, "--ignore-param", "backend_options")
    assert code == 1 and "1 run(s) matched" in out
    assert "backend_options differs (none -> flash_attn=off), ignored in matching" in out


def test_failed_current_run_fails_and_model_sha_change_is_noted(tmp_path, capsys):
    base = side(tmp_path, "b", record(), record(prompt=512))
    cur = side(tmp_path, "c", record(model_sha="b" * 64),
               record(prompt=512, error={"kind": "crash", "message": "SIGSEGV"}))
    code, out, _ = gate(capsys, base, cur)
    assert code == 1 and "| **run failed** |" in out
    assert "model sha256 changed: aaaaaaaaaaaa -> bbbbbbbbbbbb" in out


def test_other_host_or_runtime_warns_loudly(tmp_path, capsys):
    base = side(tmp_path, "b", record())
    cur = side(tmp_path, "c", record(host={"id": "0123456789abcdef"},
                                     runtimes={"llama-cpp-python": "9.9.9"}))
    code, out, err = gate(capsys, base, cur)
    assert code == 0
    assert "sllm-bench: WARNING: different hosts: baseline host" in err
    assert "current host 0123456789abcdef" in err and "!!!!" in err
    assert "llama-cpp-python" in err and "-> 9.9.9" in err
    assert "> **Warning:** different runtime versions" in out


@pytest.mark.parametrize("content,message", [
    ("{not json", "not valid JSON (line 1"),
    ('{"schema": "sllm-bench/run-record", "schema_version": 1}', "invalid record at top level"),
    ('{"hello": 1}', "not a sllm-bench/run-record file"),
])
def test_bad_record_is_exit_2_with_one_line(tmp_path, content, message):
    good = side(tmp_path, "b", record())
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    r = run_cli("compare", good, str(bad))
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith(f"sllm-bench: error: {bad}: {message}")
    assert r.stderr.count("\n") == 1


def test_missing_path_and_duplicate_runs_are_bad_input(tmp_path, capsys):
    base = side(tmp_path, "b", record())
    assert gate(capsys, base, str(tmp_path / "nope"))[0] == 2
    dup = side(tmp_path, "d", record(), record(run_id="r2"))
    code, _, err = gate(capsys, base, dup)
    assert code == 2 and "current: same run as" in err and err.count("\n") == 1


# ------------------------------------------------------------------ baselines
def test_baseline_save_show_and_compare_by_device_name(tmp_path, capsys):
    run = side(tmp_path, "run", record(), record(prompt=512),
               record(prompt=256, error={"kind": "crash", "message": "x"}))
    where = tmp_path / "baselines"
    assert main(["baseline", "save", run, "--baselines-dir", str(where)]) == 0
    out = capsys.readouterr()
    assert out.out.strip() == str(where / "host") and "skipped failed run" in out.err
    manifest = json.loads((where / "host" / "baseline.json").read_text())
    assert manifest["device"] == "host" and len(manifest["records"]) == 2
    assert manifest["host"]["id"] == environment()["host"]["id"]
    assert manifest["runtimes"]["python"] and "git_commit" in manifest
    assert main(["baseline", "show", "--baselines-dir", str(where)]) == 0
    shown = capsys.readouterr().out
    assert shown.startswith("## baseline host\n\nsaved ") and "### llama_cpp on host" in shown
    cur = side(tmp_path, "cur", record(noisy(120.0, seed=9)))
    code, out, _ = gate(capsys, "host", cur, "--baselines-dir", str(where))
    assert code == 1 and f"Baseline `{where / 'host'}`" in out
    # saving again replaces the baseline
    assert main(["baseline", "save", cur, "--baselines-dir", str(where)]) == 0
    capsys.readouterr()
    assert len(record_files([where / "host" / "records"])) == 1


def test_baseline_save_refuses_mixed_hosts(tmp_path, capsys):
    run = side(tmp_path, "run", record(), record(prompt=512, host={"id": "ffffffffffffffff"}))
    assert main(["baseline", "save", run, "--baselines-dir", str(tmp_path / "bl")]) == 2
    assert "differs from" in capsys.readouterr().err


# ------------------------------------------------------------------ exporter
def test_export_pytest_benchmark_json(tmp_path, capsys):
    decode = noisy(150.0, seed=3)
    run = side(tmp_path, "run", record(decode))
    out = tmp_path / "pb.json"
    assert main(["export-pytest-benchmark", run, "-o", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert set(doc) == {"machine_info", "commit_info", "benchmarks", "datetime", "version"}
    names = [b["name"] for b in doc["benchmarks"]]
    assert names == ["ttft_ms[p128-g64-t2]", "decode_tps[p128-g64-t2]"]  # not the MB one
    b = doc["benchmarks"][1]
    assert b["stats"]["data"] == pytest.approx([1 / x for x in decode])
    assert b["stats"]["rounds"] == 10 and b["stats"]["ops"] > 100
    assert b["group"] == "m / llama_cpp / host / speed"
    assert b["extra_info"]["medians"]["peak_rss_mb"] == 200.0
    # pytest-benchmark's own tool reads it
    r = subprocess.run([sys.executable, "-m", "pytest_benchmark", "compare", str(out),
                        "--group-by", "group"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "decode_tps[p128-g64-t2]" in r.stdout


# ------------------------------------------------------------------ end to end, fake backend
def fake_run(project, out: str, decode_ms: float) -> str:
    set_fake_speed(project, decode_ms)
    r = run_cli("run", "--tasks", "none", "-b", "fake", "-p", "16", "-n", "16", "-r", "10",
                "--out", str(project / out), "--no-progress")
    assert r.returncode == 0, r.stderr
    (run_dir,) = (project / out).iterdir()
    return str(run_dir)


def test_cli_end_to_end_on_fake_backend_records(project):
    base = fake_run(project, "base", decode_ms=0.5)
    slow = fake_run(project, "slow", decode_ms=5.0)
    same = run_cli("compare", base, base)
    assert same.returncode == 0 and same.stdout.startswith("## sllm-bench gate: PASS")
    r = run_cli("compare", base, slow, "--format", "json")
    assert r.returncode == 1, r.stderr
    rows = {row["metric"]: row for row in json.loads(r.stdout)["rows"]}
    assert rows["decode_tps"]["decision"] == REGRESSION and rows["decode_tps"]["change"] < -0.5
    assert rows["itl_ms"]["decision"] == REGRESSION
    for derived in ("e2e_ms", "prefill_tps"):  # reported, not gated (their parts are)
        assert rows[derived]["decision"] == NOT_GATED
        assert rows[derived]["reason"].startswith("derived: ")
    assert rows["load_s"]["decision"] == NOT_GATED
    assert read_record(record_files([slow])[0])["model"]["id"] == "fake-ok"


# ------------------------------------------------------------------ reachability (issue 27)
def _setting(prompt: int, decode: float, reps: int = 5):
    from harness.measure.environment import environment

    rng = __import__("random").Random(prompt)
    d = [decode * rng.uniform(0.98, 1.02) for _ in range(reps)]
    ms = [Measurement.of("ttft_ms", [50.0 * rng.uniform(0.98, 1.02) for _ in range(reps)]),
          Measurement.of("decode_tps", d),
          Measurement.of("itl_ms", [1000 / x for x in d for _ in range(7)])]
    return make_record(kind="speed", run_id="r", seq=prompt, started_at="t",
                       model={"id": "m", "format": "gguf", "sha256": None, "size_bytes": 1},
                       backend={"name": "llama_cpp"}, device={"name": "host"},
                       task={"name": "speed", "version": 1},
                       params={"prompt_tokens": prompt, "gen_tokens": 8, "threads": 2,
                               "repetitions": reps},
                       env=environment(), measurements=ms)


def test_a_compare_that_cannot_reach_its_holm_level_fails_closed(tmp_path, capsys):
    prompts = (16, 32, 64, 128, 256, 512)  # 6 settings x 3 gated metrics = 18 tests
    base = side(tmp_path, "b", *[_setting(p, 100.0) for p in prompts])
    cur = side(tmp_path, "c", *[_setting(p, 64.0) for p in prompts])  # 36% slower
    code, out, _ = gate(capsys, base, cur)
    assert code == 1, out
    assert ("undecidable (5 and 5 samples cannot reach the 0.0028 level of 18 tests (Holm); "
            "need at least 6 per side)") in out
    code, out, _ = gate(capsys, base, cur, "--format", "json")
    doc = json.loads(out)
    assert code == 1 and doc["undecidable"] == 18 and doc["verdict"].startswith("FAIL")


def test_enough_repetitions_make_the_same_drop_a_regression(tmp_path, capsys):
    prompts = (16, 32, 64, 128, 256, 512)
    base = side(tmp_path, "b", *[_setting(p, 100.0, reps=8) for p in prompts])
    cur = side(tmp_path, "c", *[_setting(p, 64.0, reps=8) for p in prompts])
    code, out, _ = gate(capsys, base, cur, "--format", "json")
    doc = json.loads(out)
    assert code == 1 and doc["undecidable"] == 0 and doc["regressions"] >= 6


def test_baseline_save_warns_when_its_compares_cannot_decide(tmp_path, capsys):
    prompts = (16, 32, 64, 128, 256, 512)
    small = side(tmp_path, "small", *[_setting(p, 100.0) for p in prompts])
    assert main(["baseline", "save", small, "--baselines-dir", str(tmp_path / "bl")]) == 0
    err = capsys.readouterr().err
    assert "warning: 18 of the 18 gated tests a compare against this baseline makes are " \
           "undecidable" in err and "need at least 6 per side" in err
    big = side(tmp_path, "big", *[_setting(p, 100.0, reps=8) for p in prompts])
    assert main(["baseline", "save", big, "--baselines-dir", str(tmp_path / "bl2")]) == 0
    assert "undecidable" not in capsys.readouterr().err


def test_twelve_concurrent_baseline_saves_leave_one_baseline(tmp_path):
    import subprocess
    import sys

    run = side(tmp_path, "run", record())
    where = tmp_path / "bl"
    procs = [subprocess.Popen([sys.executable, "-m", "harness", "baseline", "save", run,
                               "--baselines-dir", str(where)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for _ in range(12)]
    errs = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    assert all(code == 0 for code, _ in errs), errs
    assert sorted(d.name for d in where.iterdir() if not d.name.startswith(".lock")) == ["host"]


# ------------------------------------------------------------------ warm-up (issue 27)
def test_warm_up_drops_leading_repetitions_that_trend_better_never_half():
    from harness.measure.warmup import warm_up

    warming = [65.0, 59.0, 55.5, 53.4, 51.9, 50.2, 50.6, 49.8, 50.3, 49.9]
    found = warm_up(warming, higher_is_better=False)
    assert 1 <= found.dropped <= 4 and found.n == 10 and found.p < 0.05
    assert "warm-up in its first" in found.text()
    # the same run as tokens/s: warming up means getting faster
    assert warm_up([1000 / x for x in warming], True).dropped == found.dropped
    assert warm_up([1000 / x for x in warming], False).dropped == 0  # wrong direction
    # a steady trend over the whole run: at most half is dropped
    assert warm_up([100.0 - i for i in range(10)], False).dropped == 4
    # never below what the compare's Holm level needs (harness.gate.repetitions)
    assert warm_up([100.0 - i for i in range(10)], False, keep=8).dropped == 2
    assert warm_up(warming[:5], False, keep=5).dropped == 0
    flat = [50.2, 49.7, 50.5, 49.9, 50.1, 50.4, 49.6, 50.0, 50.3, 49.8]
    assert warm_up(flat, False).dropped == 0
    assert warm_up([50.0] * 10, False).dropped == 0 and warm_up([1.0, 2.0], False).dropped == 0


def _warming(decode: float, warm: bool, prompt: int = 128) -> Record:
    rng = np.random.default_rng(prompt + warm)
    slow = [1.5, 1.35, 1.2, 1.12, 1.06] if warm else []
    factor = np.array(slow + [1.0] * (10 - len(slow))) * rng.normal(1, 0.005, 10)
    ms = [Measurement.of("decode_tps", list(decode / factor))]
    return make_record(kind="speed", run_id="r", seq=0, started_at="t",
                       model={"id": "m", "format": "gguf", "sha256": None, "size_bytes": 1},
                       backend={"name": "llama_cpp"}, device={"name": "host"},
                       task={"name": "speed", "version": 1},
                       params={"prompt_tokens": prompt, "gen_tokens": 8, "threads": 2,
                               "repetitions": 10}, env=environment(), measurements=ms)


def test_a_run_still_warming_up_is_compared_on_its_warmed_repetitions(tmp_path, capsys):
    base = side(tmp_path, "b", _warming(100.0, False))
    cur = side(tmp_path, "c", _warming(100.0, True))
    rows = {}
    for warm_up in ("true", "false"):
        config = write(tmp_path / f"gate-{warm_up}.yaml", f"default: {{warm_up: {warm_up}}}\n")
        code, out, _ = gate(capsys, base, cur, "--config", str(config), "--format", "json")
        (rows[warm_up],) = json.loads(out)["rows"]
    row, d = rows["true"], rows["true"]["warm_up_dropped"]
    assert 1 <= d <= 4 and row["n_baseline"] == row["n_current"] == 10 - d
    assert (f"first {d} repetitions of both runs dropped, current: warm-up in its "
            f"first {d} of 10 repetitions (one-sided Kendall trend p 0.0") in row["warm_up"]
    assert abs(row["change"]) < 0.01 < abs(rows["false"]["change"])  # warm-up moved the median
    assert "warm_up_dropped" not in rows["false"] and rows["false"]["n_current"] == 10
    code, out, _ = gate(capsys, base, cur)  # the Markdown table's notes say so too
    assert f"| {10 - d}/{10 - d} |" in out and row["warm_up"] in out.split("Notes:")[1]
