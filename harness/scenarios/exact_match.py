"""Short-answer tasks: greedy generation scored by exact match, containment and a regex.

Each prepared item is {"prompt", "answers"}. The prompt is tokenized (BOS in front when
the task sets add_bos) and generated from greedily, up to max_new_tokens, stopping at
end-of-sequence or as soon as the decoded text contains a stop string; the text is cut
at the first stop string and stripped of surrounding whitespace. A chat task's prompt
was rendered with the model's own chat template by the planner (harness.data.chat); its
special-token markers are tokenized as special tokens (Backend.tokenize_special) and the
model's BOS goes first when its tokenizer adds one.

Per-item 0/1 samples, answers and text compared after normalizing both (stripped;
lower-cased with ignore_case; punctuation removed with ignore_punctuation):
  exact_match  the text equals one of the answers
  contains     one of the answers occurs in the text (lenient scoring for chatty models)
  regex_match  with the task's `regex`: its first match in the text (group 1 when the
               pattern has a group) equals one of the answers; no match scores 0

Needs the backend's detokenize(ids) -> str (special tokens dropped); a backend without a
callable one gets a clear NotImplementedError instead of a half-run task.
"""

from __future__ import annotations

import re
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


def regex_extract(text: str, pattern: str) -> str | None:
    """The first match of pattern in text (its group 1 when it has groups), or None."""
    m = re.search(pattern, text)
    if m is None:
        return None
    return m.group(1) if m.re.groups else m.group(0)


def prompt_ids(backend: Backend, task: dict, prompt: str) -> list[int]:
    """Token ids of a prompt: a chat-rendered one with special tokens parsed and the
    model's own BOS, a plain one with BOS only when the task sets add_bos."""
    if task.get("chat"):
        return bos_ids(backend) + list(backend.tokenize_special(prompt))
    bos = bos_ids(backend) if task.get("add_bos") else []
    return bos + backend.tokenize(prompt, add_special=False)


def run(backend: Backend, *, task: dict, items: list, on_repetition: Progress = None
        ) -> list[Measurement]:
    require_detokenize(backend)
    opts = {"ignore_case": bool(task.get("ignore_case")),
            "ignore_punctuation": bool(task.get("ignore_punctuation"))}
    stops = list(task.get("stop", ["\n"]))
    pattern = task.get("regex")
    exact, contains, by_regex = [], [], []
    for i, item in enumerate(items, 1):
        ids = prompt_ids(backend, task, item["prompt"])
        text = generate_answer(backend, ids, int(task.get("max_new_tokens", 32)), stops)
        answers = {normalize(a, **opts) for a in item["answers"]}
        got = normalize(text, **opts)
        exact.append(float(got in answers))
        contains.append(float(any(a and a in got for a in answers)))
        if pattern:
            found = regex_extract(text, pattern)
            by_regex.append(float(found is not None and normalize(found, **opts) in answers))
        if on_repetition:
            on_repetition(i)
    out = [Measurement.of("exact_match", tuple(exact)),
           Measurement.of("contains", tuple(contains))]
    if pattern:
        out.append(Measurement.of("regex_match", tuple(by_regex)))
    return out
