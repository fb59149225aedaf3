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

import itertools
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from harness.backends.base import Backend
from harness.records import Measurement
from harness.scenarios.base import Item, PlanContext, ResultContext, Scenario, Work

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


@dataclass(frozen=True)
class SpeedItem(Item):
    """One (prompt, generation, depth) setting, timed `repetitions` times after `warmup`
    untimed ones; `text` is the prompt source's text (prompt_source "text:TASK")."""

    prompt_tokens: int
    gen_tokens: int
    repetitions: int
    warmup: int
    depth: int = 0
    prompt_source: str = "synthetic"
    text: str | None = None


def sweep(models: list[str], backends: list[str], threads: list[int], prompts: list[int],
          gens: list[int], *, repetitions: int, warmup: int, context_size: int,
          depths: list[int] = (0,), source: str = "synthetic", text: str | None = None
          ) -> list[Work]:
    """Speed work ordered model, backend, threads; settings ascending in size (memory
    peaks come last), n_ctx fitting the largest."""
    triples = sorted(itertools.product(prompts, gens, depths),
                     key=lambda s: (s[0] + s[1] + s[2], s))
    items = tuple(SpeedItem(p, g, repetitions, warmup, depth=d, prompt_source=source,
                            text=text) for p, g, d in triples)
    n_ctx = max(context_size, max(p + g + d for p, g, d in triples))
    return [Work(m, b, t, n_ctx, items)
            for m, b, t in itertools.product(models, backends, threads)]


def check_settings(request, models: dict, backends: list[str]) -> None:
    """--depth needs a backend that can generate at a depth; depth + prompt + gen must fit
    the context each model was trained for (read from the model file when it says, else
    harness.models.MAX_CONTEXT)."""
    from harness import backends as reg
    from harness.errors import BenchError
    from harness.models import MAX_CONTEXT, trained_context

    if any(request.depths):
        for b in backends:
            if "depth" not in reg.backend_class(b).capabilities:
                raise BenchError(f"--depth: backend {b!r} cannot generate at a depth "
                                 "(a pre-filled context)")
    need = max(request.depths) + max(request.prompts) + max(request.gens)
    for m in models.values():
        trained = trained_context(m.path, m.spec.format)
        limit = trained or MAX_CONTEXT
        if need > limit:
            what = (f"the {trained} tokens model {m.spec.id!r} was trained for" if trained
                    else f"the {MAX_CONTEXT} tokens any model here can take")
            raise BenchError(f"--prompt/--gen/--depth: depth + prompt + gen = {need} tokens "
                             f"exceeds {what}")


def prompt_text(request) -> str | None:
    """The text of a "text:TASK" prompt source (a perplexity task's documents, joined)."""
    if request.prompt_source == "synthetic":
        return None
    from pathlib import Path

    from harness.data import tasks as task_mod
    from harness.errors import BenchError

    name = request.prompt_source.split(":", 1)[1]
    task = task_mod.prepare(task_mod.load_task(name),
                            data_dir=Path(request.data_dir) if request.data_dir else None)
    if task["task"]["kind"] != "perplexity":
        raise BenchError(f"--prompt-source: {name!r} is not a perplexity task (it has no text)")
    return "\n\n".join(it["text"] for it in task["items"])


class SpeedScenario(Scenario):
    """Items are SpeedItem; the parent adds decode efficiency against the roofline."""

    name = "speed"
    calibrated = True

    def plan(self, ctx: PlanContext) -> list[Work]:
        r = ctx.request
        if not r.speed:
            return []
        check_settings(r, ctx.models, ctx.backends)
        return sweep(list(ctx.models), ctx.backends, ctx.threads, list(r.prompts),
                     list(r.gens), repetitions=r.reps, warmup=r.warmup,
                     context_size=ctx.device.context_size, depths=list(r.depths),
                     source=r.prompt_source, text=prompt_text(r))

    def key(self, item: SpeedItem) -> str:
        depth = f"-d{item.depth}" if item.depth else ""
        text = (f"-{item.prompt_source.replace(':', '_')}"
                if item.prompt_source != "synthetic" else "")
        return f"p{item.prompt_tokens}-g{item.gen_tokens}{depth}{text}"

    def describe(self, job) -> str:
        def one(s: SpeedItem) -> str:
            return f"p{s.prompt_tokens}/g{s.gen_tokens}" + (f"@d{s.depth}" if s.depth else "")
        first = job.items[0]
        source = first.prompt_source if first.prompt_source != "synthetic" else None
        return (", ".join(one(s) for s in job.items)
                + (f" on {source}" if source else "")
                + f" ({first.repetitions} reps + {first.warmup} warm-up, n_ctx {job.n_ctx})")

    def task(self, item: SpeedItem) -> dict:
        return dict(TASK)

    def params(self, item: SpeedItem) -> dict:
        return {"prompt_tokens": item.prompt_tokens, "gen_tokens": item.gen_tokens,
                **({"depth": item.depth} if item.depth else {}),
                **({"prompt_source": item.prompt_source}
                   if item.prompt_source != "synthetic" else {}),
                "repetitions": item.repetitions, "warmup": item.warmup}

    def units(self, item: SpeedItem) -> int:
        return item.repetitions

    def generated_tokens(self, item: SpeedItem) -> int:
        return item.gen_tokens * (item.repetitions + item.warmup)

    def run(self, backend, item: SpeedItem, progress):
        return run(backend, prompt_tokens=item.prompt_tokens, gen_tokens=item.gen_tokens,
                   repetitions=item.repetitions, warmup=item.warmup, depth=item.depth,
                   text=item.text, on_repetition=progress), None

    def on_result(self, item: SpeedItem, measurements, ctx: ResultContext):
        """Decode efficiency: the median decode speed against this host's memory roofline
        for the artifact's size; the bandwidth it was judged against goes into params."""
        decode = next((m for m in measurements if m.metric == "decode_tps"), None)
        if decode is None:
            return [], {}
        import statistics

        from harness.measure.bandwidth import decode_efficiency

        bandwidth = ctx.bandwidth(ctx.threads)
        return ([Measurement.of("decode_efficiency", (
            decode_efficiency(statistics.median(decode.samples), ctx.artifact_bytes,
                              bandwidth["gbps"]),))],
                {"memory_bandwidth": bandwidth})
