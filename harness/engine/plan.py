"""The sweep: a RunRequest -> jobs, printed before a run starts.

A job is one worker process: one model through one backend at one thread count, loaded
once, running its items (one scenario's, typed by that scenario) in order. The plan
knows no scenario's shape: it checks the request (catalogue, models, backends, --set
options, the ONNX cache) and asks every registered scenario (harness.scenarios) for the
work the request asks of it (harness.scenarios.base.Scenario.plan), in registry order.
Every item has a stable key, used to name its record file and to resume a run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.engine.request import RunRequest
from harness.engine.resolve import ResolvedModel
from harness.errors import BenchError
from harness.scenarios.base import Item, Work
from harness.specs import DeviceProfile


@dataclass(frozen=True)
class Job:
    """One worker: a model (id) through a backend at `threads`, running `items`."""

    index: int
    model_id: str
    backend: str
    threads: int
    n_ctx: int
    items: tuple[Item, ...]
    scenario: str = "speed"

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
        return sum(s.units(it) for it in self.items)


@dataclass
class Plan:
    """A checked request: resolved models, the device profile, the jobs, and what to say."""

    request: RunRequest
    device: DeviceProfile
    models: dict[str, ResolvedModel]
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


def as_jobs(scenario: str, work: list[Work], start: int = 0) -> list[Job]:
    """A scenario's work as numbered jobs."""
    return [Job(index=start + i, model_id=w.model_id, backend=w.backend, threads=w.threads,
                n_ctx=w.n_ctx, items=w.items, scenario=scenario)
            for i, w in enumerate(work)]


def describe(jobs: list[Job]) -> list[str]:
    """Human-readable plan, one line per job and a total."""
    lines = [f"  [{j.index + 1}/{len(jobs)}] {j.label}: {j.runs().describe(j)}" for j in jobs]
    n_items = sum(len(j.items) for j in jobs)
    lines.append(f"  {len(jobs)} worker(s), {n_items} record(s) to produce")
    return lines


# ------------------------------------------------------------------ from a request
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
    for b in backends:  # values too, before any worker starts
        cls = reg.backend_class(b)
        for k, v in options.items():
            if k in cls.options:
                try:
                    cls.check_option(k, v)
                except BenchError as e:
                    raise BenchError(f"--set {k}={v}: {e}") from None


def backend_options(backend: str, options) -> dict:
    """The --set options that `backend` reads, sorted by name. They go into every record's
    params (as "backend_options"), so results measured with another setting never share a
    key with the defaults' (gate baselines, leaderboard rows). A catalogue entry's own
    options are part of that model's definition, not a run setting, and stay out."""
    from harness import backends as reg

    known = reg.backend_class(backend).options
    return {k: options[k] for k in sorted(options) if k in known}


def from_request(request: RunRequest) -> Plan:
    """Check a RunRequest (catalogue, models, backends, tasks, device) and plan its jobs."""
    from harness import backends as reg
    from harness import scenarios
    from harness.config import load_device
    from harness.engine import resolve
    from harness.scenarios.base import PlanContext

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
    ctx = PlanContext(request=request, device=device, models=models, backends=backends,
                      threads=list(request.threads or [device.resolve_threads()]))
    for name in scenarios.names():
        plan.jobs += as_jobs(name, scenarios.get(name).plan(ctx), start=len(plan.jobs))
    plan.notes = ctx.notes
    if not plan.jobs:
        why = "; ".join(plan.notes) if plan.notes else "no quality task applies"
        raise BenchError(f"nothing to run: --no-speed and {why}")
    return plan
