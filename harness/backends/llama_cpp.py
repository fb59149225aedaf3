"""GGUF through llama-cpp-python (llama.cpp).

Generation uses the library's own generate() loop with a greedy sampler (temperature 0),
starting from an emptied KV cache every call so no prompt prefix is reused between
repetitions. llama.cpp's generate() never stops at end-of-sequence by itself, so
ignore_eos=True simply means "do not stop" (as llama-bench does: an EOS id may be emitted
and generation carries on); with ignore_eos=False an EOS id ends the sequence and, as in
every backend, is not yielded.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

from harness.backends.base import Backend, LoadRequest, ScoreRequest, ScoreResult
from harness.errors import BenchError


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

        Requests sharing a context evaluate it once; each continuation then runs from that
        point of the KV cache (the cache is trimmed back with seq_rm between them). Only
        the positions that predict continuation tokens produce logits. Contexts must be
        non-empty (start them with BOS to score a text's first token).
        """
        from harness.backends.scoring import ScoreAccumulator

        groups: dict[tuple[int, ...], list[int]] = {}
        for i, r in enumerate(requests):
            groups.setdefault(tuple(r.context), []).append(i)
        results: list[ScoreResult | None] = [None] * len(requests)
        ctx = self.llm._ctx
        try:
            for context, indices in groups.items():
                if not context:
                    raise ValueError("score() needs a non-empty context (begin it with BOS)")
                longest = max(len(requests[i].continuation) for i in indices)
                if len(context) + longest > self.llm.n_ctx():
                    raise BenchError(f"context + continuation ({len(context) + longest} "
                                     f"tokens) exceeds n_ctx {self.llm.n_ctx()}")
                ctx.kv_cache_clear()
                last = self._decode(context, 0, len(context) - 1)[-1:].copy()
                for i in indices:
                    cont = list(requests[i].continuation)
                    acc = ScoreAccumulator()
                    if cont:
                        ctx.kv_cache_seq_rm(0, len(context), -1)
                        acc.add(last, cont[:1])
                        if len(cont) > 1:
                            self._decode(cont[:-1], len(context), 0,
                                         lambda rows, at: acc.add(rows, cont[1 + at:1 + at + len(rows)]))
                    results[i] = acc.result()
        finally:
            self.llm.reset()  # generate() must not trust the cache after this
            ctx.kv_cache_clear()
        return results  # type: ignore[return-value]

    def logits(self, tokens: Sequence[int]):
        import numpy as np

        rows: list = []
        self.llm._ctx.kv_cache_clear()
        try:
            self._decode(list(tokens), 0, 0, lambda r, at: rows.append(r.copy()))
        finally:
            self.llm.reset()
            self.llm._ctx.kv_cache_clear()
        return np.concatenate(rows)

    def _decode(self, tokens: Sequence[int], pos0: int, logits_from: int, on_rows=None):
        """Decode tokens at positions pos0.. in n_batch chunks, logits for index >=
        logits_from. Rows go to on_rows(rows, index_of_first_row_from_logits_from) chunk by
        chunk; without on_rows the rows of the last chunk are returned."""
        import numpy as np
        from llama_cpp import llama_cpp as C

        llm = self.llm
        n_batch, n_vocab = llm.n_batch, llm.n_vocab()
        batch = self._batch
        rows = None
        for start in range(0, len(tokens), n_batch):
            chunk = tokens[start:start + n_batch]
            b = batch.batch
            b.n_tokens = len(chunk)
            n_out = 0
            for j, tok in enumerate(chunk):
                b.token[j] = tok
                b.pos[j] = pos0 + start + j
                b.seq_id[j][0] = 0
                b.n_seq_id[j] = 1
                want = start + j >= logits_from
                b.logits[j] = want
                n_out += want
            llm._ctx.decode(batch)
            if n_out:
                rows = np.ctypeslib.as_array(C.llama_get_logits(llm._ctx.ctx),
                                             shape=(n_out, n_vocab))
                if on_rows is not None:
                    on_rows(rows, max(start, logits_from) - logits_from)
        return rows

    def _check_last_logits(self) -> None:
        """NaN check of the prompt's last logits row (once per generation: cheap)."""
        import numpy as np
        from llama_cpp import llama_cpp as C

        from harness.backends.scoring import check_finite

        ptr = C.llama_get_logits_ith(self.llm._ctx.ctx, -1)
        if ptr:
            check_finite(np.ctypeslib.as_array(ptr, shape=(self.llm.n_vocab(),)), "after the prompt")

    @property
    def _batch(self):
        if getattr(self, "_score_batch", None) is None:
            from llama_cpp._internals import LlamaBatch

            self._score_batch = LlamaBatch(n_tokens=self.llm.n_batch, embd=0, n_seq_max=1,
                                           verbose=False)
        return self._score_batch

    def info(self) -> dict:
        from importlib.metadata import version

        return {"llama_cpp_python": version("llama-cpp-python"), "n_ctx": self.llm.n_ctx(),
                "n_threads": self._threads}

    def close(self) -> None:
        if getattr(self, "_score_batch", None) is not None:
            self._score_batch.close()
            self._score_batch = None
        llm = getattr(self, "llm", None)
        if llm is not None:
            llm.close()
            self.llm = None
