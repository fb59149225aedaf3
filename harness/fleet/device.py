"""What runs on a device: one job, exactly as a local run (harness.api.execute or
harness.api.verify, each worker in its own spawned process), in the device's own job
folder under its cache. Records, progress and log lines go back to the coordinator as
they come (`send(event)`); the finished run folder's files are the return value.

Nothing here imports Ray: the Ray task in harness/fleet/ray_engine.py calls `run_job`
with `send` and `fetch` bound to the coordinator's actors.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

Send = Callable[[tuple], None]


class Progress:
    """The progress protocol of api.execute (start_job, advance), forwarded."""

    def __init__(self, send: Send):
        self.send = send

    def start_job(self, job) -> None:
        self.send(("job", f"{job.scenario} {job.runs().describe(job)}"))

    def advance(self, n: int = 1) -> None:
        self.send(("advance", n))


def run_job(doc: dict, blobs: dict[str, bytes], send: Send,
            fetch: Callable[[str, int, int], bytes] | None) -> dict:
    """Run the job document `doc` here; returns {"run_id", "files": {relative path: text}}
    of the run folder it wrote."""
    from harness.fleet import job as jobs
    from harness.measure.environment import environment

    send(("env", environment()))
    root = jobs.cache_dir().parent / "jobs"
    folder = root / f"{doc.get('run_id', 'job')}-{doc['request']['device']}-{os.getpid()}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    try:
        jobs.place(folder, doc, blobs)
        request = jobs.unpack(doc, folder, fetch=fetch, log=lambda s: send(("log", s)))
        os.environ["SLLM_BENCH_HOME"] = str(folder)
        return run_request(doc, request, folder / "out", send)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run_request(doc: dict, request, out: Path, send: Send) -> dict:
    """Plan and run `request` into `out`, streaming each record with its key."""
    from harness.engine.plan import from_request
    from harness.engine.session import Session

    out.mkdir(parents=True, exist_ok=True)
    plan = from_request(request)
    if doc.get("shard"):
        from harness.fleet.shard import restrict

        plan = restrict(plan, doc["shard"]["index"], doc["shard"]["count"])
    seen: set[str] = set()

    def sink(record) -> None:
        rd = out / record.run_id / "records"
        for p in sorted(rd.glob("*.json")) if rd.is_dir() else []:
            if p.stem not in seen:
                seen.add(p.stem)
                send(("record", p.stem, p.read_text(encoding="utf-8")))

    log = lambda s: send(("log", s))  # noqa: E731
    started = time.monotonic()
    # as harness.api.execute does
    session = Session(plan=plan, out_dir=out, sinks=[sink], progress=Progress(send), log=log,
                      skip=frozenset(doc.get("skip", ())),
                      **({"run_id": doc["run_id"]} if doc.get("run_id") else {}))
    records = session.execute()
    run_dir = session.run_dir
    if doc["kind"] == "verify":
        judge(plan, session.run_id, run_dir, records, log)
    files = {p.relative_to(run_dir).as_posix(): p.read_text(encoding="utf-8")
             for p in sorted(run_dir.rglob("*")) if p.is_file() and p.suffix in
             (".json", ".md", ".html")}
    return {"run_id": run_dir.name, "files": files,
            "elapsed_s": time.monotonic() - started}


def judge(plan, run_id: str, run_dir: Path, records: list, log) -> None:
    """verify's verdict and report for a run that went through execute (as api.verify
    does, keeping the coordinator's run id)."""
    from harness.records import verdict_filename, write_json
    from harness.report import write_report
    from harness.verdict import verdict

    (model,) = plan.models.values()
    env = records[0].env if records else {}
    backends = list(dict.fromkeys(j.backend for j in plan.jobs))
    for backend in backends:
        mine = [r for r in records if r.backend == backend]
        doc = verdict(mine, plan.device, model={"id": model.spec.id, "sha256": model.sha256},
                      backend=backend, run_id=run_id, env=env, host_warnings=plan.warnings)
        write_json(run_dir / verdict_filename(backend, len(backends)), doc)
    write_report([run_dir], run_dir)
    log("verdict and report written")
