"""Quality scenario: runs a prepared task (harness.tasks.prepare) through a backend.

run(backend, task=..., items=...) dispatches on task["kind"] to perplexity,
multiple_choice or exact_match; each returns Measurements with raw samples (per item or
per window), so summaries (mean, sem) and recomputations come from the record alone.
This module also holds the few helpers the three scenarios share.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from harness.backends.base import Backend, ScoreRequest, ScoreResult
from harness.results import Measurement

Progress = Callable[[int], None] | None


def run(backend: Backend, *, task: dict, items: list, on_repetition: Progress = None
        ) -> list[Measurement]:
    """Measure one prepared task; on_repetition(n) reports items (or windows) done."""
    from harness.scenarios import exact_match, multiple_choice, perplexity

    scenarios = {"perplexity": perplexity, "multiple_choice": multiple_choice,
                 "exact_match": exact_match}
    kind = task.get("kind")
    if kind not in scenarios:
        raise ValueError(f"unknown task kind {kind!r} (known: {', '.join(scenarios)})")
    return scenarios[kind].run(backend, task=task, items=items, on_repetition=on_repetition)


def bos_ids(backend: Backend) -> list[int]:
    """[BOS] when the model's tokenizer adds one (tokenize("", add_special=True)), else []."""
    return list(backend.tokenize("", add_special=True))[:1]


def chunks(seq: Sequence, size: int) -> Iterator[Sequence]:
    for i in range(0, len(seq), size):
        yield seq[i: i + size]


def score_checked(backend: Backend, requests: list[ScoreRequest]) -> list[ScoreResult]:
    """backend.score() with a clear error when the backend cannot score, and a check that
    it answered every request."""
    if "score" not in getattr(backend, "capabilities", frozenset({"score"})):
        raise NotImplementedError(f"backend {backend.name!r} cannot score continuations, "
                                  f"which perplexity and multiple-choice tasks need")
    results = backend.score(requests)
    if len(results) != len(requests):
        raise RuntimeError(f"backend {backend.name!r} returned {len(results)} scores for "
                           f"{len(requests)} requests")
    return results
