"""Packing score requests into multi-sequence batches (one model call each).

A part is a context with some of the continuations that share it: the context's tokens
are fed once and belong to every continuation's sequence; each continuation then feeds its
tokens but the last (the last is only predicted) in its own sequence. Logits rows are
needed at the context's last position (it predicts every continuation's first token) and
at each fed continuation token. So a part costs

  tokens = len(context) + sum(len(c) - 1),  rows = 1 + sum(len(c) - 1),  seqs = len(cs)

(plus one token per `whole` request: its continuation's last token is fed too, no row).

Parts are packed in request order into batches within max_parts, max_tokens, max_seqs
and max_rows.
A part too big for the limits on its own still gets a batch to itself (a single request
is only bounded by the context size, which the backend checks).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from harness.backends.base import ScoreRequest


@dataclass
class Part:
    indices: list[int]  # request indices, all with the same context
    n_tokens: int
    n_rows: int
    first_seq: int = 0  # set when placed in a batch: sequence ids first_seq.. in order
    first_row: int = 0  # and the first of its logits rows in the batch's output


@dataclass
class Batch:
    parts: list[Part] = field(default_factory=list)
    n_tokens: int = 0
    n_rows: int = 0
    n_seqs: int = 0

    def fits(self, part: Part, max_tokens: int, max_seqs: int, max_rows: int,
             max_parts: int) -> bool:
        return not self.parts or (len(self.parts) < max_parts
                                  and self.n_tokens + part.n_tokens <= max_tokens
                                  and self.n_seqs + len(part.indices) <= max_seqs
                                  and self.n_rows + part.n_rows <= max_rows)

    def add(self, part: Part) -> None:
        part.first_seq, part.first_row = self.n_seqs, self.n_rows
        self.parts.append(part)
        self.n_tokens += part.n_tokens
        self.n_rows += part.n_rows
        self.n_seqs += len(part.indices)


def split_group(requests: Sequence[ScoreRequest], indices: list[int], max_tokens: int,
                max_seqs: int, max_rows: int) -> Iterator[Part]:
    """One context's continuations, cut into parts that fit the limits."""
    n_ctx = len(requests[indices[0]].context)
    part = Part([], n_ctx, 1)
    for i in indices:
        extra = max(0, len(requests[i].continuation) - 1)
        fed = extra + (1 if requests[i].whole and requests[i].continuation else 0)
        if part.indices and (part.n_tokens + fed > max_tokens
                             or len(part.indices) + 1 > max_seqs
                             or part.n_rows + extra > max_rows):
            yield part
            part = Part([], n_ctx, 1)
        part.indices.append(i)
        part.n_tokens += fed
        part.n_rows += extra
    yield part


def pack(requests: Sequence[ScoreRequest], *, max_tokens: int, max_seqs: int,
         max_rows: int, max_parts: int, skip=()) -> Iterator[Batch]:
    """Batches covering every request exactly once (but those in `skip`), at most
    max_parts parts (contexts) in each."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, r in enumerate(requests):
        if i not in skip:
            groups.setdefault(tuple(r.context), []).append(i)
    batch = Batch()
    for indices in groups.values():
        for part in split_group(requests, indices, max_tokens, max_seqs, max_rows):
            if not batch.fits(part, max_tokens, max_seqs, max_rows, max_parts):
                yield batch
                batch = Batch()
            batch.add(part)
    if batch.parts:
        yield batch
