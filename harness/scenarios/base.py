"""The scenario interface: what a worker runs, and everything the engine must know about it.

A scenario owns its knowledge: how an item is named (key) and described in the printed
plan, what task and params its records carry, what kind of record it makes, and how it
runs on a backend inside a worker. The engine never branches on a scenario's name.

An item is a plain dict (sent to the worker as is); `shared` holds settings common to
every item of a job (e.g. repetitions and warm-up for speed).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar

from harness.backends.base import Backend
from harness.records import Measurement

Progress = Callable[[int], None] | None
#: item fields that are inputs, not settings: never copied into a record's params
NOT_PARAMS = ("task", "items", "prompts", "text")


class Scenario(ABC):
    """Base class; subclasses set `name` and implement key, describe and run."""

    name: ClassVar[str]

    def kind(self, item: dict) -> str:
        """The record kind (harness.records.KINDS) this item produces."""
        return self.name

    @abstractmethod
    def key(self, item: dict) -> str:
        """Stable name of the item, the last part of its record's file name."""

    @abstractmethod
    def describe(self, job) -> str:
        """What a job of this scenario (harness.engine.plan.Job) does, for the printed plan."""

    def task(self, item: dict) -> dict:
        """The record's task (name, version, kind, ...)."""
        return dict(item["task"])

    def params(self, item: dict, shared: dict) -> dict:
        """The record's params beyond threads and n_ctx: the item's settings."""
        params = {k: v for k, v in item.items() if k not in NOT_PARAMS}
        if "limit" in item.get("task", {}):
            params["limit"] = item["task"]["limit"]
        return params

    def units(self, item: dict, shared: dict) -> int:
        """Progress units the item reports (for the progress bar's total)."""
        return 1

    def generated_tokens(self, item: dict, shared: dict) -> int:
        """Tokens the worker generates for the item, warm-up included (energy per token)."""
        return 0

    def derived(self, item: dict, elapsed_s: float) -> list[Measurement]:
        """Measurements the parent derives from the item's wall time (default: none)."""
        return []

    @abstractmethod
    def run(self, backend: Backend, item: dict, shared: dict, progress: Progress
            ) -> tuple[list[Measurement], dict | None]:
        """Measure one item inside a worker; returns (measurements, details or None)."""
