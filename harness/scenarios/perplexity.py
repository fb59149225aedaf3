"""Perplexity of long texts, as lm-evaluation-harness and as llama.cpp's perplexity tool.

Each document (item {"text"}) is tokenized once, without special tokens, then cut into
windows, each a ScoreRequest(context, continuation) whose continuation tokens are scored.
The backend evaluates len(context) + len(continuation) - 1 positions per window (the last
token is only predicted), which is `context_tokens` at most in both modes.

mode "rolling" (lm-evaluation-harness's loglikelihood_rolling, generalised by `stride`):
  every token of the text is scored exactly once. The first window predicts the first
  `context_tokens` tokens from the BOS token (lm-evaluation-harness uses its prefix token
  there; a model whose tokenizer adds no BOS has its first text token used as the
  context, unscored). Each later window predicts the next `stride` tokens (default
  context_tokens: disjoint windows, lm-evaluation-harness's setting) with the
  context_tokens - stride + 1 preceding tokens as context; the last window is shorter.
mode "llama_cpp" (llama-perplexity -c context_tokens): the token stream is [BOS] + text
  tokens, cut into floor(len / context_tokens) non-overlapping chunks, the first token of
  each chunk replaced by BOS (when the model has one), and only the tokens at positions
  scored_from + 1 .. context_tokens - 1 of each chunk scored (scored_from defaults to
  context_tokens // 2: the second half, context_tokens - scored_from - 1 tokens a chunk).

Metrics (sum_lp = summed log-probability of the scored tokens, natural log):
  token_perplexity = exp(-sum_lp / scored tokens)
  word_perplexity  = exp(-sum_lp / words), words = len(re.split(r"\\s+", text))
  byte_perplexity  = exp(-sum_lp / bytes), bytes = len(text.encode("utf-8"))
  bits_per_byte    = -sum_lp / bytes / ln 2
(words and bytes summed over documents, as lm-evaluation-harness's weighted perplexity).
Word and byte metrics need every token scored, so they are reported in rolling mode only
and only when `limit` did not cut the windows. Raw per-window samples window_nll (nats)
and window_tokens, and the counts text_words / text_bytes, let anyone recompute them;
window_document (the item each window came from, when there are several) lets the
verdict's bound treat documents, not windows, as independent.
`limit` caps the number of windows (like llama-perplexity --chunks).
"""

from __future__ import annotations

import math
import re

from harness.backends.base import Backend, ScoreRequest
from harness.records import Measurement
from harness.scenarios.common import Progress, bos_ids, chunks, score_checked


def rolling_windows(tokens: list[int], prefix: list[int], context_tokens: int,
                    stride: int | None = None) -> list[ScoreRequest]:
    """lm-evaluation-harness's get_rolling_token_windows + make_disjoint_window, with
    max_seq_len = context_tokens and pred_len = stride (its context_len = 1 is
    stride = context_tokens). Without a prefix token the first text token becomes it."""
    if not prefix:
        prefix, tokens = tokens[:1], tokens[1:]
    stride = stride or context_tokens
    n = len(tokens)
    if n == 0:
        return []
    first = min(context_tokens, n)
    windows = [ScoreRequest(tuple(prefix[-1:]), tuple(tokens[:first]))]
    done = first
    while done < n:
        pred = min(n - done, stride)
        end = done + pred
        start = max(0, end - context_tokens - 1)
        windows.append(ScoreRequest(tuple(tokens[start: end - pred]),
                                    tuple(tokens[end - pred: end])))
        done = end
    return windows


def llama_cpp_windows(tokens: list[int], bos: list[int], context_tokens: int,
                      scored_from: int | None = None) -> list[ScoreRequest]:
    """llama-perplexity's chunks (see the module docstring)."""
    first = context_tokens // 2 if scored_from is None else scored_from
    stream = list(bos) + list(tokens)
    windows = []
    for i in range(len(stream) // context_tokens):
        chunk = stream[i * context_tokens: (i + 1) * context_tokens]
        if bos:
            chunk[0] = bos[0]
        windows.append(ScoreRequest(tuple(chunk[: first + 1]), tuple(chunk[first + 1:]),
                                    whole=True))
    return windows


def count_words(text: str) -> int:
    return len(re.split(r"\s+", text))


def count_bytes(text: str) -> int:
    return len(text.encode("utf-8"))


def run(backend: Backend, *, task: dict, items: list, on_repetition: Progress = None
        ) -> list[Measurement]:
    mode, n_ctx = task.get("mode", "rolling"), int(task["context_tokens"])
    bos = bos_ids(backend)
    windows: list[ScoreRequest] = []
    documents: list[int] = []  # the item each window was cut from
    for number, item in enumerate(items):
        ids = backend.tokenize(item["text"], add_special=False)
        if mode == "rolling":
            doc = rolling_windows(ids, bos, n_ctx, task.get("stride"))
        elif mode == "llama_cpp":
            doc = llama_cpp_windows(ids, bos, n_ctx, task.get("scored_from"))
            if not doc:
                raise ValueError(f"a text of {len(ids) + len(bos)} tokens is shorter than "
                                 f"one chunk of context_tokens={n_ctx}")
        else:
            raise ValueError(f"unknown perplexity mode {mode!r} (rolling, llama_cpp)")
        windows += doc
        documents += [number] * len(doc)
    limit = task.get("limit")
    complete = limit is None or limit >= len(windows)
    windows = windows[:limit] if limit else windows
    documents = documents[: len(windows)]
    if not windows:
        raise ValueError("the text is too short to score a single token")

    nll: list[float] = []
    done = 0
    for batch in chunks(windows, int(task.get("windows_per_call", 1))):
        nll.extend(-res.logprob for res in score_checked(backend, list(batch)))
        done += len(batch)
        if on_repetition:
            on_repetition(done)
    return measurements(nll, [len(w.continuation) for w in windows],
                        [it["text"] for it in items] if mode == "rolling" and complete else None,
                        documents)


def measurements(window_nll: list[float], window_tokens: list[int],
                 texts: list[str] | None, documents: list[int] | None = None
                 ) -> list[Measurement]:
    """The metrics from per-window NLL and token counts; word/byte metrics when `texts`
    (every document, every token scored) are given; window_document when the windows
    come from more than one document (the verdict's bound then treats documents as the
    unit: harness.measure.bounds.perplexity_bound)."""
    total, n_tok = sum(window_nll), sum(window_tokens)
    out = [Measurement.of("token_perplexity", (math.exp(total / n_tok),))]
    if texts is not None:
        words = sum(count_words(t) for t in texts)
        n_bytes = sum(count_bytes(t) for t in texts)
        out += [
            Measurement.of("word_perplexity", (math.exp(total / words),)),
            Measurement.of("byte_perplexity", (math.exp(total / n_bytes),)),
            Measurement.of("bits_per_byte", (total / n_bytes / math.log(2),)),
            Measurement.of("text_words", (float(words),)),
            Measurement.of("text_bytes", (float(n_bytes),)),
        ]
    out += [Measurement.of("window_nll", tuple(window_nll)),
            Measurement.of("window_tokens", tuple(float(t) for t in window_tokens))]
    if documents and len(set(documents)) > 1:
        out.append(Measurement.of("window_document", tuple(float(d) for d in documents)))
    return out
