"""`fleet run --tasks ... --shard`: each quality task's items split across the devices,
one contiguous slice each, then joined into one record per task.

Log-likelihood quality does not depend on the CPU that computes it (up to float rounding,
which the per-item samples keep), so the joined record's per-item samples are the shards'
samples in item order, and its numbers (acc, acc_norm, ...) are recomputed from them: the
same as one machine's. Metrics that are not per item (load time, memory, wall time) keep
one sample per shard; elapsed_s is the slowest shard's (the wall time of the split run)
and items_per_s is all items over that. A perplexity task is not split (its windows are
scored on the first device). The joined records go to OUT/shard/<run id>/, each naming
its shards (device, run id, host fingerprint, items) in details.shards.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from harness.errors import BenchError


def bounds(n: int, index: int, count: int) -> tuple[int, int]:
    """Items [start, end) of shard `index` of `count` over n items (sizes differ by <= 1)."""
    return n * index // count, n * (index + 1) // count


def restrict(plan, index: int, count: int):
    """The plan with only shard `index`'s slice of each quality task (other scenarios
    dropped: a sharded run measures quality only)."""
    from harness.scenarios.quality import QualityItem

    jobs = []
    for job in plan.jobs:
        items = []
        for it in job.items:
            if not isinstance(it, QualityItem):
                continue
            if it.task["kind"] == "perplexity":
                if index == 0:
                    items.append(it)
                continue
            start, end = bounds(len(it.items), index, count)
            if end > start:
                task = {**it.task, "n_items": end - start,
                        "shard": {"index": index, "count": count, "start": start, "end": end}}
                items.append(dataclasses.replace(it, task=task, items=it.items[start:end]))
        if items:
            jobs.append(dataclasses.replace(job, index=len(jobs), items=tuple(items)))
    if not jobs and index == 0:
        raise BenchError("--shard: no quality task to split (name some with --tasks)")
    return dataclasses.replace(plan, jobs=jobs)


def join(records: list) -> dict:
    """One quality record from its shards' records (in shard order), as a dict."""
    from harness.records import Measurement, make_record, new_run_id, now_iso

    first = records[0]
    if any(not r.ok for r in records):
        raise BenchError(f"--shard: a shard of {first.task_name} failed; nothing joined")
    n = [int(r.task.get("n_items") or 0) for r in records]
    names = list(dict.fromkeys(m for r in records for m in r.metrics()))
    ms = []
    for name in names:
        parts = [r.samples(name) for r in records]
        if name == "elapsed_s":
            samples: tuple = (max(s[0] for s in parts if s),)
        elif name == "items_per_s":
            continue
        elif all(len(p) == k for p, k in zip(parts, n)):
            samples = tuple(x for p in parts for x in p)  # per item, in item order
        else:
            samples = tuple(x for p in parts for x in p)  # one per shard
        ms.append(Measurement.of(name, samples))
    wall = next((m.samples[0] for m in ms if m.metric == "elapsed_s"), None)
    if wall and "items_per_s" in names:
        ms.append(Measurement.of("items_per_s", (sum(n) / wall,)))
    task = {k: v for k, v in first.task.items() if k != "shard"}
    task["n_items"] = sum(n)
    shards = [{"device": r.device, "run_id": r.run_id,
               "fingerprint": (r.env.get("host") or {}).get("id"),
               "items": [r.task["shard"]["start"], r.task["shard"]["end"]]
               if "shard" in r.task else None} for r in records]
    data = first.to_dict()
    rec = make_record(kind=first.kind, run_id=new_run_id(), seq=first.seq,
                      started_at=min(r["started_at"] for r in records),
                      model=data["model"], backend=data["backend"], device=data["device"],
                      task=task, params=data["params"], env=data["env"], measurements=ms,
                      details={**(data.get("details") or {}), "shards": shards})
    return {**rec.to_dict(), "finished_at": now_iso()}


def join_folder(out: Path, runs: dict, log=lambda s: None) -> Path | None:
    """Join the quality records of every device's run into OUT/shard/<run id>/."""
    from harness.records import new_run_id, now_iso, write_json

    by_key: dict[str, list] = {}
    for d, run in runs.items():
        for r in run.records:
            if r.kind != "quality" or r.path is None:
                continue
            by_key.setdefault(r.path.stem, []).append(r)
    if not by_key:
        return None
    run_id = new_run_id()
    run_dir = out / "shard" / run_id
    order = list(runs)
    joined = 0
    for key, recs in by_key.items():
        recs.sort(key=lambda r: (r.task.get("shard") or {}).get(
            "index", order.index(r.device) if r.device in order else 0))
        try:
            data = join(recs)
        except BenchError as e:
            log(f"shard: {e}")
            continue
        data["run_id"] = run_id
        write_json(run_dir / "records" / f"{key}.json", data)
        joined += 1
    write_json(run_dir / "run.json", {"run_id": run_id, "started_at": now_iso(),
                                      "finished_at": now_iso(), "status": "ok",
                                      "fleet": {"joined_from": order}, "records": joined})
    log(f"shard: {joined} joined record(s) in {run_dir}")
    return run_dir
