"""Quality scenarios on fake and scripted backends: the math, the token split, the calls."""

import math

import pytest

from conftest import ROOT
from harness.backends.base import Backend, LoadRequest, ScoreRequest, ScoreResult
from harness.backends.fake import FakeBackend
from harness.scenarios import exact_match, multiple_choice, perplexity, quality

BOS = 300


def fake(tmp_path, cls=FakeBackend):
    (tmp_path / "m.bin").write_bytes(b"x")
    b = cls()
    b.load(LoadRequest(path=str(tmp_path / "m.bin"), threads=1, n_ctx=512))
    return b


class BosFake(FakeBackend):
    """The fake backend for a model whose tokenizer adds a BOS token."""

    def tokenize(self, text, *, add_special=False):
        return ([BOS] if add_special else []) + list(text.encode("utf-8"))


def fake_lp(req: ScoreRequest) -> float:
    """FakeBackend's deterministic score, restated."""
    return -sum(((t + len(req.context)) % 7 + 1) * 0.25 for t in req.continuation)


def metrics(ms):
    return {m.metric: m.samples for m in ms}


# ---------------------------------------------------------------- perplexity
def test_rolling_perplexity_by_hand(tmp_path):
    """'hello world' (11 byte tokens, no BOS), windows of 4 tokens, disjoint."""
    b = fake(tmp_path)
    t = list(b"hello world")
    expected_windows = [  # (context, continuation), as lm-evaluation-harness builds them
        ((t[0],), tuple(t[1:5])),              # first window: from the prefix token
        ((t[4],), tuple(t[5:9])),              # then 4 new tokens, 1 token of context
        (tuple(t[6:9]), tuple(t[9:11])),       # last: 2 new tokens, context fills the window
    ]
    task = {"kind": "perplexity", "mode": "rolling", "context_tokens": 4}
    out = metrics(quality.run(b, task=task, items=[{"text": "hello world"}]))
    nll = [-fake_lp(ScoreRequest(c, x)) for c, x in expected_windows]
    total = sum(nll)
    assert out["window_nll"] == pytest.approx(nll)
    assert out["window_tokens"] == (4.0, 4.0, 2.0)
    assert out["token_perplexity"][0] == pytest.approx(math.exp(total / 10))
    assert out["word_perplexity"][0] == pytest.approx(math.exp(total / 2))
    assert out["byte_perplexity"][0] == pytest.approx(math.exp(total / 11))
    assert out["bits_per_byte"][0] == pytest.approx(total / 11 / math.log(2))
    assert out["text_words"] == (2.0,) and out["text_bytes"] == (11.0,)


@pytest.mark.parametrize("n,ctx,stride", [(1, 4, None), (5, 4, None), (37, 8, None),
                                          (37, 8, 3), (64, 16, 16), (100, 10, 1)])
@pytest.mark.parametrize("bos", [[], [BOS]])
def test_rolling_windows_score_every_token_once(n, ctx, stride, bos):
    tokens = list(range(1, n + 1))
    windows = perplexity.rolling_windows(tokens, bos, ctx, stride)
    scored = [t for w in windows for t in w.continuation]
    assert scored == (tokens if bos else tokens[1:])
    for w in windows:
        assert 1 <= len(w.context) and len(w.context) + len(w.continuation) - 1 <= ctx
    # each window's context is exactly the tokens right before its continuation
    stream = bos + tokens if bos else tokens
    for w in windows[1:]:
        i = stream.index(w.continuation[0])
        assert tuple(stream[i - len(w.context): i]) == w.context


def test_llama_cpp_chunks(tmp_path):
    """llama-perplexity: [BOS] + tokens in chunks of 8, first token -> BOS, second half scored."""
    b = fake(tmp_path, BosFake)
    text = "abcdefghijklmnopqrstuvwxyz0123456789ABCD"  # 40 tokens + BOS = 41 -> 5 chunks
    stream = [BOS] + list(text.encode())
    task = {"kind": "perplexity", "mode": "llama_cpp", "context_tokens": 8}
    out = metrics(quality.run(b, task=task, items=[{"text": text}]))
    chunks = [stream[i * 8:(i + 1) * 8] for i in range(5)]
    for c in chunks:
        c[0] = BOS
    expected = [ScoreRequest(tuple(c[:5]), tuple(c[5:])) for c in chunks]
    assert expected[1].context[0] == BOS and expected[1].context[1] == stream[9]
    nll = [-fake_lp(r) for r in expected]
    assert out["window_nll"] == pytest.approx(nll) and out["window_tokens"] == (3.0,) * 5
    assert out["token_perplexity"][0] == pytest.approx(math.exp(sum(nll) / 15))
    assert "word_perplexity" not in out  # half the tokens are not scored


def test_llama_cpp_without_bos_keeps_first_token(tmp_path):
    windows = perplexity.llama_cpp_windows(list(range(10, 30)), [], 8, scored_from=2)
    assert windows[0] == ScoreRequest((10, 11, 12), tuple(range(13, 18)), whole=True)
    assert windows[1].context[0] == 18 and len(windows) == 2


def test_llama_cpp_text_too_short(tmp_path):
    task = {"kind": "perplexity", "mode": "llama_cpp", "context_tokens": 512}
    with pytest.raises(ValueError, match="shorter than one chunk"):
        quality.run(fake(tmp_path), task=task, items=[{"text": "short"}])


def test_limit_caps_windows_and_drops_word_metrics(tmp_path):
    calls = []
    task = {"kind": "perplexity", "mode": "rolling", "context_tokens": 8, "limit": 3,
            "windows_per_call": 2}
    out = metrics(quality.run(fake(tmp_path), task=task, items=[{"text": "x" * 100}],
                              on_repetition=calls.append))
    assert len(out["window_nll"]) == 3 and calls == [2, 3]
    # the whole text's fertility is still known; word and byte perplexity are not
    assert set(out) == {"token_perplexity", "window_nll", "window_tokens", *FERTILITY}


FERTILITY = {"text_tokens", "text_chars", "tokens_per_char", "tokens_per_word"}


def test_fertility_and_decode_characters_per_second(tmp_path):
    text = "한국어 문장 하나, and some English words."
    task = {"kind": "perplexity", "mode": "rolling", "context_tokens": 16}
    out = metrics(quality.run(fake(tmp_path), task=task, items=[{"text": text}]))
    n_bytes = len(text.encode("utf-8"))  # the fake backend's tokens are UTF-8 bytes
    assert out["text_tokens"] == (n_bytes,) and out["text_chars"] == (len(text),)
    assert out["tokens_per_char"][0] == pytest.approx(n_bytes / len(text))
    assert out["tokens_per_word"][0] == pytest.approx(n_bytes / 7)
    assert not any(k.startswith("text_decode") for k in out)
    timed = metrics(quality.run(fake(tmp_path), items=[{"text": text}],
                                task={**task, "decode_tokens": 12, "decode_prompt_tokens": 8,
                                      "decode_repetitions": 2}))
    assert len(timed["text_decode_chars_per_s"]) == 2
    assert all(v > 0 for v in timed["text_decode_tps"])
    # chars/s = chars/token x tokens/s, sample by sample
    for cps, tps, cpt in zip(timed["text_decode_chars_per_s"], timed["text_decode_tps"],
                             timed["text_decode_chars_per_token"]):
        assert cps == pytest.approx(cpt * tps)


def test_perplexity_with_bos_scores_the_first_token(tmp_path):
    task = {"kind": "perplexity", "mode": "rolling", "context_tokens": 16}
    out = metrics(quality.run(fake(tmp_path, BosFake), task=task, items=[{"text": "abc"}]))
    assert out["window_tokens"] == (3.0,)
    assert out["window_nll"][0] == pytest.approx(-fake_lp(ScoreRequest((BOS,), tuple(b"abc"))))


def test_several_documents_add_up(tmp_path):
    task = {"kind": "perplexity", "mode": "rolling", "context_tokens": 4}
    out = metrics(quality.run(fake(tmp_path), task=task,
                              items=[{"text": "one two"}, {"text": "three four five"}]))
    assert out["text_words"] == (5.0,) and out["text_bytes"] == (22.0,)
    assert sum(out["window_tokens"]) == 6 + 14
    # each window names its document, so the verdict's bound can treat documents as units
    assert out["window_document"] == (0.0,) * 2 + (1.0,) * 4


# ---------------------------------------------------------------- multiple choice
class Scripted(Backend):
    """Byte tokenizer; score() looks each continuation's text up in a table and records calls."""

    name = "scripted"
    capabilities = frozenset({"generate", "score"})

    def __init__(self, table=None):
        self.table = table or {}
        self.calls = []

    def load(self, request):
        pass

    def tokenize(self, text, *, add_special=False):
        return ([BOS] if add_special else []) + list(text.encode("utf-8"))

    def vocab_size(self):
        return 512

    def detokenize(self, ids):
        return bytes(i for i in ids if i < 256).decode("utf-8", errors="ignore")

    def generate(self, prompt, max_new_tokens, *, ignore_eos=False):
        yield from ()

    def score(self, requests):
        self.calls.append(list(requests))
        return [ScoreResult(self.table.get(bytes(r.continuation).decode("utf-8"), -1.0), False,
                            len(r.continuation)) for r in requests]


def mc_item(context, choices, gold, template=" {}"):
    return {"context": context, "continuations": [template.format(c) for c in choices],
            "choices": choices, "gold": gold}


@pytest.mark.parametrize("gold,expected", [(2, (1, 0, 0)), (1, (0, 1, 0)), (0, (0, 0, 1))])
def test_acc_acc_norm_acc_per_token_pick_differently(gold, expected):
    # continuations " 가가", " bbbbbbbb", " cc": the shared leading space is context, so
    # the rests have 6, 8 and 2 tokens and 2, 8 and 2 characters.
    b = Scripted({" ": -0.1, "가가": -1.2, "bbbbbbbb": -1.9, "cc": -0.9})
    # sums (with the space): -1.3, -2.0, -1.0 -> acc picks 2
    # per character: -0.65, -0.25, -0.5 -> acc_norm picks 1
    # per token (without the shared space): -0.2, -0.2375, -0.45 -> acc_per_token picks 0
    out = metrics(quality.run(b, task={"kind": "multiple_choice"},
                              items=[mc_item("Q:", ["가가", "bbbbbbbb", "cc"], gold)]))
    assert (out["acc"][0], out["acc_norm"][0], out["acc_per_token"][0]) == expected


def test_shared_leading_tokens_are_context_for_acc_per_token():
    b = Scripted({" xx ": -0.2, "yy": -0.8, "z": -0.5})
    item = mc_item("Q:", ["xx yy", "xx z"], 0)
    reqs, shared = multiple_choice.item_requests(b, item, [])
    assert shared == 4
    ctx = tuple(b"Q: xx ")
    # whole: each ending's last token is fed too, as llama-perplexity feeds it
    assert reqs == [ScoreRequest(ctx, tuple(b"yy"), whole=True),
                    ScoreRequest(ctx, tuple(b"z"), whole=True),
                    ScoreRequest(tuple(b"Q:"), tuple(b" xx "), whole=True)]
    out = metrics(quality.run(b, task={"kind": "multiple_choice"}, items=[item]))
    # per token, llama.cpp style: -0.4 vs -0.5 -> choice 0 (with the shared part it would be 1)
    assert out["acc_per_token"] == (1.0,)
    # summed with the shared part: -1.0 vs -0.7 -> choice 1
    assert out["acc"] == (0.0,)


def test_each_call_sends_an_items_choices_with_one_shared_context():
    b = Scripted()
    items = [mc_item(f"Question {i}:", ["alpha", "beta", "gamma", "delta"], i % 4)
             for i in range(5)]
    progress = []
    quality.run(b, task={"kind": "multiple_choice", "items_per_call": 1}, items=items,
                on_repetition=progress.append)
    assert len(b.calls) == 5 and progress == [1, 2, 3, 4, 5]
    for i, call in enumerate(b.calls):
        ctx = tuple(f"Question {i}: ".encode())  # the shared space moved into the context
        assert [r.context for r in call[:4]] == [ctx] * 4
        assert call[4] == ScoreRequest(tuple(f"Question {i}:".encode()), (32,), whole=True)
    b.calls.clear()
    quality.run(b, task={"kind": "multiple_choice", "items_per_call": 2}, items=items)
    assert [len(c) for c in b.calls] == [10, 10, 5]


def test_trailing_whitespace_moves_to_the_continuation():
    b = Scripted()
    ctx, cont = multiple_choice.encode_pair(b, "답변: ", "예", [])
    assert ctx == list("답변:".encode()) and cont == list(" 예".encode())
    ctx, cont = multiple_choice.encode_pair(b, "Q", " A", [BOS])
    assert ctx == [BOS, ord("Q")] and cont == [ord(" "), ord("A")]


def test_empty_context_needs_bos():
    b = Scripted()
    assert multiple_choice.encode_pair(b, "", "hi", [BOS]) == ([BOS], list(b"hi"))
    with pytest.raises(ValueError, match="empty context needs a BOS"):
        multiple_choice.encode_pair(b, "", "hi", [])


def test_add_bos_puts_bos_first():
    b = Scripted()
    quality.run(b, task={"kind": "multiple_choice", "add_bos": True},
                items=[mc_item("Ctx", ["a", "b"], 0)])
    assert all(r.context[0] == BOS for r in b.calls[0])


def test_ties_go_to_the_first_choice():
    b = Scripted({"a": -1.0, "b": -1.0})
    out = metrics(quality.run(b, task={"kind": "multiple_choice"},
                              items=[mc_item("Q", ["a", "b"], 0), mc_item("Q", ["a", "b"], 1)]))
    assert out["acc"] == (1.0, 0.0)


def test_accuracy_summary_is_mean_and_sem(tmp_path):
    from harness.measure.stats import summarize

    b = Scripted({"right": -0.5, "wrong": -2.0})
    items = [mc_item("Q", ["right", "wrong"], 0)] * 3 + [mc_item("Q", ["right", "wrong"], 1)]
    (acc, *_) = quality.run(b, task={"kind": "multiple_choice"}, items=items)
    s = summarize(acc.samples)
    assert acc.higher_is_better and s["mean"] == 0.75
    assert s["sem"] == pytest.approx(0.5 / math.sqrt(4))  # sample stdev 0.5, n = 4


def test_backend_that_cannot_score(tmp_path):
    class NoScore(Scripted):
        capabilities = frozenset({"generate"})

    with pytest.raises(NotImplementedError, match="cannot score"):
        quality.run(NoScore(), task={"kind": "multiple_choice"},
                    items=[mc_item("Q", ["a", "b"], 0)])


def test_unknown_kind():
    with pytest.raises(ValueError, match="unknown task kind 'ranking'"):
        quality.run(Scripted(), task={"kind": "ranking"}, items=[])


# ---------------------------------------------------------------- exact match
class Talker(Scripted):
    """Generates a canned answer per prompt, byte by byte; detokenize decodes bytes."""

    def __init__(self, answers):
        super().__init__()
        self.answers = answers
        self.prompts = []

    def generate(self, prompt, max_new_tokens, *, ignore_eos=False):
        text = bytes(t for t in prompt if t < 256).decode("utf-8")
        self.prompts.append(list(prompt))
        yield from list(self.answers[text].encode("utf-8"))[:max_new_tokens]


def test_exact_match_stops_and_compares():
    b = Talker({"Q1": " Paris\nQuestion: more", "Q2": " 서울입니다.", "Q3": " paris.",
                "Q4": " 42 and more text that goes on"})
    items = [{"prompt": "Q1", "answers": ["Paris"]}, {"prompt": "Q2", "answers": ["서울입니다"]},
             {"prompt": "Q3", "answers": ["Paris"]}, {"prompt": "Q4", "answers": ["42"]}]
    progress = []
    task = {"kind": "exact_match", "max_new_tokens": 32, "stop": ["\n"]}
    out = metrics(quality.run(b, task=task, items=items, on_repetition=progress.append))
    assert out["exact_match"] == (1.0, 0.0, 0.0, 0.0) and progress == [1, 2, 3, 4]
    task.update(stop=["\n", "."], ignore_case=True, ignore_punctuation=True)
    out = metrics(quality.run(b, task=task, items=items))
    assert out["exact_match"] == (1.0, 1.0, 1.0, 0.0)
    task.update(max_new_tokens=3)  # generation ends after " 42"
    out = metrics(quality.run(b, task=task, items=items[3:]))
    assert out["exact_match"] == (1.0,)


def test_exact_match_add_bos():
    b = Talker({"Q": "A"})
    quality.run(b, task={"kind": "exact_match", "add_bos": True},
                items=[{"prompt": "Q", "answers": ["A"]}])
    assert b.prompts == [[BOS, ord("Q")]]


def test_exact_match_needs_detokenize():
    class Mute(Talker):
        detokenize = None

    with pytest.raises(NotImplementedError, match=r"no detokenize\(ids\) -> str"):
        quality.run(Mute({"Q": "A"}), task={"kind": "exact_match"},
                    items=[{"prompt": "Q", "answers": ["A"]}])


def test_exact_match_on_the_fake_backend(tmp_path):
    out = metrics(quality.run(fake(tmp_path), task={"kind": "exact_match", "max_new_tokens": 4},
                              items=[{"prompt": "Q", "answers": ["A"]}]))
    assert out["exact_match"] == (0.0,)


def test_cut_at_stop():
    assert exact_match.cut_at_stop("ab.cd\nef", ["\n", "."]) == ("ab", True)
    assert exact_match.cut_at_stop("abc", ["\n", ""]) == ("abc", False)


# ---------------------------------------------------------------- Korean end to end
@pytest.fixture
def repo(monkeypatch):
    monkeypatch.setenv("SLLM_BENCH_HOME", str(ROOT))
    return ROOT


def test_korean_perplexity_counts_utf8_bytes(repo, tmp_path):
    from harness.data.tasks import load_task, prepare

    prepared = prepare(load_task("prose_ko"))
    text = prepared["items"][0]["text"]
    hangul = sum("\uac00" <= ch <= "\ud7a3" for ch in text)
    n_bytes = len(text.encode("utf-8"))
    assert hangul > 5000 and n_bytes == 3 * hangul + (len(text) - hangul)  # rest is ASCII
    out = metrics(quality.run(fake(tmp_path), task=prepared["task"], items=prepared["items"]))
    assert out["text_bytes"] == (float(n_bytes),)
    assert out["text_words"] == (float(len(text.split())),)
    # the fake backend's tokens are bytes: every byte but the first is scored
    assert sum(out["window_tokens"]) == n_bytes - 1
    total = sum(out["window_nll"])
    assert out["byte_perplexity"][0] == pytest.approx(math.exp(total / n_bytes))
    assert out["bits_per_byte"][0] == pytest.approx(total / n_bytes / math.log(2))


def test_korean_multiple_choice_end_to_end(repo, tmp_path):
    from harness.data.tasks import load_task, prepare

    prepared = prepare(load_task("mc_ko"), limit=10)
    out = metrics(quality.run(fake(tmp_path), task=prepared["task"], items=prepared["items"]))
    assert len(out["acc"]) == len(out["acc_norm"]) == len(out["acc_per_token"]) == 10
    assert set(out["acc"]) <= {0.0, 1.0}
