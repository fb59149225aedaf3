"""A deterministic fake backend for the test suite (listed only when
SLLM_BENCH_TEST_BACKENDS is set). It tokenizes bytes, "generates" a fixed function of the
prompt, sleeps to imitate compute, and can inject faults, chosen by the model's options:

  prefill_ms_per_token, decode_ms_per_token   simulated compute time
  fault: kill | segfault | raise | hang | exit | leak | nan    what goes wrong
  fault_after_tokens: N                       ...after N generated tokens in this process
  leak_mb_per_token                           memory kept per token (with fault: leak)
  nondeterministic: true                      outputs vary between processes
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator, Sequence

from harness.backends.base import Backend, LoadRequest, ScoreRequest, ScoreResult

VOCAB = 512


class FakeBackend(Backend):
    name = "fake"
    capabilities = frozenset({"generate", "score", "depth"})
    artifact = "gguf"
    options = frozenset({"prefill_ms_per_token", "decode_ms_per_token", "fault",
                         "fault_after_tokens", "leak_mb_per_token", "nondeterministic",
                         "load_ms"})

    def load(self, request: LoadRequest) -> None:
        if not os.path.isfile(request.path):
            raise FileNotFoundError(request.path)
        self.opts = dict(request.options)
        self.generated = 0
        self._leak: list[bytearray] = []
        self._salt = os.getpid() if self.opts.get("nondeterministic") else 0
        time.sleep(float(self.opts.get("load_ms", 5)) / 1000)

    def tokenize(self, text: str, *, add_special: bool = False) -> list[int]:
        return list(text.encode("utf-8"))

    def detokenize(self, ids: Sequence[int]) -> str:
        return bytes(i for i in ids if i < 256).decode("utf-8", errors="replace")

    def vocab_size(self) -> int:
        return VOCAB

    def _tick(self) -> None:
        self.generated += 1
        after = self.opts.get("fault_after_tokens")
        fault = self.opts.get("fault")
        if fault == "leak":
            self._leak.append(bytearray(int(float(self.opts.get("leak_mb_per_token", 1)) * 2**20)))
        if not fault or after is None or self.generated < int(after):
            return
        if fault == "kill":
            import signal

            os.kill(os.getpid(), signal.SIGKILL)
        elif fault == "segfault":
            import ctypes

            ctypes.string_at(0)
        elif fault == "raise":
            raise RuntimeError("fake backend: injected failure")
        elif fault == "hang":
            time.sleep(3600)
        elif fault == "exit":
            os._exit(3)
        elif fault == "nan":
            from harness.backends.scoring import check_finite

            check_finite([float("nan")], f"after {self.generated} tokens")

    def generate(self, prompt: Sequence[int], max_new_tokens: int, *,
                 ignore_eos: bool = False, depth: Sequence[int] = ()) -> Iterator[int]:
        time.sleep(len(depth) * float(self.opts.get("prefill_ms_per_token", 0.01)) / 1000)
        return self._generate(prompt, max_new_tokens)

    def _generate(self, prompt: Sequence[int], max_new_tokens: int) -> Iterator[int]:
        state = (sum(prompt) + self._salt) % VOCAB
        time.sleep(len(prompt) * float(self.opts.get("prefill_ms_per_token", 0.01)) / 1000)
        for i in range(max_new_tokens):
            if i:
                time.sleep(float(self.opts.get("decode_ms_per_token", 0.2)) / 1000)
            state = (state * 31 + 7 + i) % VOCAB
            self._tick()
            yield state

    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        if self.opts.get("fault") == "nan":
            import numpy as np

            from harness.backends.scoring import score_rows

            r = requests[0]
            return [score_rows(np.full((len(r.continuation), VOCAB), np.nan), r.continuation)]
        out = []
        for r in requests:
            lp = -sum(((t + len(r.context)) % 7 + 1) * 0.25 for t in r.continuation)
            out.append(ScoreResult(logprob=lp, is_greedy=math.isclose(lp, -0.25 * len(r.continuation)),
                                   n_tokens=len(r.continuation)))
        return out

    def info(self) -> dict:
        affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        return {"fake": True, "affinity": affinity}
