"""Execute a plan: resolve models, prepare ONNX where needed, run every job in its own
worker, turn events into run records and stream them to sinks (results files, printers).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness import backends as backend_registry
from harness.plan import Job
from harness.results import Measurement, make_record, new_run_id, now_iso, write_json
from harness.specs import DeviceProfile, ModelSpec

TASK_SPEED = {"name": "speed", "version": 1}


@dataclass
class ResolvedModel:
    spec: ModelSpec
    path: Path
    sha256: str

    @property
    def size_bytes(self) -> int:
        return self.path.stat().st_size


@dataclass
class Session:
    """Everything one `run` needs; `execute()` returns the records it produced."""

    models: dict[str, ResolvedModel]
    device: DeviceProfile
    jobs: list[Job]
    out_dir: Path
    catalogue_path: Path
    precision: str = "int4"
    timeout_s: float = 600.0
    sinks: list[Callable[[dict], None]] = field(default_factory=list)
    progress: object | None = None
    log: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr)
    run_id: str = field(default_factory=new_run_id)
    argv: list[str] = field(default_factory=list)

    @property
    def run_dir(self) -> Path:
        return self.out_dir / self.run_id

    # ------------------------------------------------------------------ artifacts
    def artifact(self, model: ResolvedModel, backend: str) -> tuple[Path, dict]:
        """The file or folder the backend reads, preparing ONNX on first use."""
        kind = backend_registry.artifact_kind(backend)
        if kind == "gguf":
            return model.path, {"kind": "gguf"}
        from harness import prepare

        folder = prepare.onnx_dir(model.sha256, self.precision)
        if not prepare.is_prepared(model.sha256, self.precision):
            self.log(f"preparing ONNX ({self.precision}) for {model.spec.id}: first use, "
                     "this takes a few minutes and is cached")
            proc = subprocess.run(
                [sys.executable, "-m", "harness", "--models-file", str(self.catalogue_path),
                 "prepare", model.spec.id, "--precision", self.precision], check=False)
            if proc.returncode != 0 or not prepare.is_prepared(model.sha256, self.precision):
                raise RuntimeError(f"ONNX preparation of {model.spec.id} failed "
                                   f"(exit code {proc.returncode})")
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        return folder, {"kind": "onnx", "precision": self.precision, "path": str(folder),
                        "size_bytes": size}

    # ------------------------------------------------------------------ records
    def _record(self, seq: int, job: Job, item: int, started: str, env: dict, artifact: dict,
                loaded: dict | None, measurements: list[Measurement] | None = None,
                error: dict | None = None) -> dict:
        model = self.models[job.model_id]
        setting = job.settings[item]
        return make_record(
            run_id=self.run_id, seq=seq, started_at=started,
            model={"id": model.spec.id, "format": model.spec.format, "sha256": model.sha256,
                   "size_bytes": model.size_bytes, "path": str(model.path),
                   "parameters": model.spec.parameters,
                   "quantization": model.spec.quantization, "artifact": artifact},
            backend={"name": job.backend, "info": (loaded or {}).get("info", {})},
            device={**self.device.model_dump(mode="json"), "cpus": self.device.cpu_set()},
            task=TASK_SPEED,
            params={"prompt_tokens": setting.prompt_tokens, "gen_tokens": setting.gen_tokens,
                    "threads": job.threads, "n_ctx": job.n_ctx,
                    "repetitions": job.repetitions, "warmup": job.warmup},
            env=env, measurements=measurements, error=error)

    def _job_measurements(self, raw: list[dict], extra: dict, loaded: dict,
                          artifact_bytes: int) -> list[Measurement]:
        ms = [Measurement(**m) for m in raw]
        ms.append(Measurement("load_s", "s", False, (loaded["load_s"],)))
        ms.append(Measurement("peak_rss_mb", "MB", False, (extra["peak_rss_bytes"] / 2**20,)))
        ms.append(Measurement("rss_after_load_mb", "MB", False,
                              (loaded["rss_after_load_bytes"] / 2**20,)))
        ms.append(Measurement("model_size_mb", "MB", False, (artifact_bytes / 2**20,)))
        return ms

    def _emit(self, record: dict) -> None:
        name = (f"{record['seq']:04d}-{record['backend']['name']}-{record['model']['id']}"
                f"-p{record['params']['prompt_tokens']}-g{record['params']['gen_tokens']}"
                f"-t{record['params']['threads']}.json")
        write_json(self.run_dir / "records" / name, record)
        for sink in self.sinks:
            sink(record)

    # ------------------------------------------------------------------ run
    def execute(self) -> list[dict]:
        from harness.provenance import environment
        from harness.runner import run_worker

        env = environment()
        manifest = {"run_id": self.run_id, "argv": self.argv, "started_at": now_iso(),
                    "device": self.device.model_dump(mode="json"), "env": env,
                    "jobs": [{"model": j.model_id, "backend": j.backend, "threads": j.threads,
                              "settings": [s.__dict__ for s in j.settings]} for j in self.jobs],
                    "status": "running"}
        write_json(self.run_dir / "run.json", manifest)
        records: list[dict] = []
        seq = 0
        for n, job in enumerate(self.jobs):
            if n and self.device.cooldown_s:
                time.sleep(self.device.cooldown_s)
            started = now_iso()
            if self.progress:
                self.progress.start_job(job)
            model = self.models[job.model_id]
            try:
                path, artifact = self.artifact(model, job.backend)
            except Exception as e:  # a failed preparation fails this job only
                error = {"kind": "prepare", "message": str(e)}
                for item in range(len(job.settings)):
                    rec = self._record(seq, job, item, started, env, {}, None, error=error)
                    seq += 1
                    records.append(rec)
                    self._emit(rec)
                continue
            artifact_bytes = artifact.get("size_bytes", model.size_bytes)
            payload = {"backend": job.backend, "scenario": job.scenario,
                       "cpus": self.device.cpu_set(),
                       "load": {"path": str(path), "threads": job.threads, "n_ctx": job.n_ctx,
                                "options": dict(model.spec.options)},
                       "shared": {"repetitions": job.repetitions, "warmup": job.warmup},
                       "items": [s.__dict__ for s in job.settings]}
            loaded: dict | None = None
            budget = self.device.memory_budget_mb
            for event in run_worker(payload, len(job.settings), timeout_s=self.timeout_s,
                                    memory_budget_mb=budget):
                kind = event[0]
                if kind == "loaded":
                    loaded = event[1]
                elif kind == "progress":
                    if self.progress:
                        self.progress.advance(1)
                elif kind == "result":
                    ms = self._job_measurements(event[2], event[3], loaded, artifact_bytes)
                    rec = self._record(seq, job, event[1], started, env, artifact, loaded, ms)
                elif kind == "failed":
                    rec = self._record(seq, job, event[1], started, env, artifact, loaded,
                                       error=event[2])
                if kind in ("result", "failed"):
                    seq += 1
                    records.append(rec)
                    self._emit(rec)
        failed = sum(r["status"] == "failed" for r in records)
        write_json(self.run_dir / "run.json",
                   {**manifest, "status": "failed" if failed else "ok",
                    "finished_at": now_iso(), "records": len(records), "failed": failed})
        return records
