"""Reliability evidence, run inside a worker.

determinism: each prompt is generated greedily `repetitions` times; the per-prompt sample
  is 1 when every repetition gave the same token ids, else 0. The ids of the first
  repetition go back as details, so the parent can compare two worker processes and
  show the first differing token.
soak: generations of a fixed shape back to back for `duration_s` seconds; for each one
  its start time, decode tokens/s and resident memory. Resident memory is read after
  freed heap has been handed back to the OS (glibc malloc_trim, outside the timed part):
  glibc otherwise keeps freed blocks, and llama.cpp's per-call allocations then grow RSS
  by some tens of MB over the first minute before it levels off, which is reuse, not a
  leak. Reported: the time series, the Theil-Sen slope of resident memory in MB per
  minute over the run after its first 10% (harness.measure.soak: robust to a single
  allocator step; the verdict reads the time series itself, tells a sawtooth that
  returns to its floor from rising peaks and bounds the slope; the peak RSS of the
  worker, untrimmed, is reported as always), the drift of decode speed in % of its mean
  per minute (least squares), the sustained ratio (median decode speed of the last minute
  over the first, harness.measure.soak.sustained_ratio),
  and the number of generations that raised an error (the run goes on after an error
  and stops after three in a row).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from harness.backends.base import Backend
from harness.measure.memory import current_rss_bytes, release_free_heap
from harness.measure.soak import min_duration_s, needed, sustained_ratio, theil_sen
from harness.records import Measurement
from harness.scenarios import speed
from harness.scenarios.base import Item, PlanContext, Scenario, Work

Progress = Callable[[int], None] | None
#: fixed prompts for the determinism check (English and Korean), rendered with the
#: model's own chat template when it has one
PROMPTS = [
    "Explain in two sentences why the sky is blue.",
    "Write a short list of three fruits.",
    "한국의 수도는 어디인가요? 한 문장으로 답하세요.",
    "Continue the story: The robot opened the door and",
]
DETERMINISM_TASK = {"name": "determinism", "kind": "determinism", "version": 1}
SOAK_TASK = {"name": "soak", "kind": "soak", "version": 1}


def slope_per_minute(ts: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys against ts (seconds), per minute; 0 for < 2 points."""
    n = len(ts)
    if n < 2:
        return 0.0
    mt, my = sum(ts) / n, sum(ys) / n
    var = sum((t - mt) ** 2 for t in ts)
    return 60.0 * sum((t - mt) * (y - my) for t, y in zip(ts, ys)) / var if var else 0.0


def determinism(backend: Backend, *, prompts: list[str], gen_tokens: int, repetitions: int,
                on_repetition: Progress = None) -> tuple[list[Measurement], dict]:
    samples, outputs = [], []
    for i, text in enumerate(prompts):
        ids = backend.tokenize(text, add_special=True)
        runs = [list(backend.generate(ids, gen_tokens)) for _ in range(repetitions)]
        samples.append(1.0 if all(r == runs[0] for r in runs) else 0.0)
        outputs.append(runs[0])
        if on_repetition:
            on_repetition(i + 1)
    return ([Measurement.of("determinism", tuple(samples))],
            {"outputs": outputs})


def soak(backend: Backend, *, duration_s: float, prompt_tokens: int, gen_tokens: int,
         on_repetition: Progress = None) -> tuple[list[Measurement], dict]:
    prompt = speed.synthetic_prompt(backend.vocab_size(), prompt_tokens)
    ts, tps, rss = [], [], []
    errors, in_a_row, last_error = 0, 0, None
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < duration_s and in_a_row < 3:
        start = time.perf_counter() - t0
        try:
            stamps = speed.time_generation(backend, prompt, gen_tokens)
        except Exception as e:  # counted and reported; the soak goes on
            errors, in_a_row, last_error = errors + 1, in_a_row + 1, f"{type(e).__name__}: {e}"
            continue
        in_a_row = 0
        ts.append(start)
        tps.append((len(stamps) - 2) / (stamps[-1] - stamps[1]))
        release_free_heap()
        rss.append(current_rss_bytes() / 2**20)
        if on_repetition:
            on_repetition(len(ts))
    skip = len(ts) // 10
    mean_tps = sum(tps) / len(tps) if tps else 0.0
    drift = slope_per_minute(ts[skip:], tps[skip:]) / mean_tps * 100 if mean_tps else 0.0
    sustained = sustained_ratio(ts, tps)
    extra = [Measurement.of("sustained_ratio", (sustained[0],))] \
        if sustained else []
    return ([Measurement.of("soak_t_s", tuple(ts)),
             Measurement.of("soak_decode_tps", tuple(tps)),
             Measurement.of("soak_rss_mb", tuple(rss)),
             Measurement.of("rss_slope_mb_per_min", (
                 theil_sen(ts[skip:], rss[skip:])[0] if len(ts) - skip > 1 else 0.0,)),
             Measurement.of("decode_drift_pct_per_min", (drift,)),
             Measurement.of("soak_errors", (float(errors),)), *extra],
            {"last_error": last_error, "generations": len(ts),
             "sustained_window_s": sustained[1] if sustained else None})


@dataclass(frozen=True)
class DeterminismItem(Item):
    """Greedy generations of `prompts`, each `repetitions` times, in worker `worker` (a
    two-process check is two jobs, workers 1 and 2)."""

    prompts: tuple[str, ...]
    gen_tokens: int = 32
    repetitions: int = 3
    worker: int = 1


@dataclass(frozen=True)
class SoakItem(Item):
    """Generations of a fixed shape back to back for `duration_s` seconds."""

    duration_s: float
    prompt_tokens: int = 64
    gen_tokens: int = 64


def items(model_path, fmt: str, soak_s: float, *, determinism_workers: int = 2
          ) -> tuple[list[list[DeterminismItem]], list[SoakItem]]:
    """(determinism items, one list per worker process; soak items) for a verify run.

    The determinism prompts are rendered with the model's own chat template when it has
    one (GGUF metadata or tokenizer_config.json)."""
    from harness.data.chat import chat_template, render

    template = chat_template(model_path) if fmt in ("gguf", "onnx") else None
    prompts = tuple(render(template, [{"role": "user", "content": p}], source=model_path)
                    if template else p for p in PROMPTS)
    per_worker = [[DeterminismItem(prompts, worker=w + 1)] for w in range(determinism_workers)]
    soak_items = [SoakItem(soak_s)] if soak_s > 0 else []
    return per_worker, soak_items


class ReliabilityScenario(Scenario):
    """Items: DeterminismItem or SoakItem; the parent combines the two determinism
    workers' records into one determinism record (finish)."""

    name = "reliability"
    calibrated = True

    def plan(self, ctx: PlanContext) -> list[Work]:
        r = ctx.request
        if not (r.determinism_workers or r.soak_seconds):
            return []
        det, soak_work = [], []
        if r.soak_seconds:
            ctx.notes += [f"--soak-seconds {r.soak_seconds:g} cannot decide "
                          f"rss_slope_mb_per_min <= {b.max:g}: "
                          f"{needed(min_duration_s(b.max), b.max)}"
                          for b in ctx.device.budgets if b.metric == "rss_slope_mb_per_min"
                          and b.max and r.soak_seconds < min_duration_s(b.max)]
        for m in ctx.models.values():
            per_worker, soak_items = items(m.path, m.spec.format, r.soak_seconds,
                                           determinism_workers=r.determinism_workers)
            for b in ctx.backends:
                det += [Work(m.spec.id, b, ctx.threads[0], ctx.device.context_size, tuple(w))
                        for w in per_worker]
                if soak_items:
                    soak_work.append(Work(m.spec.id, b, ctx.threads[0],
                                          ctx.device.context_size, tuple(soak_items)))
        return det + soak_work  # determinism workers first, then soak runs

    def kind(self, item: Item) -> str:
        return "determinism" if isinstance(item, DeterminismItem) else "soak"

    def task(self, item: Item) -> dict:
        return dict(DETERMINISM_TASK if isinstance(item, DeterminismItem) else SOAK_TASK)

    def key(self, item: Item) -> str:
        if isinstance(item, DeterminismItem):
            return f"{DETERMINISM_TASK['name']}-w{item.worker}"
        return SOAK_TASK["name"]

    def describe(self, job) -> str:
        return "reliability: " + ", ".join(
            self.key(it) + (f" {it.duration_s:g} s" if isinstance(it, SoakItem) else "")
            for it in job.items)

    def params(self, item: Item) -> dict:
        if isinstance(item, DeterminismItem):
            return {"gen_tokens": item.gen_tokens, "repetitions": item.repetitions,
                    "worker": item.worker}
        return {"duration_s": item.duration_s, "prompt_tokens": item.prompt_tokens,
                "gen_tokens": item.gen_tokens}

    def run(self, backend, item: Item, progress):
        if isinstance(item, DeterminismItem):
            return determinism(backend, prompts=list(item.prompts), gen_tokens=item.gen_tokens,
                               repetitions=item.repetitions, on_repetition=progress)
        if isinstance(item, SoakItem):
            return soak(backend, duration_s=item.duration_s, prompt_tokens=item.prompt_tokens,
                        gen_tokens=item.gen_tokens, on_repetition=progress)
        raise ValueError(f"unknown reliability item {type(item).__name__}")

    def finish(self, jobs, records, emit) -> None:
        """Per model and backend, the determinism record across the two workers (next to
        theirs, with the first worker's seq, params without the worker)."""
        groups: dict[tuple[str, str], list] = {}
        for r in records:
            groups.setdefault((r.model_id, r.backend), []).append(r)
        for (model_id, backend), mine in groups.items():
            combined = combine_determinism(mine)
            if not combined:
                continue
            samples, mismatches, base = combined
            params = {k: v for k, v in base.params.items() if k != "worker"}
            emit(f"{backend}-{model_id}-t{params['threads']}-determinism", seq=base.seq,
                 kind="determinism", started_at=base["started_at"], model=base.model,
                 backend=base["backend"], device=base["device"],
                 task={"name": "determinism", "kind": "determinism", "version": 1},
                 params=params, env=base.env,
                 measurements=[Measurement.of("determinism", samples)],
                 details={"mismatches": mismatches, "workers": 2})


def combine_determinism(records) -> tuple[tuple[float, ...], list[dict], object] | None:
    """Determinism across two worker processes, from their records (harness.records.Record).

    Per prompt 1 only if both workers repeated themselves and agreed with each other;
    mismatches name the first differing token. Returns (samples, mismatches, the first
    worker's record) or None when either worker has no ok record."""
    by_worker = {r.params.get("worker"): r for r in records
                 if r.ok and r.kind == "determinism" and r.params.get("worker")}
    if not {1, 2} <= set(by_worker):
        return None
    a, b = by_worker[1], by_worker[2]
    sa, sb = a.samples("determinism"), b.samples("determinism")
    samples, mismatches = [], []
    for i, (oa, ob) in enumerate(zip(a.details["outputs"], b.details["outputs"])):
        same = tuple(oa) == tuple(ob)
        if not same:
            k = next((j for j, (x, y) in enumerate(zip(oa, ob)) if x != y), min(len(oa), len(ob)))
            mismatches.append({"prompt": i, "position": k,
                               "expected": oa[k] if k < len(oa) else None,
                               "got": ob[k] if k < len(ob) else None})
        samples.append(1.0 if same and sa[i] == 1.0 and sb[i] == 1.0 else 0.0)
    return tuple(samples), mismatches, a
