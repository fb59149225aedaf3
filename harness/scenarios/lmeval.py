"""lm-evaluation-harness requests, answered inside a worker (the `[lmeval]` front end,
harness.lmeval, sends them; see there).

An item (LmEvalItem) is a request type (kind), its requests and settings; kind is one of
lm-evaluation-harness's request types and is answered with exactly the code the
harness's own tasks use, so the numbers are the same as `sllm-bench run` on the same
items:
  loglikelihood          [context, continuation] pairs -> [logprob, is_greedy]; pairs
                         sharing a context are scored together as one multiple-choice
                         item (multiple_choice.item_requests: the same token split and
                         shared-prefix handling); with `chat` (contexts rendered with the
                         chat template) special-token markers are parsed
  loglikelihood_rolling  [text] -> summed logprob of every token of the text, in rolling
                         windows of `max_length` tokens (perplexity.rolling_windows)
  generate_until         [context, until, max_gen_toks] -> greedy text cut at the first
                         `until` string (exact_match.generate_answer); `chat` items were
                         rendered with the chat template by the caller and are tokenized
                         with special tokens (exact_match.prompt_ids)
The answers go back in the record details ("results"); there are no measurements.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.backends.base import Backend
from harness.scenarios import exact_match, multiple_choice, perplexity
from harness.scenarios.base import Item, Scenario
from harness.scenarios.common import Progress, bos_ids, chunks, score_checked

GROUPS_PER_CALL = 8


class SpecialTokens:
    """A backend whose tokenize() parses special-token markers (for contexts rendered with
    a chat template); everything else is the backend's own."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def tokenize(self, text: str, *, add_special: bool = False) -> list[int]:
        return (bos_ids(self.backend) if add_special else []) + list(
            self.backend.tokenize_special(text))

    def __getattr__(self, name):
        return getattr(self.backend, name)


def loglikelihood(backend: Backend, requests: list, *, add_bos: bool = False,
                  chat: bool = False, progress: Progress = None) -> list[list]:
    bos = bos_ids(backend) if add_bos else []
    if chat:
        backend = SpecialTokens(backend)
    groups: dict[str, list[int]] = {}
    for i, (context, _) in enumerate(requests):
        groups.setdefault(context, []).append(i)
    out: list = [None] * len(requests)
    done = 0
    for batch in chunks(list(groups.items()), GROUPS_PER_CALL):
        built = []
        for context, idx in batch:
            item = {"context": context, "continuations": [requests[i][1] for i in idx]}
            built.append((idx, *multiple_choice.item_requests(backend, item, bos)))
        results = score_checked(backend, [r for _, reqs, _ in built for r in reqs])
        pos = 0
        for idx, reqs, shared in built:
            res = results[pos: pos + len(reqs)]
            pos += len(reqs)
            common = res[len(idx)] if shared else None
            for k, i in enumerate(idx):
                lp = res[k].logprob + (common.logprob if common else 0.0)
                greedy = res[k].is_greedy and (common.is_greedy if common else True)
                out[i] = [lp, bool(greedy)]
        done += sum(len(idx) for idx, _, _ in built)
        if progress:
            progress(done)
    return out


def loglikelihood_rolling(backend: Backend, requests: list, *, max_length: int,
                          progress: Progress = None) -> list[float]:
    bos = bos_ids(backend)
    out = []
    for i, (text,) in enumerate(requests, 1):
        ids = backend.tokenize(text, add_special=False)
        windows = perplexity.rolling_windows(ids, bos, max_length)
        out.append(sum(r.logprob for w in windows for r in score_checked(backend, [w])))
        if progress:
            progress(i)
    return out


def generate_until(backend: Backend, requests: list, *, add_bos: bool = False,
                   chat: bool = False, progress: Progress = None) -> list[str]:
    task = {"add_bos": add_bos, "chat": chat}
    out = []
    for i, (context, until, max_gen_toks) in enumerate(requests, 1):
        ids = exact_match.prompt_ids(backend, task, context)
        out.append(exact_match.generate_answer(backend, ids, int(max_gen_toks), list(until)))
        if progress:
            progress(i)
    return out


KINDS = {"loglikelihood": loglikelihood, "loglikelihood_rolling": loglikelihood_rolling,
         "generate_until": generate_until}


@dataclass(frozen=True)
class LmEvalItem(Item):
    """Requests of one lm-evaluation-harness request type (`kind`), with its settings
    (add_bos, chat, max_length) as keyword arguments of the answering function."""

    kind: str
    requests: list
    settings: dict


class LmEvalScenario(Scenario):
    name = "lmeval"

    def key(self, item: LmEvalItem) -> str:
        return f"lmeval-{item.kind}"

    def task(self, item: LmEvalItem) -> dict:
        return {"name": f"lmeval-{item.kind}", "kind": item.kind, "version": 1}

    def describe(self, job) -> str:
        return "lm-evaluation-harness requests: " + ", ".join(
            f"{it.kind} ({len(it.requests)})" for it in job.items)

    def units(self, item: LmEvalItem) -> int:
        return len(item.requests)

    def run(self, backend, item: LmEvalItem, progress):
        if item.kind not in KINDS:
            raise ValueError(f"unknown lm-evaluation-harness request type {item.kind!r} "
                             f"(known: {', '.join(KINDS)})")
        return [], {"results": KINDS[item.kind](backend, item.requests, progress=progress,
                                                **item.settings)}
