"""Scoring through llama.cpp: log-likelihoods of continuations and logits rows, computed as
llama-perplexity does, on a context of its own with several sequences.

Many requests go into one llama_decode call, each continuation in its own sequence of a
unified KV cache. Requests sharing a context evaluate it once, its tokens belonging to
all their sequences. Only positions that predict continuation tokens produce logits.
Llama's generation context has one sequence, so scoring makes its own (same model and
settings, n_batch = n_ctx) on first use.

Whole windows (perplexity chunks) share nothing, so they get a context of their own on
first use, laid out as llama-perplexity's: one sequence per window, each in a KV cache
stream of its own (kv_unified off), so a window's attention spans its own cells rather
than every window's in the call (same sums, about 3 % less time on WikiText-2).
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.backends.base import ScoreRequest, ScoreResult
from harness.errors import BenchError

#: limits of one scoring llama_decode call: contexts (questions or perplexity windows),
#: sequences (continuations), tokens fed, and logits rows kept (rows x vocab x 4 bytes:
#: 512 rows of a 49k vocabulary is 100 MB). One context per call is llama-perplexity's
#: HellaSwag layout (at -c 512), and keeps each perplexity window in llama.cpp's ubatches
#: of its own (several 511-token windows per call would straddle the 512-token ubatches
#: and change the rounding), so the two compute the same sums in the same order.
SCORE_CONTEXTS = 1
SCORE_SEQS = 64
SCORE_TOKENS = 2048
SCORE_ROWS = 512
#: whole windows (ScoreRequest.whole: llama-perplexity's chunks, n_ubatch tokens each)
#: align with the ubatches, so several go into one call, as llama-perplexity packs
#: n_batch / n_ctx chunks per llama_decode: up to SCORE_WINDOWS of them, and up to
#: SCORE_WINDOW_ROWS logits rows or SCORE_WINDOW_BYTES of logits (4 windows of a 49k
#: vocabulary: 1,020 rows, 200 MB; a 262k vocabulary: one window a call, as before)
SCORE_WINDOWS = 4
SCORE_WINDOW_ROWS = 1024
SCORE_WINDOW_BYTES = 256 * 2**20


def find_riders(requests: Sequence[ScoreRequest]) -> dict[int, tuple]:
    """Requests whose context + continuation is another request's whole context (the
    shared start of a multiple-choice item's endings): {index: that context}. Their
    log-likelihood comes from rows at that context's positions, in the same model call,
    instead of a call of their own that would evaluate their context again."""
    contexts = {r.context for r in requests}
    riders = {}
    for i, r in enumerate(requests):
        if r.continuation:
            host = tuple(r.context) + tuple(r.continuation)
            if host in contexts:
                riders[i] = host
    return riders


def put(b, j: int, tok: int, pos: int, seqs: Sequence[int], logits: bool) -> None:
    """Token j of llama_batch b: id, position, the sequences it belongs to, logits wanted."""
    b.token[j], b.pos[j], b.n_seq_id[j], b.logits[j] = tok, pos, len(seqs), logits
    for k, s in enumerate(seqs):
        b.seq_id[j][k] = s


def _release(held) -> None:
    """Free a (context, batch, ...) the scorer made, batch first; None: nothing."""
    if held is not None:
        held[1].close()
        held[0].close()


class LlamaScorer:
    """Scoring contexts over a loaded llama.cpp model (llama_cpp._internals.LlamaModel),
    made on first use: SCORE_SEQS sequences in one unified KV cache, n_batch = n_ctx
    (llama.cpp still computes in n_ubatch); and one for whole windows (see windows())."""

    def __init__(self, model, context_params, n_vocab: int):
        self.model, self.params = model, context_params
        self.n_ctx = context_params.n_ctx
        self.n_vocab = n_vocab
        self._shared = None  # (context, batch): unified cache, SCORE_SEQS sequences
        self._windows = None  # (context, batch, cells per window)

    def _context(self, n_ctx: int, n_seqs: int, unified: bool):
        from llama_cpp._internals import LlamaBatch, LlamaContext

        params = type(self.params).from_buffer_copy(self.params)
        params.n_ctx = params.n_batch = n_ctx
        params.n_seq_max = n_seqs
        params.kv_unified = unified
        ctx = LlamaContext(model=self.model, params=params, verbose=False)
        return ctx, LlamaBatch(n_tokens=n_ctx, embd=0, n_seq_max=n_seqs, verbose=False)

    def shared(self):
        """(context, batch) for requests that may share contexts: one unified cache."""
        if self._shared is None:
            self._shared = self._context(self.n_ctx, SCORE_SEQS, True)
        return self._shared

    def windows(self, length: int):
        """(context, batch, cells) for whole windows of up to `length` tokens: SCORE_WINDOWS
        sequences, each with a cache stream of its own of `cells` = `length` rounded up to
        256 (llama.cpp's padding), made again only if a longer window comes."""
        cells = -(-length // 256) * 256
        if self._windows is None or self._windows[2] < cells:
            _release(self._windows)
            ctx, batch = self._context(cells * SCORE_WINDOWS, SCORE_WINDOWS, False)
            self._windows = (ctx, batch, cells)
        return self._windows

    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        """Log-likelihood of each continuation given its context (see the module docstring).
        Contexts must be non-empty (start them with BOS to score a text's first token)."""
        from harness.backends.packing import pack

        n_ctx = self.n_ctx
        for r in requests:
            if not r.context:
                raise ValueError("score() needs a non-empty context (begin it with BOS)")
            if len(r.context) + len(r.continuation) - 1 > n_ctx:
                raise BenchError(f"context + continuation ({len(r.context) + len(r.continuation)}"
                                 f" tokens) exceeds n_ctx {n_ctx}")
        results: list[ScoreResult | None] = [None] * len(requests)
        # whole requests that share no context are windows; multiple-choice requests are
        # whole too (llama-perplexity feeds every ending's last token) but share contexts
        windows = (bool(requests) and all(r.whole for r in requests)
                   and len({r.context for r in requests}) == len(requests))
        if windows:
            longest = max(len(r.context) + len(r.continuation) for r in requests)
            ctx, llama_batch, cells = self.windows(longest)
            max_rows = min(SCORE_WINDOW_ROWS, SCORE_WINDOW_BYTES // (4 * self.n_vocab))
            limits = {"max_tokens": SCORE_WINDOWS * cells,
                      "max_seqs": SCORE_WINDOWS, "max_parts": SCORE_WINDOWS}
        else:
            ctx, llama_batch = self.shared()
            max_rows = SCORE_ROWS
            limits = {"max_tokens": min(SCORE_TOKENS, n_ctx), "max_seqs": SCORE_SEQS,
                      "max_parts": SCORE_CONTEXTS}
        b = llama_batch.batch
        riders = {} if windows else find_riders(requests)
        try:
            for batch in pack(requests, max_rows=max_rows, skip=riders, **limits):
                ctx.kv_cache_clear()
                if batch.n_rows > max(SCORE_ROWS, max_rows):  # one long request: bound
                    # the logits kept
                    (i,) = batch.parts[0].indices
                    results[i] = self._score_in_slices(ctx, b, requests[i])
                    continue
                rides = [i for i, host in riders.items()
                         if results[i] is None and len(batch.parts) == 1
                         and host == requests[batch.parts[0].indices[0]].context]
                for i, res in self._decode_packed(ctx, b, batch, requests, rides).items():
                    results[i] = res
            for i in riders:  # a host part too big to carry it: scored on its own
                if results[i] is None:
                    (results[i],) = self.score([requests[i]])
        finally:
            ctx.kv_cache_clear()
        return results  # type: ignore[return-value]

    def _decode_packed(self, ctx, b, batch, requests, rides=()) -> dict[int, ScoreResult]:
        """One llama_decode of a packed batch (into llama_batch b); ScoreResult of each
        request in it, and of each rider in `rides` (its rows are the single part's context
        positions that predict the rider's continuation, ahead of the part's own rows)."""
        from harness.backends.scoring import RowStats, ScoreAccumulator

        ride_rows: set[int] = set()
        for i in rides:
            start = len(requests[i].context) - 1
            ride_rows.update(range(start, start + len(requests[i].continuation)))
        n_ride = len(ride_rows)
        j = 0
        for part in batch.parts:
            ctx_tokens = requests[part.indices[0]].context
            seqs = range(part.first_seq, part.first_seq + len(part.indices))
            for p, tok in enumerate(ctx_tokens):
                put(b, j, tok, p, seqs, p == len(ctx_tokens) - 1 or p in ride_rows)
                j += 1
            for s, i in zip(seqs, part.indices):
                cont = requests[i].continuation
                for p, tok in enumerate(cont[:-1]):
                    put(b, j, tok, len(ctx_tokens) + p, (s,), True)
                    j += 1
                if requests[i].whole and cont:  # fed, never predicting: no logits
                    put(b, j, cont[-1], len(ctx_tokens) + len(cont) - 1, (s,), False)
                    j += 1
        if j != batch.n_tokens:
            raise AssertionError("packing and batch disagree")  # a bug, not bad input
        stats = RowStats(self._decode_rows(ctx, b, j, batch.n_rows + n_ride))
        out: dict[int, ScoreResult] = {}
        row_of = {p: k for k, p in enumerate(sorted(ride_rows))}  # rows in output order
        for i in rides:
            start = len(requests[i].context) - 1
            cont = requests[i].continuation
            acc = ScoreAccumulator()
            acc.add_picked(stats, [row_of[p] for p in range(start, start + len(cont))], cont)
            out[i] = acc.result()
        for part in batch.parts:
            row = part.first_row + n_ride
            shared = row  # the context's last position predicts every first token
            row += 1
            for i in part.indices:
                cont = requests[i].continuation
                acc = ScoreAccumulator()
                if cont:
                    acc.add_picked(stats, [shared], cont[:1])
                    acc.add_picked(stats, range(row, row + len(cont) - 1), cont[1:])
                    row += len(cont) - 1
                out[i] = acc.result()
        return out

    def _score_in_slices(self, ctx, b, request: ScoreRequest) -> ScoreResult:
        """One request in one sequence, fed SCORE_ROWS tokens per llama_decode (the KV cache
        carries over), so no more than SCORE_ROWS logits rows exist at a time."""
        from harness.backends.scoring import RowStats, ScoreAccumulator

        full = list(request.context) + list(request.continuation)
        first = len(request.context) - 1  # the first position whose logits are needed
        acc = ScoreAccumulator()
        for start in range(0, len(full) - 1, SCORE_ROWS):
            stop = min(start + SCORE_ROWS, len(full) - 1)
            for j, pos in enumerate(range(start, stop)):
                put(b, j, full[pos], pos, (0,), pos >= first)
            n_out = max(0, stop - max(start, first))
            rows = self._decode_rows(ctx, b, stop - start, n_out)
            if n_out:
                targets = full[stop - n_out + 1: stop + 1]
                acc.add_picked(RowStats(rows), range(n_out), targets)
        return acc.result()

    def _decode_rows(self, ctx, b, n_tokens: int, n_rows: int):
        """llama_decode of the first n_tokens of batch b; a view of its n_rows logits rows
        (valid until the next decode), None when no logits were asked for."""
        import numpy as np
        from llama_cpp import llama_cpp as C

        b.n_tokens = n_tokens
        rc = C.llama_decode(ctx.ctx, b)
        if rc != 0:
            raise RuntimeError(f"llama_decode failed with code {rc} while scoring")
        if not n_rows:
            return None
        return np.ctypeslib.as_array(C.llama_get_logits(ctx.ctx),
                                     shape=(n_rows, self.n_vocab))

    def logits(self, tokens: Sequence[int]):
        """Logits of every position of `tokens` (one sequence, from an empty cache)."""
        tokens = list(tokens)
        if not 0 < len(tokens) <= self.n_ctx:
            raise BenchError(f"logits() takes 1 to n_ctx={self.n_ctx} tokens")
        ctx, llama_batch = self.shared()
        b = llama_batch.batch
        for j, tok in enumerate(tokens):
            put(b, j, tok, j, (0,), True)
        ctx.kv_cache_clear()
        try:
            return self._decode_rows(ctx, b, len(tokens), len(tokens)).copy()
        finally:
            ctx.kv_cache_clear()

    def close(self) -> None:
        _release(self._shared)
        _release(self._windows)
        self._shared = self._windows = None
