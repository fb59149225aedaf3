"""Execute a plan: prepare ONNX where needed, run every job in its own worker, turn events
into run records and stream them to sinks (record files, printers, progress).

Records are named by their item's stable key and written as each finishes, so an
interrupted or crashed run keeps everything it finished, and `run --resume` redoes only
the keys without an ok record. run.json holds the request needed to resume.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness import backends as backend_registry
from harness.errors import BenchError, DataError
from harness.plan import Job
from harness.results import (Measurement, make_record, new_run_id, now_iso, read_record,
                             write_json)
from harness.specs import DeviceProfile, ModelSpec

TASK_SPEED = {"name": "speed", "version": 1, "kind": "speed"}
MAX_MANIFEST_BYTES = 4 * 2**20


class Interrupted(BenchError):
    """SIGINT or SIGTERM: finished records are kept; the run can be resumed."""

    exit_code = 130


def _folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


@dataclass
class ResolvedModel:
    spec: ModelSpec
    path: Path
    sha256: str

    @property
    def size_bytes(self) -> int:
        return _folder_size(self.path) if self.path.is_dir() else self.path.stat().st_size


def finished_keys(run_dir: Path) -> set[str]:
    """Keys of the items that already have a valid ok record in run_dir/records."""
    done = set()
    for p in sorted((run_dir / "records").glob("*.json")):
        try:
            if read_record(p)["status"] == "ok":
                done.add(p.stem)
        except DataError:
            pass  # unreadable: redo it
    return done


def read_manifest(run_dir: Path) -> dict:
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
    """Everything one `run` needs; `execute()` returns the records it produced."""

    models: dict[str, ResolvedModel]
    device: DeviceProfile
    jobs: list[Job]
    out_dir: Path
    catalogue_path: Path
    request: dict = field(default_factory=dict)
    precision: str = "int4"
    timeout_s: float = 600.0
    sinks: list[Callable[[dict], None]] = field(default_factory=list)
    progress: object | None = None
    log: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr)
    run_id: str = field(default_factory=new_run_id)
    skip: set[str] = field(default_factory=set)

    @property
    def run_dir(self) -> Path:
        return self.out_dir / self.run_id

    # ------------------------------------------------------------------ artifacts
    def artifact(self, model: ResolvedModel, backend: str) -> tuple[Path, dict]:
        """The file or folder the backend reads, preparing ONNX on first use."""
        if backend_registry.artifact_kind(backend) == "gguf":
            return model.path, {"kind": "gguf"}
        if model.spec.format == "onnx":
            return model.path, {"kind": "onnx", "precision": "as supplied",
                                "path": str(model.path), "size_bytes": _folder_size(model.path)}
        from harness import prepare
        from harness.models import check_onnx_folder

        folder = prepare.onnx_dir(model.sha256, self.precision)
        if not prepare.is_prepared(model.sha256, self.precision):
            self.log(f"preparing ONNX ({self.precision}) for {model.spec.id}: first use, "
                     "this takes a minute or more and is cached")
            proc = subprocess.run(
                [sys.executable, "-m", "harness", "--models-file", str(self.catalogue_path),
                 "prepare", str(model.path), "--precision", self.precision], check=False)
            if proc.returncode != 0 or not prepare.is_prepared(model.sha256, self.precision):
                raise RuntimeError(f"ONNX preparation of {model.spec.id} failed "
                                   f"(exit code {proc.returncode})")
        check_onnx_folder(folder)  # a damaged cache entry fails here, with its path
        return folder, {"kind": "onnx", "precision": self.precision, "path": str(folder),
                        "size_bytes": _folder_size(folder)}

    # ------------------------------------------------------------------ records
    def _record(self, job: Job, item: int, started: str, env: dict, artifact: dict,
                loaded: dict | None, measurements: list[Measurement] | None = None,
                error: dict | None = None, details: dict | None = None) -> dict:
        model = self.models[job.model_id]
        params = {"threads": job.threads, "n_ctx": job.n_ctx}
        if job.scenario == "speed":
            task = TASK_SPEED
            params.update(job.items[item], **job.shared)
            if measurements:
                params["memory_bandwidth"] = self.bandwidth(job.threads)
        else:
            task = job.items[item]["task"]
            params.update({k: v for k, v in job.items[item].items()
                           if k not in ("task", "items", "prompts", "text")})
            if "limit" in task:
                params["limit"] = task["limit"]
        return make_record(
            run_id=self.run_id, seq=job.index * 1000 + item, started_at=started,
            model={"id": model.spec.id, "format": model.spec.format, "sha256": model.sha256,
                   "size_bytes": model.size_bytes, "path": str(model.path),
                   "parameters": model.spec.parameters,
                   "quantization": model.spec.quantization, "artifact": artifact},
            backend={"name": job.backend, "info": (loaded or {}).get("info", {})},
            device={**self.device.model_dump(mode="json"), "cpus": self.device.cpu_set()},
            task=task, params=params, env=env, measurements=measurements, error=error,
            details=details)

    def _measurements(self, job: Job, item: int, raw: list[dict], extra: dict, loaded: dict,
                      artifact_bytes: int) -> list[Measurement]:
        ms = [Measurement(**m) for m in raw]
        decode = next((m for m in ms if m.metric == "decode_tps"), None)
        if decode is not None:
            import statistics

            from harness.measure.bandwidth import decode_efficiency

            gbps = self.bandwidth(job.threads)["gbps"]
            ms.append(Measurement("decode_efficiency", "fraction of roofline", True, (
                decode_efficiency(statistics.median(decode.samples), artifact_bytes, gbps),)))
        ms += [Measurement("load_s", "s", False, (loaded["load_s"],)),
               Measurement("peak_rss_mb", "MB", False, (extra["peak_rss_bytes"] / 2**20,)),
               Measurement("rss_after_load_mb", "MB", False,
                           (loaded["rss_after_load_bytes"] / 2**20,)),
               Measurement("model_size_mb", "MB", False, (artifact_bytes / 2**20,)),
               Measurement("elapsed_s", "s", False, (extra["elapsed_s"],))]
        if job.scenario == "quality":
            n = job.items[item]["task"]["n_items"]
            ms.append(Measurement("items_per_s", "items/s", True, (n / extra["elapsed_s"],)))
        return ms

    def bandwidth(self, threads: int) -> dict:
        """This host's memory bandwidth at `threads` (probed once, cached per host)."""
        from harness.measure.bandwidth import bandwidth_gbps

        return bandwidth_gbps(threads)

    def _emit(self, job: Job, item: int, record: dict, records: list[dict]) -> None:
        write_json(self.run_dir / "records" / f"{job.item_key(item)}.json", record)
        records.append(record)
        for sink in self.sinks:
            sink(record)

    def _write_manifest(self, manifest: dict, **update) -> None:
        manifest.update(update)
        write_json(self.run_dir / "run.json", manifest)

    # ------------------------------------------------------------------ run
    def execute(self) -> list[dict]:
        """Run every job; SIGINT/SIGTERM stop the current worker and raise Interrupted."""
        import signal

        from harness.provenance import environment

        env = environment()
        self.run_dir.mkdir(parents=True, exist_ok=True)  # run ids are unique per process
        manifest = {"run_id": self.run_id, "started_at": now_iso(), "request": self.request,
                    "device": self.device.model_dump(mode="json"), "env": env,
                    "jobs": [{"model": j.model_id, "backend": j.backend, "threads": j.threads,
                              "scenario": j.scenario,
                              "keys": [j.item_key(i) for i in range(len(j.items))]}
                             for j in self.jobs], "status": "running"}
        self._write_manifest(manifest)
        records: list[dict] = []

        def on_term(signum, frame):
            raise KeyboardInterrupt

        previous = signal.signal(signal.SIGTERM, on_term)
        try:
            for n, job in enumerate(self.jobs):
                todo = [i for i in range(len(job.items)) if job.item_key(i) not in self.skip]
                if not todo:
                    continue
                if n and self.device.cooldown_s:
                    time.sleep(self.device.cooldown_s)
                self._run_job(job, todo, env, records)
        except KeyboardInterrupt:
            self._write_manifest(manifest, status="interrupted", finished_at=now_iso())
            raise Interrupted(f"interrupted; {len(records)} finished record(s) kept in "
                              f"{self.run_dir}. Resume with: sllm-bench run --resume "
                              f"{self.run_dir}") from None
        finally:
            signal.signal(signal.SIGTERM, previous)
        failed = sum(r["status"] == "failed" for r in records)
        self._write_manifest(manifest, status="failed" if failed else "ok",
                             finished_at=now_iso(), records=len(records), failed=failed)
        return records

    def _run_job(self, job: Job, todo: list[int], env: dict, records: list[dict]) -> None:
        from harness.runner import run_worker

        started = now_iso()
        if self.progress:
            self.progress.start_job(job)
        model = self.models[job.model_id]
        try:
            path, artifact = self.artifact(model, job.backend)
        except Exception as e:  # a failed preparation fails this job only
            for i in todo:
                self._emit(job, i, self._record(job, i, started, env, {}, None,
                                                error={"kind": "prepare", "message": str(e)}),
                           records)
            return
        payload = {"backend": job.backend, "scenario": job.scenario,
                   "cpus": self.device.cpu_set(),
                   "load": {"path": str(path), "threads": job.threads, "n_ctx": job.n_ctx,
                            "options": dict(model.spec.options)},
                   "shared": job.shared, "items": [job.items[i] for i in todo]}
        loaded: dict | None = None
        size = artifact.get("size_bytes", model.size_bytes)
        for event in run_worker(payload, len(todo), timeout_s=self.timeout_s,
                                memory_budget_mb=self.device.memory_budget_mb):
            kind = event[0]
            if kind == "loaded":
                loaded = event[1]
            elif kind == "progress" and self.progress:
                self.progress.advance(1)
            elif kind == "result":
                i = todo[event[1]]
                ms = self._measurements(job, i, event[2], event[3], loaded, size)
                self._emit(job, i, self._record(job, i, started, env, artifact, loaded, ms,
                                                details=event[3].get("details")), records)
            elif kind == "failed":
                i = todo[event[1]]
                self._emit(job, i, self._record(job, i, started, env, artifact, loaded,
                                                error=event[2]), records)
