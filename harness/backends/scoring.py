"""Turning logits into a ScoreResult, shared by every backend that scores with numpy.

For continuation tokens t_1..t_n and the logits rows that predict them (row i is the
model's output at the position before t_i): logprob = sum_i log_softmax(row_i)[t_i];
is_greedy = every t_i is its row's argmax. Rows are processed in blocks to bound memory.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from harness.backends.base import ScoreResult

ROWS_PER_BLOCK = 64


def check_finite(row, where: str) -> None:
    """Raise FloatingPointError if a logits row holds NaN (a broken model or kernel)."""
    if np.isnan(np.asarray(row, dtype=np.float32)).any():
        raise FloatingPointError(f"the model produced NaN logits ({where})")


class RowStats:
    """log-sum-exp and argmax of every logits row, computed once (a row shared by several
    continuations, such as a question's last context position, is not redone per choice)."""

    def __init__(self, rows: np.ndarray) -> None:
        rows = np.asarray(rows)
        n = len(rows)
        self.rows = rows
        self.lse = np.empty(n, dtype=np.float64)
        self.argmax = np.empty(n, dtype=np.int64)
        for s in range(0, n, ROWS_PER_BLOCK):
            block = rows[s:s + ROWS_PER_BLOCK].astype(np.float32)  # a copy: shifted in place
            peak = block.max(axis=1)
            self.argmax[s:s + len(block)] = block.argmax(axis=1)
            block -= peak[:, None]
            np.exp(block, out=block)
            self.lse[s:s + len(block)] = peak + np.log(block.sum(axis=1, dtype=np.float64))

    def pick(self, row_index: Sequence[int], tokens: Sequence[int]) -> tuple[float, bool]:
        """(sum of log-probabilities of tokens[i] under row row_index[i], all greedy?)."""
        idx = np.asarray(row_index, dtype=np.int64)
        toks = np.asarray(tokens, dtype=np.int64)
        if len(toks) == 0:
            return 0.0, True
        total = float((self.rows[idx, toks].astype(np.float64) - self.lse[idx]).sum())
        if total != total:
            check_finite(self.rows[idx], "while scoring")
            raise FloatingPointError("scoring gave a NaN log-probability")
        return total, bool((self.argmax[idx] == toks).all())


class ScoreAccumulator:
    """Adds up pieces of (log-probability, greedy, token count) into one ScoreResult."""

    def __init__(self) -> None:
        self.logprob, self.greedy, self.n = 0.0, True, 0

    def add_picked(self, stats: RowStats, row_index: Sequence[int], tokens: Sequence[int]
                   ) -> None:
        lp, greedy = stats.pick(row_index, tokens)
        self.logprob += lp
        self.greedy = self.greedy and greedy
        self.n += len(tokens)

    def result(self) -> ScoreResult:
        return ScoreResult(logprob=self.logprob, is_greedy=self.greedy, n_tokens=self.n)


def score_rows(logits: np.ndarray, tokens: Sequence[int]) -> ScoreResult:
    """ScoreResult of `tokens` given the logits rows that predict them (one row each)."""
    acc = ScoreAccumulator()
    acc.add_picked(RowStats(logits), range(len(tokens)), tokens)
    return acc.result()
