"""The parent side of the lm-evaluation-harness front end: resolve the model and the
device profile once, then answer each batch of requests in a freshly spawned worker
(harness.engine.runner.run_worker: the same isolation, pinning, silence timeout and
memory budget as `sllm-bench run`), with the scenario harness.scenarios.lmeval.

A worker that fails (crash, timeout, memory budget, exception) is a BenchError with its
reason: lm-evaluation-harness stops, as it would on a model error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.errors import BenchError
from harness.precision import DEFAULT as DEFAULT_PRECISION


@dataclass
class WorkerClient:
    """model: a catalogue id or a model path (default: the catalogue's default);
    backend: a harness backend name; profile: a device profile (threads, cores, context
    size, memory budget); options: backend settings (as run --set)."""

    backend: str = "llama_cpp"
    model: str | None = None
    profile: str = "host"
    threads: int | None = None
    n_ctx: int | None = None
    precision: str = DEFAULT_PRECISION
    timeout: float = 600.0
    models_file: str | None = None
    options: dict | None = None

    def __post_init__(self) -> None:
        from harness.config import load_device
        from harness.engine import log_stderr, resolve
        from harness.engine.artifacts import artifact

        self.device = load_device(self.profile)
        cat, cat_path = resolve.catalogue(self.models_file)
        (self.backend,) = resolve.backends([self.backend])
        models = resolve.models([self.model] if self.model else [], cat, cat_path,
                                self.options or None)
        (self.resolved,) = models.values()
        self.path, self.artifact = artifact(self.resolved, self.backend, self.precision,
                                            log_stderr)
        self.threads = self.threads or self.device.resolve_threads()
        self.n_ctx = self.n_ctx or self.device.context_size

    @property
    def model_path(self) -> Path:
        """The catalogue's model file (its chat template is read from here)."""
        return self.resolved.path

    def ask(self, kind: str, requests: list, **settings) -> list:
        """Answers to `requests` of one lm-evaluation-harness request type, in order."""
        from harness import scenarios
        from harness.engine.runner import run_worker
        from harness.scenarios.lmeval import LmEvalItem

        if not requests:
            return []
        payload = {"backend": self.backend, "scenario": scenarios.ref("lmeval"),
                   "cpus": self.device.cpu_set(),
                   "load": {"path": str(self.path), "threads": self.threads,
                            "n_ctx": self.n_ctx, "options": dict(self.resolved.spec.options)},
                   "items": [LmEvalItem(kind, list(requests), dict(settings))]}
        for event in run_worker(payload, 1, timeout_s=self.timeout,
                                memory_budget_mb=self.device.memory_budget_mb):
            if event[0] == "result":
                results = event[3]["details"]["results"]
                if len(results) != len(requests):
                    raise BenchError(f"{self.backend} worker answered {len(results)} of "
                                     f"{len(requests)} {kind} requests")
                return results
            if event[0] == "failed":
                err = event[2]
                raise BenchError(f"{self.backend} worker failed on {kind} requests "
                                 f"({err.get('kind')}): {err.get('message')}")
        raise BenchError(f"{self.backend} worker gave no answer to {kind} requests")
