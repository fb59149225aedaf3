"""Partial scoring, as lm-evaluation-harness scores WinoGrande: several contexts, one
shared continuation, the continuation's log-likelihood under each context.

Each prepared item is {"contexts": [str, ...], "continuation": str, "gold": int}. Every
(context, continuation) pair is split into tokens as multiple choice does (trailing
whitespace of the context moves into the continuation; continuation ids are
tokenize(context + continuation)[len(context ids):], multiple_choice.encode_pair), so
the continuation's tokens may differ slightly between contexts, exactly as in
lm-evaluation-harness.

acc: per-item 0/1 sample, 1 when the context under which the continuation is most
likely (summed log-probability; ties to the first) is the gold one.
"""

from __future__ import annotations

from harness.backends.base import Backend, ScoreRequest
from harness.records import Measurement
from harness.scenarios.common import Progress, bos_ids, chunks, score_checked
from harness.scenarios.multiple_choice import argmax, encode_pair


def item_requests(backend: Backend, item: dict, bos: list[int]) -> list[ScoreRequest]:
    """One request per context option, the shared continuation scored after each."""
    return [ScoreRequest(*map(tuple, encode_pair(backend, ctx, item["continuation"], bos)))
            for ctx in item["contexts"]]


def run(backend: Backend, *, task: dict, items: list, on_repetition: Progress = None
        ) -> list[Measurement]:
    bos = bos_ids(backend) if task.get("add_bos") else []
    acc = []
    done = 0
    for group in chunks(items, int(task.get("items_per_call", 8))):
        built = [item_requests(backend, it, bos) for it in group]
        results = score_checked(backend, [r for reqs in built for r in reqs])
        pos = 0
        for item, reqs in zip(group, built):
            lps = [r.logprob for r in results[pos: pos + len(reqs)]]
            pos += len(reqs)
            acc.append(float(argmax(lps) == item["gold"]))
        done += len(group)
        if on_repetition:
            on_repetition(done)
    return [Measurement.of("acc", tuple(acc))]
