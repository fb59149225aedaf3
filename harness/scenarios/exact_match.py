"""Short-answer tasks: greedy generation scored by exact match.

Each prepared item is {"prompt", "answers"}. The prompt is tokenized (BOS in front when
the task sets add_bos) and generated from greedily, up to max_new_tokens, stopping at
end-of-sequence or as soon as the decoded text contains a stop string; the text is cut
at the first stop string and stripped of surrounding whitespace.

exact_match: a per-item 0/1 sample, 1 when that text equals one of the answers (both
stripped; lower-cased with ignore_case; punctuation removed with ignore_punctuation).

Needs the backend's detokenize(ids) -> str (special tokens dropped); a backend without a
callable one gets a clear NotImplementedError instead of a half-run task.
"""

from __future__ import annotations

import string

from harness.backends.base import Backend
from harness.records import Measurement
from harness.scenarios.common import Progress, bos_ids

_PUNCT = str.maketrans("", "", string.punctuation)


def require_detokenize(backend: Backend):
    detok = getattr(backend, "detokenize", None)
    if not callable(detok):
        raise NotImplementedError(f"backend {backend.name!r} has no detokenize(ids) -> str "
                                  f"method, which exact-match tasks need")
    return detok


def cut_at_stop(text: str, stops: list[str]) -> tuple[str, bool]:
    """text up to the earliest stop string, and whether one was found."""
    cuts = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    return (text[: min(cuts)], True) if cuts else (text, False)


def normalize(text: str, *, ignore_case: bool, ignore_punctuation: bool) -> str:
    text = text.strip()
    if ignore_case:
        text = text.lower()
    if ignore_punctuation:
        text = text.translate(_PUNCT).strip()
    return text


def generate_answer(backend: Backend, prompt_ids: list[int], max_new_tokens: int,
                    stops: list[str]) -> str:
    """Greedy text until a stop string, end-of-sequence or max_new_tokens."""
    detok = require_detokenize(backend)
    out: list[int] = []
    text = ""
    for token in backend.generate(prompt_ids, max_new_tokens):
        out.append(token)
        text, stopped = cut_at_stop(detok(out), stops)
        if stopped:
            break
    return text


def run(backend: Backend, *, task: dict, items: list, on_repetition: Progress = None
        ) -> list[Measurement]:
    require_detokenize(backend)
    bos = bos_ids(backend) if task.get("add_bos") else []
    opts = {"ignore_case": bool(task.get("ignore_case")),
            "ignore_punctuation": bool(task.get("ignore_punctuation"))}
    stops = list(task.get("stop", ["\n"]))
    scores = []
    for i, item in enumerate(items, 1):
        ids = bos + backend.tokenize(item["prompt"], add_special=False)
        text = generate_answer(backend, ids, int(task.get("max_new_tokens", 32)), stops)
        answers = {normalize(a, **opts) for a in item["answers"]}
        scores.append(float(normalize(text, **opts) in answers))
        if on_repetition:
            on_repetition(i)
    return [Measurement("exact_match", "fraction", True, tuple(scores))]
