"""The scenario interface: what a worker runs, and everything the engine must know about it.

A scenario owns its knowledge, on both sides of the worker:

- planning: which jobs a RunRequest asks of it (`plan`), each a `Work`: a model through a
  backend at a thread count, running typed items (a frozen dataclass per scenario, sent
  to the spawned worker as is, so plain picklable fields only);
- naming: how an item is named (key) and described in the printed plan, what task,
  params and record kind its record carries;
- in the worker: how it runs on a backend (`run`);
- in the parent: what derives from one item's result (`on_result`, `derived`) and what
  derives from all of its records once the workers are done (`finish`: determinism
  across two workers, parity between backends).

The engine never branches on a scenario's name: a new scenario is a module with a
Scenario subclass plus an entry in harness.scenarios.REGISTRY.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from harness.backends.base import Backend
from harness.records import Measurement, Record

Progress = Callable[[int], None] | None
#: the parent's emit for derived records: emit(key, seq=..., **make_record fields) -> Record
Emit = Callable[..., Record]


@dataclass(frozen=True)
class Item:
    """One record's worth of work; each scenario subclasses it (frozen, picklable)."""


@dataclass(frozen=True)
class Work:
    """One worker's worth of a scenario's items: model (id) x backend x threads."""

    model_id: str
    backend: str
    threads: int
    n_ctx: int
    items: tuple[Item, ...]


@dataclass
class PlanContext:
    """What a scenario plans from: the checked request (harness.engine.request.RunRequest),
    the device profile (harness.specs.DeviceProfile), the resolved models by id
    (harness.engine.resolve.ResolvedModel), the backends and thread counts to sweep.
    A scenario may add a line to `notes` (printed with the plan)."""

    request: Any
    device: Any
    models: dict[str, Any]
    backends: list[str]
    threads: list[int]
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ResultContext:
    """What the parent knows of one finished item beside its measurements: the job's
    thread count, the size of the artifact the worker loaded, and this host's memory
    bandwidth at a thread count (harness.measure.bandwidth, probed once per host)."""

    threads: int
    artifact_bytes: int
    bandwidth: Callable[[int], dict]


class Scenario(ABC):
    """Base class; subclasses set `name` and implement key, describe, task and run (and
    plan, to be planned from a RunRequest)."""

    name: ClassVar[str]
    #: timed items: the worker times the calibration kernel around each one
    #: (harness.measure.calibration), so conditions can say the machine changed speed
    calibrated: ClassVar[bool] = False

    # ------------------------------------------------------------------ planning
    def plan(self, ctx: PlanContext) -> list[Work]:
        """The work a request asks of this scenario, in run order (default: none)."""
        return []

    def kind(self, item: Item) -> str:
        """The record kind (harness.records.KINDS) this item produces."""
        return self.name

    @abstractmethod
    def key(self, item: Item) -> str:
        """Stable name of the item, the last part of its record's file name."""

    @abstractmethod
    def describe(self, job) -> str:
        """What a job of this scenario (harness.engine.plan.Job) does, for the printed plan."""

    @abstractmethod
    def task(self, item: Item) -> dict:
        """The record's task (name, version, kind, ...)."""

    def params(self, item: Item) -> dict:
        """The record's params beyond threads and n_ctx: the item's settings."""
        return {}

    def units(self, item: Item) -> int:
        """Progress units the item reports (for the progress bar's total)."""
        return 1

    def generated_tokens(self, item: Item) -> int:
        """Tokens the worker generates for the item, warm-up included (energy per token)."""
        return 0

    # ------------------------------------------------------------------ worker side
    @abstractmethod
    def run(self, backend: Backend, item: Item, progress: Progress
            ) -> tuple[list[Measurement], dict | None]:
        """Measure one item inside a worker; returns (measurements, details or None)."""

    # ------------------------------------------------------------------ parent side
    def on_result(self, item: Item, measurements: Sequence[Measurement], ctx: ResultContext
                  ) -> tuple[list[Measurement], dict]:
        """Derived from the worker's measurements of one item: (measurements placed right
        after them, params added to the record). Default: nothing."""
        return [], {}

    def derived(self, item: Item, elapsed_s: float) -> list[Measurement]:
        """Measurements the parent derives from the item's wall time (default: none)."""
        return []

    def finish(self, jobs: Sequence, records: Sequence[Record], emit: Emit) -> None:
        """After every job ran: derive records from this scenario's records (`jobs` are
        its harness.engine.plan.Job, `records` the records they produced in this run) and
        emit them. Default: nothing."""
