"""GGUF through llama-cpp-python (llama.cpp), driven through its low-level API.

Generation works as llama.cpp's own tools do: the prompt goes to llama_decode (in n_batch
chunks), each token is the greedy pick (the first highest logit) over llama.cpp's logits
row, read in place through a zero-copy numpy view (numpy's argmax in C: about 6 us a
token, where llama.cpp's greedy sampler chain, llama_sampler_sample, spends about 60 us
building a candidate array over the whole vocabulary; the same token either way), and
each new token is one llama_decode of a one-token batch. Per generated token Python does
one decode call, one argmax and hands the id over: no logits are copied out, so the
harness measures llama.cpp, not its own loop. Every
call starts from an emptied KV cache (no prompt prefix reused between repetitions).

`depth` tokens (llama-bench's -d) are evaluated into the cache when generate() is
called, before the returned iterator's first next(): the caller's clock starts after them.
With ignore_eos=True generation never stops early (as llama-bench: an end-of-generation
id may be emitted and generation carries on); otherwise an end-of-generation id
(llama_vocab_is_eog: EOS, EOT, ...) ends the sequence and, as in every backend, is not
yielded.

Model options (models.yaml `options:` or `run --set KEY=VALUE`), defaults as llama-bench's:
  flash_attn     auto | on | off (default auto: llama.cpp decides, on for the CPU)
  n_batch        logical batch of prompt tokens per llama_decode (default 2048)
  n_ubatch       physical batch llama.cpp computes at once (default 512)
  threads_batch  threads for prompt processing (default: the worker's threads)
  use_mmap       map the file instead of reading it (default true)
  extra_bufts    auto | on | off: llama.cpp's extra weight buffers (AMX, repacking); auto
                 keeps llama.cpp's default unless a probe shows its AMX path crashing on
                 this CPU (llama_extra_bufts.py)
All of them, as used, are recorded in backend info.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

from harness.backends.base import Backend, LoadRequest, ScoreRequest, ScoreResult
from harness.errors import BenchError

FLASH_ATTN = {"auto": "LLAMA_FLASH_ATTN_TYPE_AUTO", "on": "LLAMA_FLASH_ATTN_TYPE_ENABLED",
              "off": "LLAMA_FLASH_ATTN_TYPE_DISABLED"}
DEFAULTS = {"flash_attn": "auto", "n_batch": 2048, "n_ubatch": 512, "use_mmap": True,
            "extra_bufts": "auto"}


def tristate(value, name: str = "flash_attn") -> str:
    """"auto", "on" or "off" from an option value (booleans accepted: true = on)."""
    if isinstance(value, bool):
        return "on" if value else "off"
    v = str(value).strip().lower()
    v = {"true": "on", "enabled": "on", "1": "on", "false": "off", "disabled": "off",
         "0": "off"}.get(v, v)
    if v not in ("auto", "on", "off"):
        raise BenchError(f"option {name}: expected auto, on or off, got {value!r}")
    return v


flash_attn_mode = tristate


_LOG_CALLBACK = None
GGML_LOG_LEVEL_ERROR = 4  # ggml's enum: none 0, debug 1, info 2, warn 3, error 4, cont 5


def quiet_llama_log() -> None:
    """llama.cpp's log: errors only (llama-cpp-python's own callback maps ggml's current
    levels onto an older enum and prints warnings and buffer sizes as errors)."""
    global _LOG_CALLBACK
    if _LOG_CALLBACK is not None:
        return
    import ctypes
    import sys

    from llama_cpp import llama_cpp as C

    @C.llama_log_callback
    def errors_only(level, text, _user_data):
        if level == GGML_LOG_LEVEL_ERROR:
            sys.stderr.write(text.decode("utf-8", errors="replace"))

    _LOG_CALLBACK = errors_only  # kept alive: llama.cpp holds the pointer
    C.llama_log_set(errors_only, ctypes.c_void_p(0))


class LlamaCppBackend(Backend):
    name = "llama_cpp"
    capabilities = frozenset({"generate", "score", "logits", "depth"})
    artifact = "gguf"
    requires = ("llama_cpp",)
    options = frozenset({"flash_attn", "n_batch", "n_ubatch", "threads_batch", "use_mmap",
                         "extra_bufts"})

    #: integer options and their ranges
    INT_OPTIONS = {"n_batch": (1, 1 << 20), "n_ubatch": (1, 1 << 20), "threads_batch": (1, 1024)}

    @classmethod
    def check_option(cls, name: str, value) -> None:
        if name in ("flash_attn", "extra_bufts"):
            tristate(value, name)
        elif name in cls.INT_OPTIONS:
            lo, hi = cls.INT_OPTIONS[name]
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise BenchError(f"option {name}: expected a whole number from {lo} to {hi}, "
                                 f"got {value!r}")
        elif name == "use_mmap" and not isinstance(value, bool):
            raise BenchError(f"option use_mmap: expected true or false, got {value!r}")

    def load(self, request: LoadRequest) -> None:
        from llama_cpp import llama_cpp as C
        from llama_cpp._internals import LlamaContext, LlamaModel

        verbose = bool(os.environ.get("SLLM_BENCH_VERBOSE"))
        if not verbose:
            quiet_llama_log()
        opts = {**DEFAULTS, **request.options}
        self.settings = {
            "flash_attn": flash_attn_mode(opts["flash_attn"]),
            "n_batch": int(opts["n_batch"]), "n_ubatch": int(opts["n_ubatch"]),
            "threads": request.threads,
            "threads_batch": int(opts.get("threads_batch") or request.threads),
            "use_mmap": bool(opts["use_mmap"]), "n_ctx": request.n_ctx}
        if not os.path.isfile(request.path):
            raise BenchError("model file not found", path=request.path)
        from harness.backends.llama_extra_bufts import decide

        extra, why = decide(request.path, tristate(opts["extra_bufts"], "extra_bufts"))
        self.settings["extra_bufts"] = "on" if extra else "off"
        self.settings["extra_bufts_why"] = why
        C.llama_backend_init()
        mparams = C.llama_model_default_params()
        mparams.n_gpu_layers = 0
        mparams.use_extra_bufts = extra
        mparams.use_mmap = self.settings["use_mmap"]
        self.model = LlamaModel(path_model=request.path, params=mparams, verbose=verbose)
        cp = C.llama_context_default_params()
        cp.n_ctx = request.n_ctx
        cp.n_batch = self.settings["n_batch"]
        cp.n_ubatch = min(self.settings["n_ubatch"], self.settings["n_batch"])
        cp.n_threads = request.threads
        cp.n_threads_batch = self.settings["threads_batch"]
        cp.flash_attn_type = getattr(C, FLASH_ATTN[self.settings["flash_attn"]])
        cp.no_perf = True
        self._cparams = cp
        self.ctx = LlamaContext(model=self.model, params=cp, verbose=verbose)
        self._n_vocab = self.model.n_vocab()
        self._vocab = C.llama_model_get_vocab(self.model.model)
        self._one = (C.llama_token * 1)()
        self._scorer = None
        #: token ids that end a generation (None: llama.cpp's end-of-generation ids)
        self.stop_ids: frozenset[int] | None = None

    def tokenize(self, text: str, *, add_special: bool = False) -> list[int]:
        return self.model.tokenize(text.encode("utf-8"), add_bos=add_special, special=False)

    def tokenize_special(self, text: str) -> list[int]:
        return self.model.tokenize(text.encode("utf-8"), add_bos=False, special=True)

    def detokenize(self, ids: Sequence[int]) -> str:
        return self.model.detokenize(list(ids), special=False).decode("utf-8", errors="replace")

    def vocab_size(self) -> int:
        return self._n_vocab

    # ------------------------------------------------------------------ generation
    def _decode(self, tokens: Sequence[int]) -> None:
        """Evaluate tokens after what the cache holds, n_batch at a time; logits are kept
        for the last one only."""
        from llama_cpp import llama_cpp as C

        n_batch = self.settings["n_batch"]
        for start in range(0, len(tokens), n_batch):
            chunk = tokens[start: start + n_batch]
            arr = (C.llama_token * len(chunk))(*chunk)
            rc = C.llama_decode(self.ctx.ctx, C.llama_batch_get_one(arr, len(chunk)))
            if rc != 0:
                raise RuntimeError(f"llama_decode failed with code {rc}")

    def generate(self, prompt: Sequence[int], max_new_tokens: int, *,
                 ignore_eos: bool = False, depth: Sequence[int] = ()) -> Iterator[int]:
        from llama_cpp import llama_cpp as C

        if len(depth) + len(prompt) + max_new_tokens > self.settings["n_ctx"]:
            raise BenchError(f"depth + prompt + generated tokens ({len(depth)} + {len(prompt)}"
                             f" + {max_new_tokens}) exceed n_ctx {self.settings['n_ctx']}")
        C.llama_memory_clear(C.llama_get_memory(self.ctx.ctx), True)
        if depth:
            self._decode(list(depth))
        return self._generate(list(prompt), max_new_tokens, ignore_eos)

    def _generate(self, prompt: list[int], max_new_tokens: int, ignore_eos: bool
                  ) -> Iterator[int]:
        from llama_cpp import llama_cpp as C

        import numpy as np

        ctx, one, vocab, n_vocab = self.ctx.ctx, self._one, self._vocab, self._n_vocab
        self._decode(prompt)
        self._check_last_logits()
        decode, logits, get_one = C.llama_decode, C.llama_get_logits_ith, C.llama_batch_get_one
        as_array, shape = np.ctypeslib.as_array, (n_vocab,)
        stop = self.stop_ids
        is_eog = C.llama_vocab_is_eog if stop is None else (lambda _v, t: t in stop)
        for produced in range(1, max_new_tokens + 1):
            token = int(as_array(logits(ctx, -1), shape=shape).argmax())
            if not ignore_eos and is_eog(vocab, token):
                return  # like the other backends: EOS ends the sequence and is not yielded
            yield token
            if produced == max_new_tokens:
                return
            one[0] = token
            rc = decode(ctx, get_one(one, 1))
            if rc != 0:
                raise RuntimeError(f"llama_decode failed with code {rc}")

    def _check_last_logits(self) -> None:
        """NaN check of the prompt's last logits row (once per generation: cheap)."""
        import numpy as np
        from llama_cpp import llama_cpp as C

        from harness.backends.scoring import check_finite

        ptr = C.llama_get_logits_ith(self.ctx.ctx, -1)
        if ptr:
            check_finite(np.ctypeslib.as_array(ptr, shape=(self._n_vocab,)), "after the prompt")

    # ------------------------------------------------------------------ scoring
    def _scoring(self):
        if self._scorer is None:
            from harness.backends.llama_cpp_scoring import LlamaScorer

            self._scorer = LlamaScorer(self.model, self._cparams, self._n_vocab)
        return self._scorer

    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        """Log-likelihoods as llama-perplexity computes them (llama_cpp_scoring.py)."""
        return self._scoring().score(requests)

    def logits(self, tokens: Sequence[int]):
        return self._scoring().logits(tokens)

    def info(self) -> dict:
        from importlib.metadata import version

        return {"llama_cpp_python": version("llama-cpp-python"), **self.settings,
                "n_threads": self.settings["threads"],
                "generation": "llama_decode + greedy argmax over the logits row in place"}

    def close(self) -> None:
        if getattr(self, "_scorer", None) is not None:
            self._scorer.close()
            self._scorer = None
        for name in ("ctx", "model"):
            obj = getattr(self, name, None)
            if obj is not None:
                obj.close()
                setattr(self, name, None)
