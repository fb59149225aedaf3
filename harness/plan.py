"""The sweep: models x backends x threads x (prompt length, generation length) -> jobs.

A job is one worker process: one model through one backend at one thread count, loaded
once, running its settings in ascending size order. The plan is printed before a run
starts (as llama-bench does), so what will run is explicit.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Setting:
    prompt_tokens: int
    gen_tokens: int


@dataclass(frozen=True)
class Job:
    """One worker: a model (id) through a backend at `threads`, running `settings`."""

    index: int
    model_id: str
    backend: str
    threads: int
    n_ctx: int
    settings: tuple[Setting, ...]
    repetitions: int
    warmup: int
    scenario: str = "speed"
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def label(self) -> str:
        return f"{self.model_id} / {self.backend} / {self.threads} thread(s)"


def parse_int_list(text: str, flag: str) -> list[int]:
    """'128,512' -> [128, 512]; every value must be a positive integer."""
    from harness.errors import BenchError

    try:
        values = [int(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise BenchError(f"{flag}: expected comma-separated integers, got {text!r}") from None
    if not values or any(v <= 0 for v in values):
        raise BenchError(f"{flag}: values must be positive integers, got {text!r}")
    return sorted(set(values))


def build(models: list[str], backends: list[str], threads: list[int], prompts: list[int],
          gens: list[int], *, repetitions: int, warmup: int, context_size: int) -> list[Job]:
    """Jobs ordered model, backend, threads; settings ascending so memory peaks last."""
    settings = tuple(Setting(p, g) for p, g in
                     sorted(itertools.product(prompts, gens), key=lambda s: (s[0] + s[1], s)))
    n_ctx = max(context_size, max(p + g for p, g in itertools.product(prompts, gens)))
    jobs = []
    for i, (m, b, t) in enumerate(itertools.product(models, backends, threads)):
        jobs.append(Job(index=i, model_id=m, backend=b, threads=t, n_ctx=n_ctx,
                        settings=settings, repetitions=repetitions, warmup=warmup))
    return jobs


def describe(jobs: list[Job]) -> list[str]:
    """Human-readable plan, one line per job and a total."""
    lines = []
    total = 0
    for j in jobs:
        sets = ", ".join(f"p{s.prompt_tokens}/g{s.gen_tokens}" for s in j.settings)
        runs = len(j.settings) * (j.repetitions + j.warmup)
        total += runs
        lines.append(f"  [{j.index + 1}/{len(jobs)}] {j.label}: {sets} "
                     f"({j.repetitions} reps + {j.warmup} warm-up, n_ctx {j.n_ctx})")
    lines.append(f"  {len(jobs)} worker(s), {sum(len(j.settings) for j in jobs)} setting(s), "
                 f"{total} generation(s)")
    return lines
