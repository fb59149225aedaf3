"""onnxruntime-genai backend: its own generator loop (KV cache, greedy search) on a prepared
ONNX folder (harness.prepare). Generation only: genai 0.18 exposes the last position's
logits, not every position's, so scoring is left to the onnxruntime backend.

Greedy search; with ignore_eos, min_length keeps end-of-sequence from being chosen (as
llama.cpp's ignore_eos does with a logit bias), otherwise generation stops at an
end-of-sequence id, which is not yielded.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence

from harness.backends.base import Backend, LoadRequest
from harness.backends.onnx_common import (check_length, load_onnx_model, precision_of,
                                          session_config_entries)


class OrtGenaiBackend(Backend):
    name = "ort_genai"
    capabilities = frozenset({"generate"})
    artifact = "onnx"
    options = frozenset({"intra_op_spinning"})
    requires = ("onnxruntime_genai",)

    def load(self, request: LoadRequest) -> None:
        """Open the folder with intra-op threads = request.threads, inter-op threads = 1,
        and the session config entries of request.options (see onnx_common)."""
        import onnxruntime_genai as og

        self._og = og
        self._info = load_onnx_model(request.path)
        self._threads = int(request.threads)
        self._n_ctx = int(request.n_ctx)
        config = og.Config(str(self._info.folder))
        config.clear_providers()  # CPU
        self._config_entries = session_config_entries(request.options)
        session_options = {"intra_op_num_threads": self._threads, "inter_op_num_threads": 1,
                           **self._config_entries}
        config.overlay(json.dumps({"model": {"decoder": {"session_options": session_options}},
                                   "search": {"max_length": self._n_ctx}}))
        self._model = og.Model(config)
        self._tokenizer = og.Tokenizer(self._model)
        self._add_special: bool | None = None

    def detokenize(self, ids: Sequence[int]) -> str:
        import numpy as np

        return self._tokenizer.decode(np.asarray(list(ids), dtype=np.int32))

    def tokenize(self, text: str, *, add_special: bool = False) -> list[int]:
        if add_special != self._add_special:
            self._tokenizer.update_options(add_special_tokens="true" if add_special else "false")
            self._add_special = add_special
        return [int(t) for t in self._tokenizer.encode(text)]

    def vocab_size(self) -> int:
        return self._info.vocab_size

    def generate(self, prompt: Sequence[int], max_new_tokens: int, *,
                 ignore_eos: bool = False, depth: Sequence[int] = ()) -> Iterator[int]:
        """Greedy ids from a fresh generator; all work happens inside the iteration."""
        self.require_no_depth(depth)
        check_length(len(prompt), max_new_tokens, self._n_ctx)
        if max_new_tokens < 1:
            return
        og = self._og
        total = len(prompt) + max_new_tokens
        params = og.GeneratorParams(self._model)
        # a sliding-window model's cache must hold at least its window; the loop below
        # stops after max_new_tokens whatever max_length says
        params.set_search_options(do_sample=False, max_length=max(total, self._info.window),
                                  min_length=total if ignore_eos else 0)
        generator = og.Generator(self._model, params)
        generator.append_tokens(list(prompt))
        eos = self._info.eos_ids
        for _ in range(max_new_tokens):
            generator.generate_next_token()
            token = int(generator.get_next_tokens()[0])
            if not ignore_eos and token in eos:
                return
            yield token

    def info(self) -> dict:
        return {"onnxruntime_genai": self._og.__version__, "precision": precision_of(self._info),
                "intra_op_threads": self._threads, "n_ctx": self._n_ctx,
                "session_config": self._config_entries}

    def close(self) -> None:
        self.__dict__.pop("_tokenizer", None)
        self.__dict__.pop("_model", None)
