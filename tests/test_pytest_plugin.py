"""The pytest plugin: a performance test of a (fake) model through pytest-benchmark's own
save / compare / --benchmark-compare-fail flow."""

from __future__ import annotations

import json
from importlib.metadata import entry_points

import pytest

from harness.gate.pytest_plugin import Replay
from helpers import set_fake_speed

pytest_plugins = ["pytester"]

PERF_TEST = """
def test_decode_speed(sllm_bench):
    run = sllm_bench.speed("decode_tps", model="fake-ok", backend="fake",
                           prompt_tokens=8, gen_tokens=16, reps=5, warmup=0)
    assert run.median("decode_tps") > 0
"""


def test_plugin_is_registered_by_entry_point():
    plugins = {e.name: e.value for e in entry_points(group="pytest11")}
    assert plugins.get("sllm_bench") == "harness.gate.pytest_plugin"


def test_replay_clock_turns_samples_into_rounds(pytester):
    pytester.makepyfile("""
        from harness.gate.pytest_plugin import record_samples

        def test_replay(benchmark):
            record_samples(benchmark, [0.5, 0.25, 1.0])
            assert benchmark.stats.stats.data == [0.5, 0.25, 1.0]
            assert benchmark.stats.stats.median == 0.5
    """)
    pytester.runpytest().assert_outcomes(passed=1)
    clock = Replay([2.0])
    assert (clock(), clock()) == (0.0, 2.0)


def test_save_then_compare_fail_on_a_slower_model(project, pytester):
    pytester.makepyfile(test_perf=PERF_TEST)
    storage = f"file://{project / 'bench-storage'}"
    out = project / "records"
    set_fake_speed(project, 1.0)
    first = pytester.runpytest_subprocess(f"--benchmark-storage={storage}",
                                          "--benchmark-save=base", "--benchmark-save-data",
                                          f"--sllm-bench-out={out}")
    first.assert_outcomes(passed=1)
    (saved,) = (project / "bench-storage").rglob("0001_base.json")
    bench = json.loads(saved.read_text())["benchmarks"][0]
    assert bench["name"] == "test_decode_speed" and bench["stats"]["rounds"] == 5
    (record_file,) = [p for p in out.rglob("*.json") if p.name != "run.json"]
    record = json.loads(record_file.read_text())
    decode = next(m for m in record["measurements"] if m["metric"] == "decode_tps")
    assert bench["stats"]["data"] == pytest.approx([1 / x for x in decode["samples"]])
    assert bench["extra_info"]["model"] == "fake-ok" and bench["extra_info"]["backend"] == "fake"
    assert bench["extra_info"]["record"] == str(record_file)

    same = pytester.runpytest_subprocess(f"--benchmark-storage={storage}",
                                         "--benchmark-compare=0001",
                                         "--benchmark-compare-fail=median:300%")
    assert same.ret == 0, same.stdout.str()

    set_fake_speed(project, 10.0)
    slow = pytester.runpytest_subprocess(f"--benchmark-storage={storage}",
                                         "--benchmark-compare=0001",
                                         "--benchmark-compare-fail=median:100%")
    assert slow.ret != 0
    assert "Performance has regressed" in slow.stderr.str()
    slow.stdout.fnmatch_lines(["test_decode_speed (NOW) *"])


def test_a_failing_run_fails_the_test_with_its_message(project, pytester):
    pytester.makepyfile("""
        def test_crash(sllm_bench):
            sllm_bench.speed(model="fake-raise", backend="fake", prompt_tokens=8,
                             gen_tokens=16, reps=2)
    """)
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*sllm-bench run failed: *injected failure*"])


def test_benchmark_skip_skips_before_running(project, pytester):
    pytester.makepyfile(test_perf=PERF_TEST)
    result = pytester.runpytest("--benchmark-skip")
    result.assert_outcomes(skipped=1)

