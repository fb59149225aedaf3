"""The sweep: models x backends x threads x settings -> jobs, printed before a run starts.

A job is one worker process: one model through one backend at one thread count, loaded
once, running its items in order. Speed items are (prompt length, generation length)
pairs in ascending size, so memory peaks come last; quality items are tasks. Every
item has a stable key, used to name its record file and to resume a run.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Job:
    """One worker: a model (id) through a backend at `threads`, running `items`."""

    index: int
    model_id: str
    backend: str
    threads: int
    n_ctx: int
    items: tuple[dict, ...]
    scenario: str = "speed"
    shared: dict = field(default_factory=dict, compare=False)

    @property
    def label(self) -> str:
        return f"{self.model_id} / {self.backend} / {self.threads} thread(s)"

    def item_key(self, i: int) -> str:
        """Stable name of item i's record: backend, model, threads and the setting or task."""
        item = self.items[i]
        what = (f"p{item['prompt_tokens']}-g{item['gen_tokens']}" if self.scenario == "speed"
                else item["task"]["name"])
        return f"{self.backend}-{self.model_id}-t{self.threads}-{what}"


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
    """Speed jobs ordered model, backend, threads; settings ascending in size."""
    pairs = sorted(itertools.product(prompts, gens), key=lambda s: (s[0] + s[1], s))
    items = tuple({"prompt_tokens": p, "gen_tokens": g} for p, g in pairs)
    n_ctx = max(context_size, max(p + g for p, g in pairs))
    shared = {"repetitions": repetitions, "warmup": warmup}
    return [Job(index=i, model_id=m, backend=b, threads=t, n_ctx=n_ctx, items=items,
                shared=shared)
            for i, (m, b, t) in enumerate(itertools.product(models, backends, threads))]


def build_quality(models: list[str], backends: list[str], threads: int, tasks: list[dict],
                  *, context_size: int, start: int = 0) -> list[Job]:
    """One quality job per model and backend, running every prepared task."""
    return [Job(index=start + i, model_id=m, backend=b, threads=threads, n_ctx=context_size,
                items=tuple(tasks), scenario="quality")
            for i, (m, b) in enumerate(itertools.product(models, backends))]


def build_reliability(models: list[str], backends: list[str], threads: int, items: list[dict],
                      *, context_size: int, start: int = 0, workers: int = 1) -> list[Job]:
    """Reliability jobs; `workers` copies of each (determinism compares two processes)."""
    jobs = []
    for m, b in itertools.product(models, backends):
        for w in range(workers):
            jobs.append(Job(index=start + len(jobs), model_id=m, backend=b, threads=threads,
                            n_ctx=context_size, scenario="reliability",
                            items=tuple({**it, "task": {**it["task"],
                                                        "name": f"{it['task']['name']}-w{w + 1}"}}
                                        if workers > 1 else it for it in items)))
    return jobs


def describe(jobs: list[Job]) -> list[str]:
    """Human-readable plan, one line per job and a total."""
    lines = []
    for j in jobs:
        if j.scenario == "speed":
            what = ", ".join(f"p{s['prompt_tokens']}/g{s['gen_tokens']}" for s in j.items)
            what += (f" ({j.shared['repetitions']} reps + {j.shared['warmup']} warm-up, "
                     f"n_ctx {j.n_ctx})")
        elif j.scenario == "quality":
            what = "quality: " + ", ".join(f"{t['task']['name']} ({t['task']['n_items']} items)"
                                           for t in j.items)
        else:
            what = j.scenario + ": " + ", ".join(t["task"]["name"] for t in j.items)
        lines.append(f"  [{j.index + 1}/{len(jobs)}] {j.label}: {what}")
    n_items = sum(len(j.items) for j in jobs)
    lines.append(f"  {len(jobs)} worker(s), {n_items} record(s) to produce")
    return lines
