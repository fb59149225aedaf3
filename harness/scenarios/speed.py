"""Speed scenario: fixed-length synthetic prompts, greedy decoding, EOS ignored.

Every repetition does the same work (as llama-bench does): a prompt of `prompt_tokens`
synthetic token ids (seeded, drawn from the middle of the vocabulary to avoid special
tokens), then `gen_tokens` generated tokens with end-of-sequence ignored. `warmup`
untimed repetitions come first. A timestamp is taken when each token id arrives.

Metrics per repetition (raw samples kept):
- ttft_ms: from the call that hands the prompt over to the first generated token id.
- prefill_tps: prompt_tokens / TTFT (prompt processing plus the first token's sampling).
- decode_tps: (n - 1) / (time of the n-th token - time of the first token).
- itl_ms: every gap between consecutive tokens (pooled over repetitions; p50/p90/p99).
- e2e_ms: from the call to the last token.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from harness.backends.base import Backend
from harness.records import Measurement
from harness.scenarios.base import Scenario

PROMPT_SEED = 1234
TASK = {"name": "speed", "version": 1, "kind": "speed"}


def synthetic_prompt(vocab_size: int, n_tokens: int, seed: int = PROMPT_SEED) -> list[int]:
    """n_tokens ids drawn uniformly from the middle 80% of the vocabulary, seeded."""
    lo, hi = vocab_size // 10, max(vocab_size // 10 + 1, vocab_size * 9 // 10)
    rng = random.Random(seed * 1_000_003 + n_tokens)
    return [rng.randrange(lo, hi) for _ in range(n_tokens)]


def time_generation(backend: Backend, prompt: list[int], gen_tokens: int) -> list[float]:
    """Return [t_call, t_token1, ..., t_tokenN] in perf_counter seconds."""
    stamps = [time.perf_counter()]
    for _ in backend.generate(prompt, gen_tokens, ignore_eos=True):
        stamps.append(time.perf_counter())
    return stamps


def run(backend: Backend, *, prompt_tokens: int, gen_tokens: int, repetitions: int,
        warmup: int = 1, on_repetition: Callable[[int], None] | None = None
        ) -> list[Measurement]:
    if gen_tokens < 2:
        raise ValueError("gen_tokens must be at least 2 to measure decode speed")
    prompt = synthetic_prompt(backend.vocab_size(), prompt_tokens)
    for _ in range(warmup):
        time_generation(backend, prompt, gen_tokens)
    ttft, prefill, decode, itl, e2e = [], [], [], [], []
    for rep in range(repetitions):
        stamps = time_generation(backend, prompt, gen_tokens)
        n = len(stamps) - 1
        if n != gen_tokens:
            raise RuntimeError(f"backend produced {n} tokens, expected {gen_tokens}")
        first = stamps[1] - stamps[0]
        ttft.append(first * 1e3)
        prefill.append(prompt_tokens / first)
        decode.append((n - 1) / (stamps[-1] - stamps[1]))
        itl.extend((b - a) * 1e3 for a, b in zip(stamps[1:], stamps[2:]))
        e2e.append((stamps[-1] - stamps[0]) * 1e3)
        if on_repetition:
            on_repetition(rep + 1)
    return [
        Measurement("ttft_ms", "ms", False, tuple(ttft)),
        Measurement("prefill_tps", "tokens/s", True, tuple(prefill)),
        Measurement("decode_tps", "tokens/s", True, tuple(decode)),
        Measurement("itl_ms", "ms", False, tuple(itl)),
        Measurement("e2e_ms", "ms", False, tuple(e2e)),
    ]


class SpeedScenario(Scenario):
    """Items are {"prompt_tokens", "gen_tokens"}; shared holds repetitions and warmup."""

    name = "speed"

    def key(self, item: dict) -> str:
        return f"p{item['prompt_tokens']}-g{item['gen_tokens']}"

    def describe(self, job) -> str:
        return (", ".join(f"p{s['prompt_tokens']}/g{s['gen_tokens']}" for s in job.items)
                + f" ({job.shared['repetitions']} reps + {job.shared['warmup']} warm-up, "
                  f"n_ctx {job.n_ctx})")

    def task(self, item: dict) -> dict:
        return dict(TASK)

    def params(self, item: dict, shared: dict) -> dict:
        return {**item, **shared}

    def units(self, item: dict, shared: dict) -> int:
        return shared.get("repetitions", 1)

    def run(self, backend, item, shared, progress):
        return run(backend, **shared, **item, on_repetition=progress), None
