"""The sweep: a RunRequest -> models x backends x threads x settings -> jobs, printed before
a run starts.

A job is one worker process: one model through one backend at one thread count, loaded
once, running its items (one scenario's) in order. Speed items are (prompt length,
generation length) pairs in ascending size, so memory peaks come last; quality items are
prepared tasks; reliability items are determinism (one job per worker process) and soak
runs; parity items dump one text's next-token distributions. Every item has a stable key,
used to name its record file and to resume a run.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from pathlib import Path

from harness.errors import BenchError


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

    def runs(self):
        """This job's scenario (harness.scenarios.base.Scenario)."""
        from harness import scenarios

        return scenarios.get(self.scenario)

    def item_key(self, i: int) -> str:
        """Stable name of item i's record: backend, model, threads and the scenario's key."""
        return f"{self.backend}-{self.model_id}-t{self.threads}-{self.runs().key(self.items[i])}"

    def units(self) -> int:
        """Progress units of the whole job."""
        s = self.runs()
        return sum(s.units(it, self.shared) for it in self.items)


@dataclass
class Plan:
    """A checked request: resolved models, the device profile, the jobs, and what to say."""

    request: object
    device: object
    models: dict
    jobs: list[Job]
    catalogue_path: Path
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def parse_int_list(text: str, flag: str) -> list[int]:
    """'128,512' -> [128, 512]; every value must be a positive integer."""
    try:
        values = [int(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise BenchError(f"{flag}: expected comma-separated integers, got {text!r}") from None
    if not values or any(v <= 0 for v in values):
        raise BenchError(f"{flag}: values must be positive integers, got {text!r}")
    return sorted(set(values))


def build(models: list[str], backends: list[str], threads: list[int], prompts: list[int],
          gens: list[int], *, repetitions: int, warmup: int, context_size: int,
          start: int = 0, depths: list[int] = (0,), source: str = "synthetic",
          text: str | None = None) -> list[Job]:
    """Speed jobs ordered model, backend, threads; settings ascending in size. Depth and
    prompt source appear in an item (and so in its record's params and key) only when
    they are not the defaults (depth 0, synthetic ids)."""
    triples = sorted(itertools.product(prompts, gens, depths),
                     key=lambda s: (s[0] + s[1] + s[2], s))
    extra = {"prompt_source": source, "text": text} if source != "synthetic" else {}
    items = tuple({"prompt_tokens": p, "gen_tokens": g, **({"depth": d} if d else {}), **extra}
                  for p, g, d in triples)
    n_ctx = max(context_size, max(p + g + d for p, g, d in triples))
    shared = {"repetitions": repetitions, "warmup": warmup}
    return [Job(index=start + i, model_id=m, backend=b, threads=t, n_ctx=n_ctx, items=items,
                shared=shared)
            for i, (m, b, t) in enumerate(itertools.product(models, backends, threads))]


def build_quality(models: list[str], backends: list[str], threads: int, tasks: list[dict],
                  *, context_size: int, start: int = 0) -> list[Job]:
    """One quality job per model and backend, running every prepared task."""
    return [Job(index=start + i, model_id=m, backend=b, threads=threads, n_ctx=context_size,
                items=tuple(tasks), scenario="quality")
            for i, (m, b) in enumerate(itertools.product(models, backends))]


def build_reliability(models: list[str], backends: list[str], threads: int,
                      per_worker: list[list[dict]], *, context_size: int, start: int = 0
                      ) -> list[Job]:
    """Reliability jobs: one per model, backend and entry of per_worker (each entry is the
    item list of one worker process; determinism compares two)."""
    jobs = []
    for m, b in itertools.product(models, backends):
        for items in per_worker:
            jobs.append(Job(index=start + len(jobs), model_id=m, backend=b, threads=threads,
                            n_ctx=context_size, scenario="reliability", items=tuple(items)))
    return jobs


def describe(jobs: list[Job]) -> list[str]:
    """Human-readable plan, one line per job and a total."""
    lines = [f"  [{j.index + 1}/{len(jobs)}] {j.label}: {j.runs().describe(j)}" for j in jobs]
    n_items = sum(len(j.items) for j in jobs)
    lines.append(f"  {len(jobs)} worker(s), {n_items} record(s) to produce")
    return lines


# ------------------------------------------------------------------ from a request
def task_limit(request, device, name: str) -> int | None:
    """Items of task `name` to measure: --limit when given, else the largest `limit` of
    the device profile's budgets on that task (a floor judged on that many items), else
    every item."""
    if request.limit is not None:
        return request.limit
    limits = [b.limit for b in getattr(device, "budgets", None) or []
              if b.task == name and b.limit]
    return max(limits) if limits else None


def _quality_items(request, backends: list[str], device=None
                   ) -> tuple[dict[str, list[dict]], list[str]]:
    """Prepared tasks per backend (checked before anything runs) and what was skipped."""
    from harness import backends as reg
    from harness.data import tasks as task_mod

    names = list(request.tasks)
    if names == ["default"]:
        names = task_mod.default_tasks()
    data_dir = Path(request.data_dir) if request.data_dir else None
    prepared = [task_mod.prepare(task_mod.load_task(n), limit=task_limit(request, device, n),
                                 data_dir=data_dir) for n in names]
    per_backend, skipped = {}, []
    for b in backends:
        caps = reg.backend_class(b).capabilities
        ok = [t for t in prepared
              if ("score" in caps or t["task"]["kind"] == "exact_match")]
        if len(ok) < len(prepared):
            skipped.append(f"{b} cannot score continuations: skipping "
                           + ", ".join(t["task"]["name"] for t in prepared if t not in ok))
        if ok:
            per_backend[b] = ok
    return per_backend, skipped


def for_model(tasks: list[dict], model) -> list[dict]:
    """The prepared tasks as one model runs them: a chat task's prompts rendered with
    that model's own chat template (in the sandbox, harness.data.chat)."""
    if not any(t["task"].get("chat") for t in tasks):
        return tasks
    from harness.data.chat import chat_task, chat_template

    template = chat_template(model.path) if model.spec.format in ("gguf", "onnx") else None
    return [chat_task(t, template, source=model.path) if t["task"].get("chat") else t
            for t in tasks]


def _reliability_jobs(request, models: dict, backends: list[str], threads: int,
                      context_size: int, start: int) -> list[Job]:
    from harness.scenarios import reliability

    det: list[Job] = []
    soak: list[Job] = []
    for m in models.values():
        per_worker, soak_items = reliability.items(
            m.path, m.spec.format, request.soak_seconds,
            determinism_workers=request.determinism_workers)
        det += build_reliability([m.spec.id], backends, threads, per_worker,
                                 context_size=context_size)
        if soak_items:
            soak += build_reliability([m.spec.id], backends, threads, [soak_items],
                                      context_size=context_size)
    # determinism workers first, then soak runs; indices follow the jobs before them
    return [replace(j, index=start + i) for i, j in enumerate(det + soak)]


def _parity_jobs(request, models: dict, backends: list[str], device, dump_dir: Path
                 ) -> list[Job]:
    from harness import backends as reg
    from harness.data import tasks as task_mod
    from harness.scenarios.parity import dump_item

    if len(backends) < 2:
        raise BenchError("parity needs at least two backends")
    for b in backends:
        if "logits" not in reg.backend_class(b).capabilities:
            raise BenchError(f"backend {b!r} does not expose logits, which parity needs")
    task = task_mod.prepare(task_mod.load_task(request.parity_task))
    if task["task"]["kind"] != "perplexity":
        raise BenchError(f"--task: {request.parity_task!r} is not a perplexity task "
                         "(it has no text)")
    (model,) = models.values()
    n_ctx = max(device.context_size, request.parity_tokens)
    text = task["items"][0]["text"]
    return [Job(index=i, model_id=model.spec.id, backend=b, threads=device.resolve_threads(),
                n_ctx=n_ctx, items=(dump_item(text, request.parity_tokens,
                                              dump_dir / f"{b}.npy"),), scenario="parity",
                shared={"text_task": task["task"]})
            for i, b in enumerate(backends)]


def _check_speed_settings(request, backends: list[str]) -> None:
    from harness import backends as reg

    if any(request.depths):
        for b in backends:
            if "depth" not in reg.backend_class(b).capabilities:
                raise BenchError(f"--depth: backend {b!r} cannot generate at a depth "
                                 "(a pre-filled context)")


def _prompt_text(request) -> str | None:
    """The text of a "text:TASK" prompt source (a perplexity task's documents, joined)."""
    if request.prompt_source == "synthetic":
        return None
    from harness.data import tasks as task_mod

    name = request.prompt_source.split(":", 1)[1]
    task = task_mod.prepare(task_mod.load_task(name),
                            data_dir=Path(request.data_dir) if request.data_dir else None)
    if task["task"]["kind"] != "perplexity":
        raise BenchError(f"--prompt-source: {name!r} is not a perplexity task (it has no text)")
    return "\n\n".join(it["text"] for it in task["items"])


def check_context(request, models: dict) -> None:
    """depth + prompt + gen must fit the context each model was trained for (read from
    the model file when it says, else harness.models.MAX_CONTEXT)."""
    from harness.models import MAX_CONTEXT, trained_context

    need = max(request.depths) + max(request.prompts) + max(request.gens)
    for m in models.values():
        trained = trained_context(m.path, m.spec.format)
        limit = trained or MAX_CONTEXT
        if need > limit:
            what = (f"the {trained} tokens model {m.spec.id!r} was trained for" if trained
                    else f"the {MAX_CONTEXT} tokens any model here can take")
            raise BenchError(f"--prompt/--gen/--depth: depth + prompt + gen = {need} tokens "
                             f"exceeds {what}")


def check_cache(model, precision: str) -> None:
    """An ONNX port to prepare needs a writable cache folder: checked before anything runs."""
    from harness import prepare
    from harness.records import check_writable_dir

    root = prepare.cache_root()
    if root.exists() and not root.is_dir():
        raise BenchError(f"{prepare.CACHE_ENV}: the ONNX cache is not a folder", path=root)
    if not prepare.is_prepared(model.sha256, prepare.canonical_precision(precision)):
        check_writable_dir(root, f"{prepare.CACHE_ENV} (the ONNX cache)")


def check_options(options: dict, backends: list[str]) -> None:
    """Every --set key must be a setting one of the backends reads."""
    from harness import backends as reg

    known = set().union(*(reg.backend_class(b).options for b in backends))
    unknown = sorted(set(options) - known)
    if unknown:
        raise BenchError(f"--set: unknown setting(s) {', '.join(unknown)} for backend(s) "
                         f"{', '.join(backends)} (known: {', '.join(sorted(known)) or 'none'})")


def backend_options(backend: str, options) -> dict:
    """The --set options that `backend` reads, sorted by name. They go into every record's
    params (as "backend_options"), so results measured with another setting never share a
    key with the defaults' (gate baselines, leaderboard rows). A catalogue entry's own
    options are part of that model's definition, not a run setting, and stay out."""
    from harness import backends as reg

    known = reg.backend_class(backend).options
    return {k: options[k] for k in sorted(options) if k in known}


def from_request(request, *, parity_dump_dir: Path | None = None) -> Plan:
    """Check a RunRequest (catalogue, models, backends, tasks, device) and plan its jobs."""
    from harness import backends as reg
    from harness.config import load_device
    from harness.engine import resolve

    device = load_device(request.device)
    cat, cat_path = resolve.catalogue(request.models_file)
    backends = resolve.backends(request.backends)
    check_options(request.options, backends)
    models = resolve.models(request.models, cat, cat_path, request.options)
    for m in models.values():
        for b in backends:
            if m.spec.format == "onnx" and reg.artifact_kind(b) == "gguf":
                raise BenchError(f"backend {b!r} reads GGUF files; model {m.spec.id!r} is an "
                                 "ONNX folder (use onnxruntime or ort_genai)")
            if m.spec.format == "gguf" and reg.artifact_kind(b) == "onnx":
                check_cache(m, request.precision)
    plan = Plan(request=request, device=device, models=models, jobs=[], catalogue_path=cat_path,
                warnings=resolve.host_warnings(device))
    if request.parity_task:
        plan.jobs = _parity_jobs(request, models, backends, device, parity_dump_dir)
        return plan
    threads = list(request.threads or [device.resolve_threads()])
    if request.speed:
        _check_speed_settings(request, backends)
        check_context(request, models)
        plan.jobs = build(list(models), backends, threads, list(request.prompts),
                          list(request.gens), repetitions=request.reps, warmup=request.warmup,
                          context_size=device.context_size, depths=list(request.depths),
                          source=request.prompt_source, text=_prompt_text(request))
    if request.tasks:
        per_backend, plan.notes = _quality_items(request, backends, device)
        for b, items in per_backend.items():
            for m in models.values():
                plan.jobs += build_quality([m.spec.id], [b], threads[0], for_model(items, m),
                                           context_size=device.context_size,
                                           start=len(plan.jobs))
    if request.determinism_workers or request.soak_seconds:
        plan.jobs += _reliability_jobs(request, models, backends, threads[0],
                                       device.context_size, len(plan.jobs))
    if not plan.jobs:
        why = "; ".join(plan.notes) if plan.notes else "no quality task applies"
        raise BenchError(f"nothing to run: --no-speed and {why}")
    return plan
