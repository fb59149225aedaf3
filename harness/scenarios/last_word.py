"""Last-word prediction, as lm-evaluation-harness's lambada_openai.

Each prepared item is {"context", "target"} (the passage without its last word, and
" " + that word). The pair is split into tokens as multiple choice does
(multiple_choice.encode_pair) and the target's tokens are scored after the context.

Metrics:
  acc               per-item 0/1 sample, 1 when greedy decoding produces the target:
                    every target token is the argmax at its position (lm-evaluation-
                    harness's is_greedy)
  target_logprob    per-item log-likelihood of the target (natural log, summed over its
                    tokens)
  target_perplexity exp(-mean target_logprob): lm-evaluation-harness's "perplexity"
                    aggregation for loglikelihood tasks (per passage, not per token)
"""

from __future__ import annotations

import math

from harness.backends.base import Backend, ScoreRequest
from harness.records import Measurement
from harness.scenarios.common import Progress, bos_ids, chunks, score_checked
from harness.scenarios.multiple_choice import encode_pair


def run(backend: Backend, *, task: dict, items: list, on_repetition: Progress = None
        ) -> list[Measurement]:
    bos = bos_ids(backend) if task.get("add_bos") else []
    acc, lps = [], []
    done = 0
    for group in chunks(items, int(task.get("items_per_call", 16))):
        reqs = [ScoreRequest(*map(tuple, encode_pair(backend, it["context"], it["target"], bos)))
                for it in group]
        for res in score_checked(backend, reqs):
            acc.append(float(res.is_greedy))
            lps.append(res.logprob)
        done += len(group)
        if on_repetition:
            on_repetition(done)
    return [Measurement.of("acc", tuple(acc)),
            Measurement.of("target_logprob", tuple(lps)),
            Measurement.of("target_perplexity", (math.exp(-sum(lps) / len(lps)),))]
