"""A scenario defined outside the harness, for tests/test_new_scenario.py: load the model
and measure nothing more. The record still carries what every record carries: load time,
peak and after-load resident memory, model size, wall time.

This file and one registry entry (harness.scenarios.REGISTRY) are all a new scenario
needs: no edit to harness/api/, harness/engine/session.py or harness/engine/plan.py.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from harness.scenarios.base import Item, PlanContext, Scenario, Work

TASK = {"name": "load", "kind": "load", "version": 1}


@dataclass(frozen=True)
class LoadItem(Item):
    """Nothing to run once loaded; `note` shows an item's field reaching the record."""

    note: str = "load only"


class LoadOnlyScenario(Scenario):
    name = "load_only"

    def plan(self, ctx: PlanContext) -> list[Work]:
        return [Work(m, b, ctx.threads[0], ctx.device.context_size, (LoadItem(),))
                for m, b in itertools.product(ctx.models, ctx.backends)]

    def kind(self, item: LoadItem) -> str:
        return "speed"  # harness.records.KINDS is a closed list; a load is a speed fact

    def key(self, item: LoadItem) -> str:
        return "load"

    def describe(self, job) -> str:
        return "load only"

    def task(self, item: LoadItem) -> dict:
        return dict(TASK)

    def params(self, item: LoadItem) -> dict:
        return {"note": item.note}

    def run(self, backend, item: LoadItem, progress):
        return [], {"vocab_size": backend.vocab_size()}
