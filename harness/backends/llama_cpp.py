"""GGUF through llama-cpp-python (llama.cpp).

Generation uses the library's own generate() loop with a greedy sampler (temperature 0),
starting from an emptied KV cache every call so no prompt prefix is reused between
repetitions. llama.cpp's generate() never stops at end-of-sequence by itself, so
ignore_eos=True simply means "do not stop" (as llama-bench does: an EOS id may be emitted
and generation carries on); with ignore_eos=False an EOS id ends the sequence and, as in
every backend, is not yielded.

Model options (models.yaml `options:`): n_batch (default 512), use_mmap (default true),
flash_attn (default false, llama-cpp-python's default; llama.cpp's own tools default to
"auto", which turns it on for CPU; the setting changes float rounding, not the model).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

from harness.backends.base import Backend, LoadRequest, ScoreRequest, ScoreResult
from harness.errors import BenchError

#: limits of one scoring llama_decode call: contexts (questions or perplexity windows),
#: sequences (continuations), tokens fed, and logits rows kept (rows x vocab x 4 bytes:
#: 512 rows of a 49k vocabulary is 100 MB). One context per call is llama-perplexity's
#: HellaSwag layout (at -c 512), so the two compute the same sums in the same order.
SCORE_CONTEXTS = 1
SCORE_SEQS = 64
SCORE_TOKENS = 2048
SCORE_ROWS = 512


def _put(b, j: int, tok: int, pos: int, seqs: Sequence[int], logits: bool) -> None:
    """Token j of llama_batch b: id, position, the sequences it belongs to, logits wanted."""
    b.token[j], b.pos[j], b.n_seq_id[j], b.logits[j] = tok, pos, len(seqs), logits
    for k, s in enumerate(seqs):
        b.seq_id[j][k] = s


class LlamaCppBackend(Backend):
    name = "llama_cpp"
    capabilities = frozenset({"generate", "score", "logits"})
    artifact = "gguf"
    requires = ("llama_cpp",)

    def load(self, request: LoadRequest) -> None:
        from llama_cpp import Llama

        opts = request.options
        self.llm = Llama(
            model_path=request.path,
            n_ctx=request.n_ctx,
            n_threads=request.threads,
            n_threads_batch=request.threads,
            n_batch=int(opts.get("n_batch", 512)),
            use_mmap=bool(opts.get("use_mmap", True)),
            flash_attn=bool(opts.get("flash_attn", False)),
            seed=0,
            verbose=bool(os.environ.get("SLLM_BENCH_VERBOSE")),
        )
        self._eos = self.llm.token_eos()
        self._threads = request.threads

    def tokenize(self, text: str, *, add_special: bool = False) -> list[int]:
        return self.llm.tokenize(text.encode("utf-8"), add_bos=add_special, special=False)

    def detokenize(self, ids: Sequence[int]) -> str:
        return self.llm.detokenize(list(ids)).decode("utf-8", errors="replace")

    def vocab_size(self) -> int:
        return self.llm.n_vocab()

    def generate(self, prompt: Sequence[int], max_new_tokens: int, *,
                 ignore_eos: bool = False) -> Iterator[int]:
        llm = self.llm
        llm.reset()
        produced = 0
        for token in llm.generate(prompt, top_k=1, top_p=1.0, min_p=0.0, temp=0.0,
                                  repeat_penalty=1.0, reset=True):
            if produced == 0:
                self._check_last_logits()
            if not ignore_eos and token == self._eos:
                return  # like the other backends: EOS ends the sequence and is not yielded
            yield token
            produced += 1
            if produced >= max_new_tokens:
                return

    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        """Log-likelihood of each continuation given its context.

        Works as llama-perplexity does: many requests go into one llama_decode call, each
        continuation in its own sequence of a unified KV cache. Requests sharing a context
        evaluate it once, its tokens belonging to all their sequences. Only positions that
        predict continuation tokens produce logits. This needs a context with several
        sequences, which Llama() does not make, so scoring has its own llama.cpp context
        (same model and settings, n_batch = n_ctx), made on first use. Contexts must be
        non-empty (start them with BOS to score a text's first token).
        """
        from harness.backends.packing import pack

        n_ctx = self.llm.n_ctx()
        for r in requests:
            if not r.context:
                raise ValueError("score() needs a non-empty context (begin it with BOS)")
            if len(r.context) + len(r.continuation) - 1 > n_ctx:
                raise BenchError(f"context + continuation ({len(r.context) + len(r.continuation)}"
                                 f" tokens) exceeds n_ctx {n_ctx}")
        results: list[ScoreResult | None] = [None] * len(requests)
        ctx = self._score_ctx
        try:
            for batch in pack(requests, max_tokens=min(SCORE_TOKENS, n_ctx),
                              max_seqs=SCORE_SEQS, max_rows=SCORE_ROWS,
                              max_parts=SCORE_CONTEXTS):
                ctx.kv_cache_clear()
                if batch.n_rows > SCORE_ROWS:  # one long request: bound the logits kept
                    (i,) = batch.parts[0].indices
                    results[i] = self._score_in_slices(ctx, requests[i])
                    continue
                for i, res in self._decode_packed(ctx, batch, requests).items():
                    results[i] = res
        finally:
            ctx.kv_cache_clear()
        return results  # type: ignore[return-value]

    def _decode_packed(self, ctx, batch, requests) -> dict[int, ScoreResult]:
        """One llama_decode of a packed batch; ScoreResult of each request in it."""
        from harness.backends.scoring import RowStats, ScoreAccumulator

        b = self._score_batch_for(ctx).batch
        j = 0
        for part in batch.parts:
            ctx_tokens = requests[part.indices[0]].context
            seqs = range(part.first_seq, part.first_seq + len(part.indices))
            for p, tok in enumerate(ctx_tokens):
                _put(b, j, tok, p, seqs, p == len(ctx_tokens) - 1)
                j += 1
            for s, i in zip(seqs, part.indices):
                for p, tok in enumerate(requests[i].continuation[:-1]):
                    _put(b, j, tok, len(ctx_tokens) + p, (s,), True)
                    j += 1
        if j != batch.n_tokens:
            raise AssertionError("packing and batch disagree")  # a bug, not bad input
        stats = RowStats(self._decode_rows(ctx, b, j, batch.n_rows))
        out: dict[int, ScoreResult] = {}
        for part in batch.parts:
            row = part.first_row
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

    def _score_in_slices(self, ctx, request: ScoreRequest) -> ScoreResult:
        """One request in one sequence, fed SCORE_ROWS tokens per llama_decode (the KV cache
        carries over), so no more than SCORE_ROWS logits rows exist at a time."""
        from harness.backends.scoring import RowStats, ScoreAccumulator

        full = list(request.context) + list(request.continuation)
        first = len(request.context) - 1  # the first position whose logits are needed
        b = self._score_batch_for(ctx).batch
        acc = ScoreAccumulator()
        for start in range(0, len(full) - 1, SCORE_ROWS):
            stop = min(start + SCORE_ROWS, len(full) - 1)
            for j, pos in enumerate(range(start, stop)):
                _put(b, j, full[pos], pos, (0,), pos >= first)
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
                                     shape=(n_rows, self.llm.n_vocab()))

    @property
    def _score_ctx(self):
        """The scoring context: the model's context settings with SCORE_SEQS sequences in
        one unified KV cache and n_batch = n_ctx (llama.cpp still computes in n_ubatch)."""
        if getattr(self, "_scoring", None) is None:
            from llama_cpp._internals import LlamaContext

            src = self.llm.context_params
            params = type(src).from_buffer_copy(src)
            params.n_batch = params.n_ctx
            params.n_seq_max = SCORE_SEQS
            params.kv_unified = True
            self._scoring = LlamaContext(model=self.llm._model, params=params, verbose=False)
        return self._scoring

    def _score_batch_for(self, ctx):
        if getattr(self, "_score_batch", None) is None:
            from llama_cpp._internals import LlamaBatch

            self._score_batch = LlamaBatch(n_tokens=ctx.n_ctx(), embd=0,
                                           n_seq_max=SCORE_SEQS, verbose=False)
        return self._score_batch

    def logits(self, tokens: Sequence[int]):
        """Logits of every position of `tokens` (one sequence, from an empty cache), through
        the scoring context."""
        tokens = list(tokens)
        if not 0 < len(tokens) <= self.llm.n_ctx():
            raise BenchError(f"logits() takes 1 to n_ctx={self.llm.n_ctx()} tokens")
        ctx = self._score_ctx
        b = self._score_batch_for(ctx).batch
        for j, tok in enumerate(tokens):
            _put(b, j, tok, j, (0,), True)
        ctx.kv_cache_clear()
        try:
            return self._decode_rows(ctx, b, len(tokens), len(tokens)).copy()
        finally:
            ctx.kv_cache_clear()

    def _check_last_logits(self) -> None:
        """NaN check of the prompt's last logits row (once per generation: cheap)."""
        import numpy as np
        from llama_cpp import llama_cpp as C

        from harness.backends.scoring import check_finite

        ptr = C.llama_get_logits_ith(self.llm._ctx.ctx, -1)
        if ptr:
            check_finite(np.ctypeslib.as_array(ptr, shape=(self.llm.n_vocab(),)), "after the prompt")

    def info(self) -> dict:
        from importlib.metadata import version

        from llama_cpp import llama_cpp as C

        return {"llama_cpp_python": version("llama-cpp-python"), "n_ctx": self.llm.n_ctx(),
                "n_threads": self._threads, "flash_attn": self.llm.context_params.flash_attn_type
                == C.LLAMA_FLASH_ATTN_TYPE_ENABLED}

    def close(self) -> None:
        if getattr(self, "_score_batch", None) is not None:
            self._score_batch.close()
            self._score_batch = None
        if getattr(self, "_scoring", None) is not None:
            self._scoring.close()
            self._scoring = None
        llm = getattr(self, "llm", None)
        if llm is not None:
            llm.close()
            self.llm = None
