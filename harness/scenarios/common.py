"""Helpers the quality scenarios share (perplexity, multiple choice, exact match, parity)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from harness.backends.base import Backend, ScoreRequest, ScoreResult

Progress = Callable[[int], None] | None


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
