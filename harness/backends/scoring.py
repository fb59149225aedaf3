"""Turning logits into a ScoreResult, shared by every backend that scores with numpy.

For continuation tokens t_1..t_n and the logits rows that predict them (row i is the
model's output at the position before t_i): logprob = sum_i log_softmax(row_i)[t_i];
is_greedy = every t_i is its row's argmax. Rows are processed in chunks to bound memory.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from harness.backends.base import ScoreResult

ROWS_PER_CHUNK = 256


def check_finite(row, where: str) -> None:
    """Raise FloatingPointError if a logits row holds NaN (a broken model or kernel)."""
    if np.isnan(np.asarray(row, dtype=np.float32)).any():
        raise FloatingPointError(f"the model produced NaN logits ({where})")


def row_logprobs(rows: np.ndarray, tokens: Sequence[int]) -> tuple[float, bool]:
    """(sum of log-probabilities of `tokens` under `rows`, all greedy?) for one chunk."""
    rows = np.asarray(rows).astype(np.float32, copy=False)
    toks = np.asarray(tokens, dtype=np.int64)
    peak = rows.max(axis=1, keepdims=True)
    lse = peak[:, 0] + np.log(np.exp(rows - peak).sum(axis=1, dtype=np.float64))
    total = float((rows[np.arange(len(toks)), toks] - lse).sum())
    if total != total:
        check_finite(rows, "while scoring")
        raise FloatingPointError("scoring gave a NaN log-probability")
    return total, bool((rows.argmax(axis=1) == toks).all())


class ScoreAccumulator:
    """Adds up chunks of (rows, tokens) into one ScoreResult."""

    def __init__(self) -> None:
        self.logprob, self.greedy, self.n = 0.0, True, 0

    def add(self, rows: np.ndarray, tokens: Sequence[int]) -> None:
        for start in range(0, len(tokens), ROWS_PER_CHUNK):
            lp, g = row_logprobs(rows[start:start + ROWS_PER_CHUNK],
                                 tokens[start:start + ROWS_PER_CHUNK])
            self.logprob += lp
            self.greedy = self.greedy and g
        self.n += len(tokens)

    def result(self) -> ScoreResult:
        return ScoreResult(logprob=self.logprob, is_greedy=self.greedy, n_tokens=self.n)


def score_rows(logits: np.ndarray, tokens: Sequence[int]) -> ScoreResult:
    """ScoreResult of `tokens` given the logits rows that predict them (one row each)."""
    acc = ScoreAccumulator()
    acc.add(logits, tokens)
    return acc.result()
