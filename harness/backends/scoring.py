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


_POOL = None


def _pool():
    """Threads for row blocks (numpy's ufuncs release the GIL), one per CPU this process
    may use: the model's own threads are idle while its logits are reduced."""
    global _POOL
    if _POOL is None:
        import os
        from concurrent.futures import ThreadPoolExecutor

        n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        _POOL = ThreadPoolExecutor(max_workers=max(1, n or 1))
    return _POOL


class RowStats:
    """log-sum-exp and argmax of every logits row, computed once (a row shared by several
    continuations, such as a question's last context position, is not redone per choice).
    Blocks of rows are reduced in parallel threads when there are several; each block's
    arithmetic is the same either way, so the results are too."""

    def __init__(self, rows: np.ndarray) -> None:
        rows = np.asarray(rows)
        n = len(rows)
        self.rows = rows
        self.lse = np.empty(n, dtype=np.float64)
        self.argmax = np.empty(n, dtype=np.int64)
        starts = range(0, n, ROWS_PER_BLOCK)
        if len(starts) > 1:
            list(_pool().map(self._block, starts))
        else:
            for s in starts:
                self._block(s)

    def _block(self, s: int) -> None:
        block = self.rows[s:s + ROWS_PER_BLOCK].astype(np.float32, copy=False)
        k = len(block)
        top = block.argmax(axis=1)
        peak = block[np.arange(k), top].astype(np.float32)
        shifted = np.subtract(block, peak[:, None], dtype=np.float32)  # a new array
        np.exp(shifted, out=shifted)
        self.argmax[s:s + k] = top
        self.lse[s:s + k] = peak + np.log(shifted.sum(axis=1, dtype=np.float64))

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
