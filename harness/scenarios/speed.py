"""Speed scenario: fixed-length prompts, greedy decoding, as llama-bench measures.

Every repetition does the same work (as llama-bench does): a prompt of `prompt_tokens`
synthetic token ids (seeded, drawn from the middle of the vocabulary to avoid special
tokens), then `gen_tokens` generated tokens with end-of-sequence ignored. `warmup`
untimed repetitions come first. A timestamp is taken when each token id arrives.

depth (llama-bench's -d): `depth` tokens fill the context before the prompt, outside the
clock (the backend evaluates them when generate() is called, before the first next()).
prompt_source "text:TASK": the depth and prompt tokens are the first tokens of that
perplexity task's text instead of synthetic ids, and end-of-sequence is honoured (real
text, real stopping): a repetition may then generate fewer than gen_tokens tokens
(gen_tokens_out), and decode speed is over the tokens it did generate (at least 2).

How the figures relate to llama-bench: prefill_tps at depth d is its pp<prompt> @ d,
except that TTFT (and so prefill_tps) also includes sampling the first token; decode_tps
is its tg<gen> @ d, except that it excludes the first token (whose time is in TTFT).

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


def time_generation(backend: Backend, prompt: list[int], gen_tokens: int, *,
                    depth: list[int] = (), ignore_eos: bool = True) -> list[float]:
    """Return [t_call, t_token1, ..., t_tokenN] in perf_counter seconds; the clock starts
    after generate() returns (the depth tokens are in the cache by then)."""
    tokens = backend.generate(prompt, gen_tokens, ignore_eos=ignore_eos,
                              **({"depth": depth} if depth else {}))
    stamps = [time.perf_counter()]
    for _ in tokens:
        stamps.append(time.perf_counter())
    return stamps


def prompt_ids(backend: Backend, prompt_tokens: int, depth: int, text: str | None
               ) -> tuple[list[int], list[int]]:
    """(depth ids, prompt ids): synthetic, or the first tokens of `text`."""
    if text is None:
        return (synthetic_prompt(backend.vocab_size(), depth, PROMPT_SEED + 1) if depth else [],
                synthetic_prompt(backend.vocab_size(), prompt_tokens))
    ids = backend.tokenize(text)
    if len(ids) < depth + prompt_tokens:
        raise ValueError(f"the prompt text has {len(ids)} tokens, fewer than depth + prompt "
                         f"({depth} + {prompt_tokens})")
    return ids[:depth], ids[depth: depth + prompt_tokens]


def run(backend: Backend, *, prompt_tokens: int, gen_tokens: int, repetitions: int,
        warmup: int = 1, depth: int = 0, text: str | None = None,
        on_repetition: Callable[[int], None] | None = None) -> list[Measurement]:
    if gen_tokens < 2:
        raise ValueError("gen_tokens must be at least 2 to measure decode speed")
    before, prompt = prompt_ids(backend, prompt_tokens, depth, text)
    real_text = text is not None
    for _ in range(warmup):
        time_generation(backend, prompt, gen_tokens, depth=before, ignore_eos=not real_text)
    ttft, prefill, decode, itl, e2e, produced = [], [], [], [], [], []
    for rep in range(repetitions):
        stamps = time_generation(backend, prompt, gen_tokens, depth=before,
                                 ignore_eos=not real_text)
        n = len(stamps) - 1
        if n != gen_tokens and not (real_text and n >= 2):
            raise RuntimeError(f"backend produced {n} tokens, expected {gen_tokens}")
        produced.append(float(n))
        first = stamps[1] - stamps[0]
        ttft.append(first * 1e3)
        prefill.append(prompt_tokens / first)
        decode.append((n - 1) / (stamps[-1] - stamps[1]))
        itl.extend((b - a) * 1e3 for a, b in zip(stamps[1:], stamps[2:]))
        e2e.append((stamps[-1] - stamps[0]) * 1e3)
        if on_repetition:
            on_repetition(rep + 1)
    return [
        Measurement.of("ttft_ms", tuple(ttft)),
        Measurement.of("prefill_tps", tuple(prefill)),
        Measurement.of("decode_tps", tuple(decode)),
        Measurement.of("itl_ms", tuple(itl)),
        Measurement.of("e2e_ms", tuple(e2e)),
    ] + ([Measurement.of("gen_tokens_out", tuple(produced))] if real_text else [])


class SpeedScenario(Scenario):
    """Items are {"prompt_tokens", "gen_tokens"}; shared holds repetitions and warmup."""

    name = "speed"

    def key(self, item: dict) -> str:
        depth = f"-d{item['depth']}" if item.get("depth") else ""
        text = f"-{item['prompt_source'].replace(':', '_')}" if "prompt_source" in item else ""
        return f"p{item['prompt_tokens']}-g{item['gen_tokens']}{depth}{text}"

    def describe(self, job) -> str:
        def one(s: dict) -> str:
            return (f"p{s['prompt_tokens']}/g{s['gen_tokens']}"
                    + (f"@d{s['depth']}" if s.get("depth") else ""))
        source = job.items[0].get("prompt_source") if job.items else None
        return (", ".join(one(s) for s in job.items)
                + (f" on {source}" if source else "")
                + f" ({job.shared['repetitions']} reps + {job.shared['warmup']} warm-up, "
                  f"n_ctx {job.n_ctx})")

    def task(self, item: dict) -> dict:
        return dict(TASK)

    def params(self, item: dict, shared: dict) -> dict:
        return {**{k: v for k, v in item.items() if k != "text"}, **shared}

    def units(self, item: dict, shared: dict) -> int:
        return shared.get("repetitions", 1)

    def generated_tokens(self, item: dict, shared: dict) -> int:
        return item["gen_tokens"] * (shared.get("repetitions", 1) + shared.get("warmup", 0))

    def run(self, backend, item, shared, progress):
        settings = {k: v for k, v in item.items() if k != "prompt_source"}
        return run(backend, **shared, **settings, on_repetition=progress), None
