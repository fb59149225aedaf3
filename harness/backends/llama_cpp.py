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

from harness.backends.base import Backend, LoadRequest


class LlamaCppBackend(Backend):
    name = "llama_cpp"
    capabilities = frozenset({"generate"})
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

    def vocab_size(self) -> int:
        return self.llm.n_vocab()

    def generate(self, prompt: Sequence[int], max_new_tokens: int, *,
                 ignore_eos: bool = False) -> Iterator[int]:
        llm = self.llm
        llm.reset()
        produced = 0
        for token in llm.generate(prompt, top_k=1, top_p=1.0, min_p=0.0, temp=0.0,
                                  repeat_penalty=1.0, reset=True):
            if not ignore_eos and token == self._eos:
                return  # like the other backends: EOS ends the sequence and is not yielded
            yield token
            produced += 1
            if produced >= max_new_tokens:
                return

    def info(self) -> dict:
        from importlib.metadata import version

        return {"llama_cpp_python": version("llama-cpp-python"), "n_ctx": self.llm.n_ctx(),
                "n_threads": self._threads}

    def close(self) -> None:
        llm = getattr(self, "llm", None)
        if llm is not None:
            llm.close()
            self.llm = None
