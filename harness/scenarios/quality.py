"""Quality scenario: runs a prepared task (harness.data.tasks.prepare) through a backend.

run(backend, task=..., items=...) dispatches on task["kind"] to perplexity,
multiple_choice, exact_match, partial_choice or last_word; each returns Measurements with raw samples (per item or
per window), so summaries (mean, sem) and recomputations come from the record alone.
Perplexity tasks also report tokenizer fertility and, when asked, decode characters/s
on their text (text_efficiency.py).

Scenario items are prepared tasks {"task": {...}, "items": [...]}; the record's task is
the task's spec (name, version, kind, data sha256, ...), and the parent adds items_per_s
(items scored / wall time of the task).
"""

from __future__ import annotations

from harness.backends.base import Backend
from harness.records import Measurement
from harness.scenarios import (exact_match, last_word, multiple_choice, partial_choice,
                               perplexity, text_efficiency)
from harness.scenarios.base import Scenario
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


class QualityScenario(Scenario):
    name = "quality"

    def key(self, item: dict) -> str:
        return item["task"]["name"]

    def describe(self, job) -> str:
        return "quality: " + ", ".join(f"{t['task']['name']} ({t['task']['n_items']} items)"
                                       for t in job.items)

    def derived(self, item: dict, elapsed_s: float) -> list[Measurement]:
        n = item["task"]["n_items"]
        return [Measurement.of("items_per_s", (n / elapsed_s,))]

    def run(self, backend, item, shared, progress):
        return run(backend, task=item["task"], items=item["items"], on_repetition=progress), None
