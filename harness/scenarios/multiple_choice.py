"""Multiple choice by log-likelihood, as lm-evaluation-harness (acc, acc_norm) and as
llama.cpp's perplexity tool scores HellaSwag (acc_per_token).

Each prepared item is {"context", "continuations", "choices", "gold"}. Tokens are split
as lm-evaluation-harness does: trailing whitespace of the context moves to the front of
the continuation, then context_ids = tokenize(context) and each continuation's ids are
tokenize(context + continuation)[len(context_ids):] (with the BOS token in front of both
when the task sets add_bos, as llama.cpp does).

Metrics, each a per-item 0/1 sample (the summary's mean is the accuracy, its sem the
standard error lm-evaluation-harness reports); ties go to the first choice (np.argmax):
  acc           argmax of the summed log-probability of each continuation == gold
  acc_norm      argmax of that sum / len(choice) in characters (the bare choice text,
                without the template's delimiter, as lm-evaluation-harness)
  acc_per_token argmax of the mean log-probability per token == gold, where, as llama.cpp
                does, tokens shared by the start of every choice's sequence are context,
                not part of any choice's mean

All choices of an item go to the backend in one score() call (several items per call,
`items_per_call`), each item's requests adjacent and sharing one context, so a backend can
evaluate that context once. Requests are `whole`: llama-perplexity feeds each ending's
last token too, and llama.cpp's flash-attention rounding depends on the batch's layout.
When every continuation starts with the same tokens, those tokens move into the shared
context and one more request scores them (for acc/acc_norm).
"""

from __future__ import annotations

from harness.backends.base import Backend, ScoreRequest
from harness.records import Measurement
from harness.scenarios.common import Progress, bos_ids, chunks, score_checked


def encode_pair(backend: Backend, context: str, continuation: str, bos: list[int]
                ) -> tuple[list[int], list[int]]:
    """lm-evaluation-harness's _encode_pair (see the module docstring)."""
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces:
        continuation = context[-n_spaces:] + continuation
        context = context[:-n_spaces]
    if not context:
        if not bos:
            raise ValueError("an empty context needs a BOS token, which this model lacks")
        return list(bos), backend.tokenize(continuation, add_special=False)
    ctx = bos + backend.tokenize(context, add_special=False)
    whole = bos + backend.tokenize(context + continuation, add_special=False)
    cont = whole[len(ctx):]
    if not cont:  # the continuation merged into the context's last token
        cont = backend.tokenize(continuation, add_special=False)
    if not cont:
        raise ValueError(f"continuation {continuation!r} has no tokens")
    return ctx, cont


def shared_prefix(seqs: list[list[int]]) -> int:
    """Leading tokens common to every sequence, leaving each at least one token."""
    n = 0
    limit = min(len(s) for s in seqs) - 1
    while n < limit and all(s[n] == seqs[0][n] for s in seqs):
        n += 1
    return n


def item_requests(backend: Backend, item: dict, bos: list[int]
                  ) -> tuple[list[ScoreRequest], int]:
    """Requests for one item: one per choice, then (when the continuations share leading
    tokens) one for the shared part; returns (requests, number of shared tokens)."""
    pairs = [encode_pair(backend, item["context"], c, bos) for c in item["continuations"]]
    ctx = pairs[0][0]
    conts = [cont for _, cont in pairs]
    if any(c != ctx for c, _ in pairs):  # only after whitespace moved differently
        return [ScoreRequest(tuple(c), tuple(t), whole=True) for c, t in pairs], 0
    k = shared_prefix(conts) if len(conts) > 1 else 0
    context = tuple(ctx + conts[0][:k])
    reqs = [ScoreRequest(context, tuple(c[k:]), whole=True) for c in conts]
    if k:
        reqs.append(ScoreRequest(tuple(ctx), tuple(conts[0][:k]), whole=True))
    return reqs, k


def argmax(values: list[float]) -> int:
    best = 0
    for i, v in enumerate(values):
        if v > values[best]:
            best = i
    return best


def run(backend: Backend, *, task: dict, items: list, on_repetition: Progress = None
        ) -> list[Measurement]:
    bos = bos_ids(backend) if task.get("add_bos") else []
    acc, acc_norm, acc_tok = [], [], []
    done = 0
    for group in chunks(items, int(task.get("items_per_call", 8))):
        built = [item_requests(backend, it, bos) for it in group]
        results = score_checked(backend, [r for reqs, _ in built for r in reqs])
        pos = 0
        for item, (reqs, shared) in zip(group, built):
            res = results[pos: pos + len(reqs)]
            pos += len(reqs)
            n = len(item["continuations"])
            rest = [r.logprob for r in res[:n]]
            n_rest = [len(q.continuation) for q in reqs[:n]]
            common = res[n].logprob if shared else 0.0
            full = [lp + common for lp in rest]
            gold = item["gold"]
            acc.append(float(argmax(full) == gold))
            acc_norm.append(float(argmax([lp / max(1, len(c)) for lp, c in
                                          zip(full, item["choices"])]) == gold))
            acc_tok.append(float(argmax([lp / t for lp, t in zip(rest, n_rest)]) == gold))
        done += len(group)
        if on_repetition:
            on_repetition(done)
    return [Measurement.of("acc", tuple(acc)),
            Measurement.of("acc_norm", tuple(acc_norm)),
            Measurement.of("acc_per_token", tuple(acc_tok))]
