"""The coordinator: one Ray task per device, each asking for one unit of the device's
resource {"sllm-device:<profile>": 1}, so Ray (not this harness) decides where and when
a job runs and a device runs one job at a time.

Two small actors live on the coordinator's own node: a FileServer that serves the model
files a device lacks in byte ranges, and a Collector into which the devices put their
events (records, progress, log lines) as they come. The coordinator writes one run
folder per device under `out`: out/<device>/<run id>/ (run.json, records/, and for
verify the verdict and report), plus out/fleet.json (what was asked, for --resume).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import BenchError
from harness.fleet import cluster

Log = Callable[[str], None]


@dataclass
class DeviceRun:
    """One device's part of a fleet run: its run folders (a retry adds one), its
    records (as they came) and what went wrong."""

    device: str
    run_dirs: list[Path] = field(default_factory=list)
    records: list = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    env: dict | None = None
    job: str = ""
    started: float = 0.0
    received: set[str] = field(default_factory=set)
    finished: bool = False

    @property
    def failed(self) -> list:
        """Failed records (a retried job's first attempt included)."""
        return [r for r in self.records if not r.ok]

    @property
    def settled(self) -> bool:
        """Every item ended with an ok record (after any retries) and the last attempt
        finished."""
        ok = {r.path.stem for r in self.records if r.ok and r.path}
        return self.finished and all(r.path.stem in ok for r in self.failed if r.path)


def _actors(ray):
    @ray.remote(num_cpus=0)
    class FileServer:
        """Byte ranges of the files this coordinator ships, by sha256."""

        def __init__(self, files: dict[str, str]):
            self.files = files

        def read(self, sha256: str, offset: int, size: int) -> bytes:
            from harness.fleet.job import read_range

            if sha256 not in self.files:
                raise BenchError(f"no file with sha256 {sha256[:12]}... is shipped")
            return read_range(Path(self.files[sha256]), offset, size)

    @ray.remote(num_cpus=0)
    class Collector:
        """Events the devices send, kept until the coordinator drains them."""

        def __init__(self):
            self.events: list = []

        def put(self, tag: str, attempt: int, event: tuple) -> None:
            self.events.append((tag, attempt, event))

        def drain(self) -> list:
            out, self.events = self.events, []
            return out

    return FileServer, Collector


def _device_task(doc: dict, blobs: dict, collector, server, tag: str, attempt: int) -> dict:
    import ray

    from harness.fleet.device import run_job

    def send(event):
        collector.put.remote(tag, attempt, event)

    def fetch(sha256, offset, size):
        return ray.get(server.read.remote(sha256, offset, size))

    result = run_job(doc, blobs, send, fetch)
    ray.get(collector.put.remote(tag, attempt, ("done", result["run_id"])))  # flushed
    return result


class Fleet:
    """A fleet run: `run()` sends one job per device and gathers what comes back."""

    def __init__(self, requests: dict, out: Path, *, kind: str = "run",
                 retries: int = 0, resume: dict | None = None, log: Log = print,
                 on_record: Callable[[str, object], None] | None = None, shard: bool = False):
        self.requests, self.devices, self.out = requests, list(requests), Path(out)
        self.kind, self.retries, self.resume, self.log = kind, retries, resume or {}, log
        self.on_record = on_record or (lambda tag, rec: None)
        self.shard = shard
        self.runs = {d: DeviceRun(d) for d in self.devices}

    # ------------------------------------------------------------------ before anything
    def prepare(self) -> None:
        """Refuse a device that has not joined, then build every job (exit code 2)."""
        from harness.fleet import job as jobs
        from harness.records import check_writable_dir

        joined = cluster.joined_profiles()
        missing = [d for d in self.devices if d not in joined]
        if missing:
            raise BenchError(f"device(s) not joined: {', '.join(missing)} (joined: "
                             f"{', '.join(sorted(joined)) or 'none'}; on the device run: "
                             f"sllm-bench fleet join HEAD_ADDRESS --device PROFILE)")
        check_writable_dir(self.out, "--out")
        self.jobs, self.plans, self.sources = {}, {}, {}
        for i, d in enumerate(self.devices):
            req = self.requests[d]
            shard = {"index": i, "count": len(self.devices)} if self.shard else None
            self.plans[d] = device_plan(req, shard)
            state = self.resume.get(d, {})
            skip = self._verified(d, state) if state else ()
            doc, sources = jobs.build(req, kind=self.kind, skip=skip,
                                      run_id=state.get("run_id"), shard=shard)
            self.jobs[d] = doc
            self.sources.update(sources)

    def _verified(self, d: str, state: dict) -> list[str]:
        """The resumed device's finished items whose records are really theirs (checked
        against the plan as a local --resume does: run id, seq, backend, threads, model);
        a record that only has the right file name is measured again."""
        from harness.engine.session import verified_keys

        done: set[str] = set()
        for name in state.get("run_dirs", ()):
            folder = self.out / d / name
            if folder.is_dir():
                done |= verified_keys(folder, name, self.plans[d],
                                      log=lambda s: self.log(f"[{d}] {s}"))
        return sorted(done)

    # ------------------------------------------------------------------ run
    def run(self) -> dict[str, DeviceRun]:
        import ray

        from harness.engine.session import Interrupted
        from harness.records import write_json

        self.prepare()
        FileServer, Collector = _actors(ray)
        here = _here(ray)
        models = {k[6:]: str(v) for k, v in self.sources.items() if k.startswith("model:")}
        server = FileServer.options(scheduling_strategy=here).remote(models)
        collector = Collector.options(scheduling_strategy=here).remote()
        blobs = {}
        for rel, src in self.sources.items():
            if not rel.startswith("model:"):
                data = Path(src).read_bytes()
                blobs[_sha(data)] = data
        write_json(self.out / "fleet.json", self._manifest("running"))
        task = ray.remote(max_calls=1)(_device_task)  # a fresh worker process per job
        pending: dict = {}
        attempts = {d: 0 for d in self.devices}

        def submit(d):
            doc = dict(self.jobs[d])
            run = self.runs[d]
            run.started, run.job = time.monotonic(), ""
            if attempts[d]:
                doc["skip"] = sorted(set(doc.get("skip", ())) | run.received)
                doc.pop("run_id", None)
            from harness.records import new_run_id

            doc.setdefault("run_id", new_run_id())
            run.run_dirs.append(self.out / d / doc["run_id"])
            self._start_folder(d, doc["run_id"])
            ref = task.options(resources={f"sllm-device:{d}": 1}, num_cpus=0,
                               max_retries=0).remote(doc, blobs, collector, server, d,
                                                   attempts[d])
            pending[ref] = d
            self.log(f"[{d}] job sent (attempt {attempts[d] + 1})")

        try:
            for d in self.devices:
                submit(d)
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
                self._events(ray.get(collector.drain.remote()), attempts)
                for ref in ready:
                    d = pending.pop(ref)
                    self._events(ray.get(collector.drain.remote()), attempts)
                    if self._gather(ray, ref, d) or attempts[d] >= self.retries:
                        continue
                    attempts[d] += 1
                    submit(d)
        except KeyboardInterrupt:
            for ref in pending:
                ray.cancel(ref, force=True)
            try:
                self._events(ray.get(collector.drain.remote(), timeout=5), attempts)
            except Exception:  # noqa: BLE001 - the records already written are kept
                pass
            write_json(self.out / "fleet.json", self._manifest("interrupted"))
            kept = sum(len(r.records) for r in self.runs.values())
            raise Interrupted(f"interrupted; {kept} record(s) kept in {self.out}. Resume "
                              f"with: sllm-bench fleet {self.kind} --resume {self.out}") from None
        failed = not all(r.settled for r in self.runs.values())
        write_json(self.out / "fleet.json", self._manifest("failed" if failed else "ok"))
        return self.runs

    # ------------------------------------------------------------------ pieces
    def _manifest(self, status: str) -> dict:
        from harness.records import now_iso

        return {"schema": "sllm-bench/fleet", "kind": self.kind, "status": status,
                "updated_at": now_iso(), "shard": self.shard,
                "requests": {d: r.model_dump(mode="json") for d, r in self.requests.items()},
                "devices": {d: {"run_dirs": [p.name for p in r.run_dirs],
                                "errors": r.errors} for d, r in self.runs.items()}}

    def _start_folder(self, d: str, run_id: str) -> None:
        from harness.records import now_iso, write_json

        run_dir = self.out / d / run_id
        (run_dir / "records").mkdir(parents=True, exist_ok=True)
        if not (run_dir / "run.json").is_file():
            plan = self.plans[d]
            write_json(run_dir / "run.json", {
                "run_id": run_id, "started_at": now_iso(),
                "request": plan.request.model_dump(mode="json"),
                "device": plan.device.model_dump(mode="json"), "status": "running",
                "fleet": {"device": d}})

    def _events(self, events: list, attempts: dict) -> None:
        from harness.records import atomic_write_text, read_record

        for tag, attempt, event in events:
            run = self.runs[tag]
            if attempt != attempts[tag]:
                continue  # a cancelled attempt's late word
            kind = event[0]
            if kind == "env":
                run.env = event[1]
                host = event[1].get("host", {})
                self.log(f"[{tag}] on {host.get('cpu_model', '?')}, "
                         f"{host.get('cores_allowed', '?')} core(s), fingerprint "
                         f"{host.get('id', '?')}")
            elif kind == "job":
                run.job = event[1]
                self.log(f"[{tag}] {event[1]}")
            elif kind == "log":
                self.log(f"[{tag}] {event[1]}")
            elif kind == "record":
                key, text = event[1], event[2]
                path = run.run_dirs[-1] / "records" / f"{key}.json"
                atomic_write_text(path, text)
                rec = read_record(path)
                run.records.append(rec)
                if rec.ok:
                    run.received.add(key)
                self.on_record(tag, rec)

    def _gather(self, ray, ref, d: str) -> bool:
        """The device's result (True), or its failure turned into failed records."""
        from ray.exceptions import RayTaskError, TaskCancelledError

        from harness.records import atomic_write_text

        run = self.runs[d]
        try:
            result = ray.get(ref)
        except TaskCancelledError:
            raise KeyboardInterrupt from None
        except RayTaskError as e:
            cause = e.cause if getattr(e, "cause", None) is not None else e
            reason = f"job failed on the device: {str(cause).strip().splitlines()[-1]}"
        except Exception as e:  # noqa: BLE001 - any other Ray error: the node is gone
            during = f", during {run.job}" if run.job else ""
            reason = (f"device lost after {time.monotonic() - run.started:.0f} s{during} "
                      f"({type(e).__name__})")
        else:
            run_dir = run.run_dirs[-1]
            for rel, text in result["files"].items():
                if rel == "run.json":
                    text = _coordinator_manifest(text, self.plans[d])
                if rel.startswith("records/") and rel[8:-5] in run.received | {
                        r.path.stem for r in run.records if r.path}:
                    continue
                atomic_write_text(run_dir / rel, text)
            self.log(f"[{d}] done: {run_dir} ({result['elapsed_s']:.1f} s on the device)")
            run.finished = True
            return True
        run.errors.append(reason)
        self.log(f"[{d}] {reason}")
        self._fail_rest(d, reason)
        return False

    def _fail_rest(self, d: str, reason: str) -> None:
        """A failed record for every planned item of `d` that did not come back."""
        from harness.records import make_record, now_iso, read_record, write_json

        run, plan = self.runs[d], self.plans[d]
        run_dir = run.run_dirs[-1]
        have = {p.stem for p in (run_dir / "records").glob("*.json")}
        skip = set(self.jobs[d].get("skip", ()))
        env = run.env or {"host": {}}
        for job in plan.jobs:
            model = plan.models[job.model_id]
            s = job.runs()
            for i, it in enumerate(job.items):
                key = job.item_key(i)
                if key in have or key in skip or key in run.received:
                    continue
                rec = make_record(
                    kind=s.kind(it), run_id=run_dir.name, seq=job.index * 1000 + i,
                    started_at=now_iso(),
                    model={"id": model.spec.id, "format": model.spec.format,
                           "sha256": model.sha256, "size_bytes": model.size_bytes,
                           "path": str(model.path), "parameters": model.spec.parameters,
                           "quantization": model.spec.quantization, "artifact": {}},
                    backend={"name": job.backend, "info": {}},
                    device={**plan.device.model_dump(mode="json"), "cpus": plan.device.cpu_set()},
                    task=s.task(it), params={"threads": job.threads, "n_ctx": job.n_ctx,
                                             **s.params(it)},
                    env=env, error={"kind": "device_lost" if reason.startswith("device lost")
                                    else "device", "message": reason})
                path = run_dir / "records" / f"{key}.json"
                write_json(path, rec)
                run.records.append(read_record(path))
                self.on_record(d, run.records[-1])


def _coordinator_manifest(text: str, plan) -> str:
    """The device's run.json with the coordinator's request (names, not the device's job
    folder paths), so `run --resume` and the report read it here."""
    import json

    from harness.records import to_json

    data = json.loads(text)
    data["request"] = plan.request.model_dump(mode="json")
    data["fleet"] = {"device": plan.device.name}
    return to_json(data)


def device_plan(request, shard: dict | None = None):
    """The device's plan as the device will make it (its shard's slice, if sharded)."""
    from harness.engine.plan import from_request

    plan = from_request(request)
    if shard:
        from harness.fleet.shard import restrict

        plan = restrict(plan, shard["index"], shard["count"])
    return plan


def _here(ray):
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    return NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)


def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()
