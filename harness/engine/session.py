"""Execute a plan: run every job in its own worker, turn events into run records, and emit
every record (the workers', and the ones each scenario derives from them once its workers
are done: determinism across workers, parity) through one path: the record file, then
every sink (printers, collectors).

Records are named by their item's stable key and written as each finishes, so an
interrupted or crashed run keeps everything it finished, and `run --resume` redoes only
the keys without an ok record. run.json holds the request needed to resume.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from harness.engine import log_stderr
from harness.engine.plan import Job, Plan, backend_options
from harness.errors import BenchError, DataError, WriteError
from harness.records import (Measurement, Record, check_writable_dir, make_record,
                             new_run_id, now_iso, read_record, write_json)

MAX_MANIFEST_BYTES = 4 * 2**20


class Interrupted(BenchError):
    """SIGINT or SIGTERM: finished records are kept; the run can be resumed."""

    exit_code = 130


def verified_keys(run_dir: Path, run_id: str, plan, log: Callable[[str], None] = log_stderr
                  ) -> set[str]:
    """The plan items whose record in run_dir/records is really theirs: ok, of this run
    (run id), in the item's place of the plan (seq), of the job's backend, threads and
    model (sha256). A record copied from another run or renamed over another item's
    file is named and measured again, never taken for the item it claims to be."""
    shas = {m.spec.id: m.sha256 for m in plan.models.values()}
    done = set()
    for job in plan.jobs:
        for i in range(len(job.items)):
            key = job.item_key(i)
            path = run_dir / "records" / f"{key}.json"
            if not path.is_file():
                continue
            try:
                r = read_record(path)
            except DataError as e:
                log(f"resume: {e}; measuring it again")
                continue
            why = [f"{what} {got!r}, not {want!r}" for what, got, want in (
                ("run id", r.run_id, run_id), ("seq", r.seq, job.index * 1000 + i),
                ("backend", r.backend, job.backend),
                ("threads", r.params.get("threads"), job.threads),
                ("model sha256", r.model.get("sha256"), shas.get(job.model_id)))
                if got != want]
            if why:
                log(f"resume: {path} is not this run's record of {key} ({'; '.join(why)}); "
                    "measuring it again")
            elif r.ok:
                done.add(key)
    return done


def recorded_models(run_dir: Path) -> dict[str, tuple[str, Path]]:
    """model id -> (sha256, one record file) of the readable records in run_dir/records."""
    out: dict[str, tuple[str, Path]] = {}
    for p in sorted((run_dir / "records").glob("*.json")):
        try:
            r = read_record(p)
        except DataError:
            continue
        out.setdefault(r.model_id, (r.model.get("sha256"), p))
    return out


def read_manifest(run_dir: Path) -> dict:
    """run.json of a run folder (size-bounded, parsed); its request is validated by the
    caller."""
    path = run_dir / "run.json"
    if not path.is_file():
        raise DataError("not a run folder (no run.json)", path=run_dir)
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise DataError("run.json is too large", path=path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"run.json is not valid JSON ({e})".splitlines()[0], path=path) from None
    if not isinstance(data, dict) or not isinstance(data.get("request"), dict):
        raise DataError("run.json has no request to resume", path=path)
    return data


@dataclass
class Session:
    """One run of a plan into out_dir/run_id; execute() returns the records it produced."""

    plan: Plan
    out_dir: Path
    sinks: list[Callable[[Record], None]] = field(default_factory=list)
    progress: object | None = None
    log: Callable[[str], None] = log_stderr
    run_id: str = field(default_factory=new_run_id)
    skip: frozenset[str] = frozenset()
    records: list[Record] = field(default_factory=list)
    #: the run folder when it is not out_dir/run_id (a resumed folder that was renamed)
    folder: Path | None = None

    @property
    def run_dir(self) -> Path:
        return self.folder if self.folder is not None else self.out_dir / self.run_id

    @property
    def device(self):
        return self.plan.device

    # ------------------------------------------------------------------ emit
    def emit(self, key: str, record: Record) -> Record:
        """The one way a record leaves the engine: its file (atomic), then every sink."""
        write_json(self.run_dir / "records" / f"{key}.json", record)
        self.records.append(record)
        for sink in self.sinks:
            sink(record)
        return record

    def derived(self, key: str, *, seq: int, **fields) -> Record:
        """Make and emit a record the parent derives from worker records."""
        return self.emit(key, make_record(run_id=self.run_id, seq=seq, **fields))

    # ------------------------------------------------------------------ records
    def _record(self, job: Job, item: int, started: str, env: dict, artifact: dict,
                loaded: dict | None, measurements: list[Measurement] | None = None,
                error: dict | None = None, details: dict | None = None,
                conditions: dict | None = None, derived_params: dict | None = None) -> Record:
        model = self.plan.models[job.model_id]
        scenario = job.runs()
        it = job.items[item]
        params = {"threads": job.threads, "n_ctx": job.n_ctx, **scenario.params(it)}
        options = backend_options(job.backend, self.plan.request.options)
        if options:
            params["backend_options"] = options
        params.update(derived_params or {})
        return make_record(
            kind=scenario.kind(it), run_id=self.run_id, seq=job.index * 1000 + item,
            started_at=started,
            model={"id": model.spec.id, "format": model.spec.format, "sha256": model.sha256,
                   "size_bytes": model.size_bytes, "path": str(model.path),
                   "parameters": model.spec.parameters,
                   "quantization": model.spec.quantization, "artifact": artifact},
            backend={"name": job.backend, "info": (loaded or {}).get("info", {})},
            device={**self.device.model_dump(mode="json"), "cpus": self.device.cpu_set()},
            task=scenario.task(it), params=params, env=env, measurements=measurements,
            error=error, details=details, conditions=conditions)

    def _measurements(self, job: Job, item: int, raw: list[dict], extra: dict, loaded: dict,
                      artifact_bytes: int) -> tuple[list[Measurement], dict]:
        """The worker's measurements, what the scenario derives from them (and the params
        that go with those), then what every record carries (load, memory, size, wall
        time, energy) and what the scenario derives from the wall time."""
        from harness.scenarios.base import ResultContext

        ms = [Measurement(**m) for m in raw]
        derived, params = job.runs().on_result(
            job.items[item], ms, ResultContext(job.threads, artifact_bytes, self.bandwidth))
        ms += derived
        ms += [Measurement.of("load_s", (loaded["load_s"],)),
               Measurement.of("peak_rss_mb", (extra["peak_rss_bytes"] / 2**20,)),
               Measurement.of("rss_after_load_mb", (loaded["rss_after_load_bytes"] / 2**20,)),
               Measurement.of("model_size_mb", (artifact_bytes / 2**20,)),
               Measurement.of("elapsed_s", (extra["elapsed_s"],))]
        ms += self._energy(job, item, extra.get("conditions"))
        return ms + job.runs().derived(job.items[item], extra["elapsed_s"]), params

    def _energy(self, job: Job, item: int, conditions: dict | None) -> list[Measurement]:
        """Joules per generated token and tokens per joule, where the host counts energy."""
        from harness.measure.conditions import energy_per_token

        tokens = job.runs().generated_tokens(job.items[item])
        e = energy_per_token(conditions, tokens) if conditions and tokens else None
        if not isinstance(e, dict):
            return []
        return [Measurement.of("energy_j_per_token", (e["j_per_token"],)),
                Measurement.of("tokens_per_j", (e["tokens_per_j"],))]

    def _conditions_monitor(self, job: Job):
        """A conditions monitor for the job's worker, after an optional wait for quiet.
        The memory-bandwidth probe (once per host) runs here, never beside a worker."""
        from harness.measure.conditions import Monitor, wait_until_idle

        self.bandwidth(job.threads)
        cpus, limits = self.device.cpu_set(), self.device.conditions
        waited = None
        if self.plan.request.wait_idle > 0:
            waited = wait_until_idle(cpus, limits, self.plan.request.wait_idle)
            if waited["gave_up"]:
                self.log(f"--wait-idle: other processes still used {waited['other_cores']:.2f}"
                         f" cores after {waited['waited_s']:.0f} s; measuring anyway")
        return Monitor(cpus, limits), waited

    def bandwidth(self, threads: int) -> dict:
        """This host's memory bandwidth at `threads` (probed once, cached per host)."""
        from harness.measure.bandwidth import bandwidth_gbps

        return bandwidth_gbps(threads)

    def _first_start(self) -> str:
        """A resumed run keeps the started_at of its first session."""
        try:
            old = read_manifest(self.run_dir)
        except DataError:
            return now_iso()
        first = old.get("started_at")
        return first if old.get("run_id") == self.run_id and isinstance(first, str) \
            else now_iso()

    def _count_folder(self) -> tuple[int, int]:
        """(records, failed records) in the run folder: this session's and earlier ones'."""
        n = failed = 0
        for p in (self.run_dir / "records").glob("*.json"):
            try:
                r = read_record(p)
            except DataError:
                continue
            n += 1
            failed += not r.ok
        return n, failed

    def _write_manifest(self, manifest: dict, **update) -> None:
        manifest.update(update)
        write_json(self.run_dir / "run.json", manifest)

    # ------------------------------------------------------------------ run
    def execute(self) -> list[Record]:
        """Run every job; SIGINT/SIGTERM stop the current worker and raise Interrupted."""
        import signal

        from harness.measure.environment import environment

        check_writable_dir(self.out_dir, "results folder")  # before anything is written
        env = environment()
        self.run_dir.mkdir(parents=True, exist_ok=True)  # run ids are unique per process
        manifest = {"run_id": self.run_id, "started_at": self._first_start(),
                    "request": self.plan.request.model_dump(mode="json"),
                    "device": self.device.model_dump(mode="json"), "env": env,
                    "jobs": [{"model": j.model_id, "backend": j.backend, "threads": j.threads,
                              "scenario": j.scenario,
                              "keys": [j.item_key(i) for i in range(len(j.items))]}
                             for j in self.plan.jobs], "status": "running"}
        self._write_manifest(manifest)
        start = len(self.records)

        def on_term(signum, frame):
            raise KeyboardInterrupt

        previous = signal.signal(signal.SIGTERM, on_term)
        produced: dict[str, list[Record]] = {}  # scenario -> its workers' records
        try:
            ran = 0
            for job in self.plan.jobs:
                todo = [i for i in range(len(job.items)) if job.item_key(i) not in self.skip]
                if not todo:
                    continue
                if ran and self.device.cooldown_s:
                    time.sleep(self.device.cooldown_s)
                produced.setdefault(job.scenario, []).extend(self._run_job(job, todo, env))
                ran += 1
        except WriteError as e:  # a record or run.json could not be written
            try:
                self._write_manifest(manifest, status="failed", finished_at=now_iso(),
                                     error=str(e))
            except WriteError:
                pass  # the disk refuses everything: the message below still says so
            raise WriteError(f"{e}; {len(self.records) - start} finished record(s) kept in "
                             f"{self.run_dir}. Resume with: sllm-bench run --resume "
                             f"{self.run_dir}") from None
        except KeyboardInterrupt:
            self._write_manifest(manifest, status="interrupted", finished_at=now_iso())
            raise Interrupted(f"interrupted; {len(self.records) - start} finished record(s) "
                              f"kept in {self.run_dir}. Resume with: sllm-bench run --resume "
                              f"{self.run_dir}") from None
        finally:
            signal.signal(signal.SIGTERM, previous)
        mine = self.records[start:]
        failed = sum(not r.ok for r in mine)
        in_folder, failed_in_folder = self._count_folder()
        self._write_manifest(manifest, status="failed" if failed else "ok",
                             finished_at=now_iso(), records=in_folder,
                             failed=failed_in_folder)
        self._finish(produced)
        return self.records[start:]

    def _finish(self, produced: dict[str, list[Record]]) -> None:
        """Each scenario of the plan, in plan order, derives and emits its records from
        the ones its workers produced in this run."""
        by_scenario: dict[str, list[Job]] = {}
        for job in self.plan.jobs:
            by_scenario.setdefault(job.scenario, []).append(job)
        for name, jobs in by_scenario.items():
            jobs[0].runs().finish(jobs, produced.get(name, []), self.derived)

    def _run_job(self, job: Job, todo: list[int], env: dict) -> list[Record]:
        """Run one job's unfinished items in a worker; returns the records it emitted."""
        start = len(self.records)
        self._work(job, todo, env)
        return self.records[start:]

    def _work(self, job: Job, todo: list[int], env: dict) -> None:
        from harness import scenarios
        from harness.engine.artifacts import artifact
        from harness.engine.runner import run_worker

        started = now_iso()
        if self.progress:
            self.progress.start_job(job)
        model = self.plan.models[job.model_id]
        try:
            path, art = artifact(model, job.backend, self.plan.request.precision, self.log)
        except Exception as e:  # a failed preparation fails this job only
            for i in todo:
                self.emit(job.item_key(i), self._record(
                    job, i, started, env, {}, None,
                    error={"kind": "prepare", "message": str(e).splitlines()[0]}))
            return
        payload = {"backend": job.backend, "scenario": scenarios.ref(job.scenario),
                   "cpus": self.device.cpu_set(),
                   "load": {"path": str(path), "threads": job.threads, "n_ctx": job.n_ctx,
                            "options": dict(model.spec.options)},
                   "items": [job.items[i] for i in todo]}
        loaded: dict | None = None
        size = art.get("size_bytes", model.size_bytes)
        monitor, waited = self._conditions_monitor(job)
        for event in run_worker(payload, len(todo), timeout_s=self.plan.request.timeout,
                                memory_budget_mb=self.device.memory_budget_mb,
                                monitor=monitor):
            kind = event[0]
            if kind == "loaded":
                loaded = event[1]
            elif kind == "progress" and self.progress:
                self.progress.advance(1)
            elif kind == "result":
                i = todo[event[1]]
                cond = event[3].get("conditions")
                if cond is not None and waited is not None:
                    cond, waited = {**cond, "wait_idle": waited}, None  # before the first item
                ms, params = self._measurements(job, i, event[2], event[3], loaded, size)
                self.emit(job.item_key(i), self._record(job, i, started, env, art, loaded, ms,
                                                        details=event[3].get("details"),
                                                        conditions=cond, derived_params=params))
            elif kind == "failed":
                i = todo[event[1]]
                self.emit(job.item_key(i), self._record(job, i, started, env, art, loaded,
                                                        error=event[2]))


def total_units(jobs: Iterable[Job]) -> int:
    """Progress units of a plan (for a progress bar's total)."""
    return sum(j.units() for j in jobs)
