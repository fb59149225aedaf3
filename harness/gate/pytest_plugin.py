"""pytest plugin `sllm_bench` (entry point pytest11): performance tests of models in pytest.

The `sllm_bench` fixture runs the harness's speed scenario the way `sllm-bench run` does
(through the same library API, harness.api.plan() and execute(): a fresh spawned worker
process, the device profile applied, a run record written) and feeds one metric's raw
samples to pytest-benchmark's `benchmark` fixture as seconds per unit of work (see
harness.gate.pytest_benchmark.as_seconds: decode_tps becomes seconds per token).
pytest-benchmark's own flow then works unchanged:

    def test_decode_speed(sllm_bench):
        run = sllm_bench.speed("decode_tps", model="smollm2-135m-instruct-q4_1",
                               backend="llama_cpp", prompt_tokens=128, gen_tokens=64, reps=10)
        assert run.median("decode_tps") > 20          # tokens/s, the harness's own numbers

    pytest --benchmark-save=base
    pytest --benchmark-compare --benchmark-compare-fail=median:10%

Each round of the benchmark is one repetition; rounds are replayed from the measured
samples, nothing is re-timed. The record lands in --sllm-bench-out (default: a temporary
folder), so `sllm-bench compare` can gate the same runs. This module is loaded in every
pytest session: it imports nothing heavy at import time.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from harness.engine.request import RunRequest
    from harness.records import Record

#: RunRequest field -> the speed() argument it comes from (for error messages)
ARGUMENTS = {"models": "model", "backends": "backend", "prompts": "prompt_tokens",
             "gens": "gen_tokens"}


def pytest_addoption(parser) -> None:
    group = parser.getgroup("sllm-bench", "sllm-bench performance tests")
    group.addoption("--sllm-bench-out", default=None, metavar="DIR",
                    help="keep the run records of sllm_bench tests in DIR "
                    "(default: a temporary folder)")


@dataclass(frozen=True)
class SpeedRun:
    """The record of one speed run and the path it was written to."""

    record: Record
    path: Path

    def samples(self, metric: str) -> list[float]:
        m = self.record.metric(metric)
        if m is None:
            raise KeyError(f"no metric {metric!r} in {self.path}")
        return [s for s in m.samples if s is not None]

    def median(self, metric: str) -> float:
        from harness.measure.stats import percentile

        return percentile(self.samples(metric), 50)


class Replay:
    """A clock for benchmark.pedantic under which round i lasts exactly samples[i] seconds.

    pedantic reads the timer once before and once after each round; the second reading
    advances the clock by the next sample.
    """

    __name__ = "sllm_bench.replay"

    def __init__(self, samples: list[float]):
        self._samples = iter(samples)
        self._now = 0.0
        self._running = False

    def __call__(self) -> float:
        if self._running:
            self._now += next(self._samples)
        self._running = not self._running
        return self._now


def record_samples(benchmark, seconds: list[float]) -> None:
    """Hand externally timed samples to a pytest-benchmark fixture, one round each.

    pytest-benchmark has no public API for this (its issue #52); pedantic() with the
    fixture's timer swapped for a Replay clock goes through its normal bookkeeping.
    """
    timer = benchmark._timer
    benchmark._timer = Replay(seconds)
    try:
        benchmark.pedantic(lambda: None, rounds=len(seconds), iterations=1, warmup_rounds=0)
    finally:
        benchmark._timer = timer


class SllmBench:
    """The `sllm_bench` fixture's value: one speed() call per test."""

    def __init__(self, request, out: Path):
        self._request = request
        self._out = out

    def _benchmark(self):
        try:
            return self._request.getfixturevalue("benchmark")
        except pytest.FixtureLookupError:
            pytest.fail("sllm_bench needs pytest-benchmark: pip install 'sllm-bench[test]'",
                        pytrace=False)

    def _run_request(self, **fields) -> RunRequest:
        """The RunRequest of speed()'s arguments; a bad one fails the test in one line."""
        from pydantic import ValidationError

        from harness.api import RunRequest

        try:
            return RunRequest(**fields)
        except ValidationError as e:
            err = e.errors()[0]
            field = str(err["loc"][0]) if err["loc"] else "request"
            msg = err["msg"].removeprefix("Value error, ")
            pytest.fail(f"sllm_bench.speed: {ARGUMENTS.get(field, field)}: {msg}",
                        pytrace=False)

    def _run(self, request: RunRequest) -> SpeedRun:
        """Plan and execute `request` (one speed setting) into a fresh folder under the
        output folder; a bad request or a failed run fails the test with its message."""
        from tempfile import mkdtemp

        from harness import api
        from harness.engine.session import Interrupted
        from harness.errors import BenchError

        def log(msg: str) -> None:  # captured by pytest, shown with a failing test
            print(msg, file=sys.stderr, flush=True)

        self._out.mkdir(parents=True, exist_ok=True)
        out = Path(mkdtemp(prefix=f"{self._request.node.name[:40]}-", dir=self._out))
        try:
            plan = api.plan(request)
            for w in plan.warnings + plan.notes:
                log(f"warning: {w}")
            result = api.execute(plan, out_dir=out, log=log)
        except Interrupted:
            raise KeyboardInterrupt from None  # Ctrl-C stops the pytest session as usual
        except BenchError as e:
            pytest.fail(f"sllm-bench run: {e}", pytrace=False)
        if len(plan.jobs) != 1 or len(result.records) != 1:
            pytest.fail(f"sllm-bench run: expected one record, got {len(result.records)} "
                        f"in {result.run_dir}", pytrace=False)
        key = plan.jobs[0].item_key(0)
        run = SpeedRun(result.records[0], result.run_dir / "records" / f"{key}.json")
        err = run.record.error
        if err:
            pytest.fail(f"sllm-bench run failed: {err['kind']}: {err['message']}",
                        pytrace=False)
        return run

    def speed(self, metric: str = "decode_tps", *, model: str | None = None,
              backend: str = "llama_cpp", device: str = "host", prompt_tokens: int = 128,
              gen_tokens: int = 64, threads: int | None = None, reps: int = 10,
              warmup: int = 1, timeout: float = 600.0,
              models_file: str | None = None) -> SpeedRun:
        """Run one speed setting and benchmark `metric` (a timed metric) with its samples."""
        from harness.gate.pytest_benchmark import as_seconds, medians

        benchmark = self._benchmark()  # first, so --benchmark-skip skips before the run
        run = self._run(self._run_request(
            models=(model,) if model else (), backends=(backend,), device=device,
            threads=(threads,) if threads else None, prompts=(prompt_tokens,),
            gens=(gen_tokens,), reps=reps, warmup=warmup, timeout=timeout, speed=True,
            tasks=(), models_file=models_file))
        measurement = run.record.metric(metric)
        seconds = as_seconds(measurement) if measurement else None
        if not seconds:
            pytest.fail(f"sllm_bench: {metric!r} is not a timed metric of this run",
                        pytrace=False)
        rec = run.record
        benchmark.extra_info.update({
            "model": rec.model_id, "model_sha256": rec.model["sha256"],
            "backend": rec.backend, "device": rec.device,
            "params": rec.to_dict()["params"], "metric": metric, "unit": measurement.unit,
            "exported_as": "seconds per unit of work", "record": str(run.path),
            "medians": medians(rec)})
        record_samples(benchmark, seconds)
        return run


@pytest.fixture
def sllm_bench(request, tmp_path_factory) -> SllmBench:
    """Run the harness's speed scenario and benchmark one metric (module docstring)."""
    out = request.config.getoption("sllm_bench_out")
    return SllmBench(request, Path(out) if out else tmp_path_factory.mktemp("sllm-bench"))
