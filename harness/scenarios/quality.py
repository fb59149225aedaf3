"""Quality scenario: runs a prepared task (harness.data.tasks.prepare) through a backend.

run(backend, task=..., items=...) dispatches on task["kind"] to perplexity,
multiple_choice, exact_match, partial_choice or last_word; each returns Measurements with raw samples (per item or
per window), so summaries (mean, sem) and recomputations come from the record alone.
Perplexity tasks also report tokenizer fertility and, when asked, decode characters/s
on their text (text_efficiency.py).

Scenario items are prepared tasks (QualityItem: the task's spec and its items), one job per
model and backend running every task the backend can run; the record's task is the
task's spec (name, version, kind, data sha256, ...), and the parent adds items_per_s
(items scored / wall time of the task).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.backends.base import Backend
from harness.records import Measurement
from harness.scenarios import (exact_match, last_word, multiple_choice, partial_choice,
                               perplexity, text_efficiency)
from harness.scenarios.base import Item, PlanContext, Scenario, Work
from harness.scenarios.common import Progress

KINDS = {"perplexity": perplexity, "multiple_choice": multiple_choice,
         "exact_match": exact_match, "partial_choice": partial_choice, "last_word": last_word}


def run(backend: Backend, *, task: dict, items: list, on_repetition: Progress = None
        ) -> list[Measurement]:
    """Measure one prepared task; on_repetition(n) reports items (or windows) done."""
    kind = task.get("kind")
    if kind not in KINDS:
        raise ValueError(f"unknown task kind {kind!r} (known: {', '.join(KINDS)})")
    out = KINDS[kind].run(backend, task=task, items=items, on_repetition=on_repetition)
    if kind == "perplexity":  # real text: tokenizer fertility and decode characters/s too
        out += text_efficiency.run(backend, task=task, items=items)
    return out


@dataclass(frozen=True)
class QualityItem(Item):
    """A prepared task (harness.data.tasks.prepare): its spec and its rendered items."""

    task: dict
    items: list


def _limited(task: dict) -> str:
    """', the first N windows' for a perplexity task scored in part."""
    if task.get("kind") == "perplexity" and task.get("limit"):
        return f", the first {task['limit']} windows"
    return ""


def task_limit(request, device, name: str) -> int | None:
    """Items of task `name` to measure: --limit when given, else the largest `limit` of
    the device profile's budgets on that task (a floor judged on that many items), else
    every item."""
    if request.limit is not None:
        return request.limit
    limits = [b.limit for b in getattr(device, "budgets", None) or []
              if b.task == name and b.limit]
    return max(limits) if limits else None


def prepared_tasks(request, backends: list[str], device=None
                   ) -> tuple[dict[str, list[dict]], list[str]]:
    """Prepared tasks per backend (checked before anything runs) and what was skipped."""
    from harness import backends as reg
    from harness.data import tasks as task_mod

    names = list(request.tasks)
    default_set = names == ["default"]
    if default_set:
        names = task_mod.default_tasks()
    data_dir = Path(request.data_dir) if request.data_dir else None
    prepared = []
    for n in names:
        spec = task_mod.load_task(n)
        limit = task_limit(request, device, n)
        if default_set and limit is None:
            limit = spec.default_limit  # the plain run's trimmed share of the task
        prepared.append(task_mod.prepare(spec, limit=limit, data_dir=data_dir))
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


def work(model_id: str, backend: str, threads: int, tasks: list[dict], context_size: int
         ) -> Work:
    """One quality worker: a model through a backend, running every prepared task."""
    return Work(model_id, backend, threads, context_size,
                tuple(QualityItem(t["task"], t["items"]) for t in tasks))


class QualityScenario(Scenario):
    """Items are QualityItem; the record's task is the task's spec, and the parent adds
    items_per_s (items scored / wall time of the task)."""

    name = "quality"

    def plan(self, ctx: PlanContext) -> list[Work]:
        if not ctx.request.tasks:
            return []
        per_backend, skipped = prepared_tasks(ctx.request, ctx.backends, ctx.device)
        ctx.notes += skipped
        return [work(m.spec.id, b, ctx.threads[0], for_model(tasks, m),
                     ctx.device.context_size)
                for b, tasks in per_backend.items() for m in ctx.models.values()]

    def key(self, item: QualityItem) -> str:
        return item.task["name"]

    def describe(self, job) -> str:
        return "quality: " + ", ".join(f"{t.task['name']} ({t.task['n_items']} items"
                                       + _limited(t.task) + ")" for t in job.items)

    def task(self, item: QualityItem) -> dict:
        return dict(item.task)

    def params(self, item: QualityItem) -> dict:
        return {"limit": item.task["limit"]} if "limit" in item.task else {}

    def derived(self, item: QualityItem, elapsed_s: float) -> list[Measurement]:
        n = item.task["n_items"]
        return [Measurement.of("items_per_s", (n / elapsed_s,))]

    def run(self, backend, item: QualityItem, progress):
        return run(backend, task=item.task, items=item.items, on_repetition=progress), None
