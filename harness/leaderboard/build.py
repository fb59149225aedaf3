"""Fold run records into the leaderboard document: rows, groups, ranking and score.

Rows: one per model x backend (x ONNX precision, x backend options set with --set) x
device profile x host x workload (prompt_tokens, gen_tokens, threads, depth, prompt
source), built from successful speed records (Record.kind "speed"); the latest record per
key wins (records.latest: by finished_at, then run_id, then seq) unless --all keeps every
one. Rows of different hosts under one profile name stay apart (the host fingerprint is in
the key) unless --merge-hosts. Each row carries speed (medians and sample standard
deviations, as records.flat_row gives them), memory, quality and parity (evidence.py:
joined by the artifact the backend ran), the profile's quality floors, the measurement
conditions (Record.conditions_state and its evidence), the PoC verdict of the same run
(verdict.json or verdict-<backend>.json in the run folder, matched by run id, model id,
backend and device) and provenance (model sha256, harness version and commit, runtime
versions, host fingerprint, date). Failed records are never rows; they are counted in
`sources`, as are records of other kinds (determinism, soak). A record found twice (same
run, seq, model, backend, device, task and params) counts once.

Ranking (rank.py): like for like, within a group (device profile x host x workload), and
only rows that meet every rule (conditions ok, parity within tolerance for ports, quality
floors met, complete speed) get a score (the reciprocal of the workload's end-to-end time,
relative to the group's fastest row) and a rank; the others are shown with the reasons.
The canonical workload of a profile (its `workload`, as the record carried its profile)
marks the headline group.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from harness.leaderboard.evidence import (QUALITY_METRICS, Evidence, as_int, as_num,
                                          as_str, floors)
from harness.leaderboard.rank import SCORE, policy, reasons, score_and_rank
from harness.records import Record, flat_row, latest
from harness.records.placement import EMULATED, MEASURED, placement

SCHEMA = "sllm-bench/leaderboard"
SCHEMA_VERSION = 2
BUDGET_KEYS = ("metric", "status", "max", "min", "prompt_tokens", "gen_tokens", "task", "unit",
               "measured", "bound", "detail", "method", "level")
__all__ = ["QUALITY_METRICS", "SCHEMA", "SCHEMA_VERSION", "SCORE", "build", "validate"]


def validate(doc: dict) -> None:
    """Check a leaderboard against its schema (a failure here is a harness bug)."""
    import jsonschema

    from harness.records import load_schema

    jsonschema.validate(doc, load_schema("leaderboard"))


# ------------------------------------------------------------------ keys
def workload(record: Record) -> dict:
    p = record.params
    return {"prompt_tokens": as_int(p.get("prompt_tokens")), "gen_tokens": as_int(p.get("gen_tokens")),
            "threads": as_int(p.get("threads")), "depth": as_int(p.get("depth")) or 0,
            "prompt_source": str(p.get("prompt_source") or "synthetic")}


def backend_options(record: Record) -> dict:
    """The backend settings the run set with --set (params "backend_options"): rows
    measured with other settings are other rows."""
    o = record.params.get("backend_options")
    return {str(k): v for k, v in o.items()} if isinstance(o, Mapping) else {}


def host_id(record: Record) -> str:
    return str(record.env["host"]["id"])


def measured_on(record: Record) -> dict:
    """On the profile's own hardware or emulated (harness.records.placement)."""
    return placement(record["device"], record.env["host"])


def row_key(record: Record, merge_hosts: bool = False) -> tuple:
    return (record.model_id, record.backend, record.precision, record.device,
            None if merge_hosts else host_id(record), measured_on(record)["on"],
            *workload(record).values(),
            json.dumps(backend_options(record), sort_keys=True, default=str))


def identity(r: Record) -> tuple:
    """Copies of one record share this: run, seq and Record.key() (seq alone is not unique:
    verify reuses it, and its two determinism workers differ only in params.worker)."""
    return (r.run_id, r.seq, *r.key())


def _group(r: Record) -> str:
    return r.kind if r.kind in ("speed", "quality", "parity") else "other"


def canonical_workload(record: Record) -> dict | None:
    """The profile's canonical workload as the record carried its profile, with the
    profile's threads (threads "all": the CPUs the worker was pinned to)."""
    dev = record["device"]
    w = dev.get("workload") if isinstance(dev, Mapping) else None
    if not isinstance(w, Mapping) or as_int(w.get("prompt_tokens")) is None:
        return None
    threads = dev.get("threads")
    cpus = dev.get("cpus")
    if not isinstance(threads, int) or isinstance(threads, bool):
        threads = len(cpus) if isinstance(cpus, (list, tuple)) and cpus else None
    return {"prompt_tokens": as_int(w.get("prompt_tokens")), "gen_tokens": as_int(w.get("gen_tokens")),
            "threads": threads, "depth": as_int(w.get("depth")) or 0,
            "prompt_source": "synthetic"}


def group_label(device: str, host: str | None, w: Mapping, on: str = MEASURED) -> str:
    """A group's id; emulated rows form groups of their own, never ranked against rows
    measured on the profile's hardware."""
    src = "" if w["prompt_source"] == "synthetic" else f" {w['prompt_source']}"
    emulated = " \u00b7 emulated" if on == EMULATED else ""
    return (f"{device}{emulated} \u00b7 host {host or 'any'} \u00b7 p{w['prompt_tokens']} "
            f"g{w['gen_tokens']} t{w['threads']} d{w['depth']}{src}")


# ------------------------------------------------------------------ folding
def build(records: list[Record], verdicts: list[dict] = (), *, keep_all: bool = False,
          rejected: list[dict] = (), files_read: int | None = None,
          generated_at: str | None = None, ranking: dict | None = None) -> dict:
    """Validated records (+ verdicts) -> the leaderboard document (rows scored and ranked)."""
    from harness import __version__
    from harness.measure.environment import git_commit
    from harness.records import now_iso

    ranking = ranking or policy()
    merge = ranking["hosts"] == "merged"
    unique = latest(sorted(records, key=Record.when), identity)
    ok = [r for r in unique if r.ok]
    speed = [r for r in ok if r.kind == "speed"]
    kept = speed if keep_all else latest(speed, lambda r: row_key(r, merge))
    evidence = Evidence([r for r in ok if r.kind == "quality"],
                        [r for r in ok if r.kind == "parity"])
    verdict_by = {(v["run_id"], v["model"]["id"], v["backend"], v["device"]["name"]): v
                  for v in sorted(verdicts, key=lambda v: v["created_at"])}
    rows = [_row(r, evidence, verdict_by, ranking) for r in kept]
    groups = _groups(rows, kept, merge)
    score_and_rank(rows)
    order = {g["id"]: i for i, g in enumerate(groups)}
    rows.sort(key=lambda x: (order[x["group"]], x["rank"] is None, x["rank"] or 0,
                             x["model"]["id"], x["backend"], x["precision"] or ""))
    for g in groups:
        g["ranked"] = sum(r["rank"] is not None for r in rows if r["group"] == g["id"])
    kinds = [_group(r) for r in unique]
    return {
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION,
        "generated_at": generated_at or now_iso(),
        "harness": {"version": __version__, "git_commit": git_commit()},
        "keep": "all" if keep_all else "latest",
        "score": SCORE, "ranking": ranking, "groups": groups,
        "sources": {
            "files_read": len(records) + len(verdicts) + len(rejected)
            if files_read is None else files_read,
            "records": len(unique), "speed_records": kinds.count("speed"),
            "quality_records": kinds.count("quality"),
            "parity_records": kinds.count("parity"), "other_records": kinds.count("other"),
            "failed_records": sum(not r.ok for r in unique),
            "duplicate_records": len(records) - len(unique),
            "superseded_records": len(speed) - len(kept),
            "verdicts": len(verdicts),
            "rejected": [{"path": str(x["path"]), "reason": str(x["reason"])}
                         for x in rejected],
        },
        "rows": rows,
    }


def _groups(rows: list[dict], kept: list[Record], merge: bool) -> list[dict]:
    """Set each row's group and canonical flag; the groups, headline (canonical) first."""
    canon: dict[str, tuple] = {}
    for r in sorted(kept, key=Record.when):  # the latest record's profile wins
        c = canonical_workload(r)
        if c is not None:
            canon[r.device] = (c, r["device"].get("workload"))
    groups: dict[str, dict] = {}
    for row, r in zip(rows, kept):
        w = workload(r)
        host = None if merge else row["provenance"]["host"]
        gid = group_label(row["device"], None if host is None else host["id"], w,
                          row["measured_on"]["on"])
        c = canon.get(row["device"])
        row["group"] = gid
        row["canonical"] = c is not None and all(
            c[0][k] is None or c[0][k] == w[k] for k in c[0])
        g = groups.setdefault(gid, {
            "id": gid, "device": row["device"], "host": host, "workload": w,
            "canonical": row["canonical"],
            "canonical_workload": None if c is None else dict(c[1]), "rows": 0, "ranked": 0})
        g["rows"] += 1
    return sorted(groups.values(), key=lambda g: (g["device"], not g["canonical"],
                                                  g["host"]["id"] if g["host"] else "",
                                                  tuple(str(v) for v in g["workload"].values())))


def e2e_ms(r: Record) -> float | None:
    """The row's end-to-end time (harness.leaderboard.rank: the score's definition)."""
    measured = as_num(r.stat("e2e_ms"))
    if measured is not None:
        return measured
    ttft, decode, gen = r.stat("ttft_ms"), r.stat("decode_tps"), r.params.get("gen_tokens")
    if not (ttft and decode and isinstance(gen, int) and gen >= 1):
        return None
    return as_num(ttft + 1000.0 * (gen - 1) / decode)


def _row(r: Record, evidence: Evidence, verdicts: dict, ranking: dict) -> dict:
    flat = flat_row(r)
    model, env = r.model, r.env
    host = env["host"]
    size = model.get("size_bytes")
    verdict = verdicts.get((r.run_id, r.model_id, r.backend, r.device))
    speed_cols = ("ttft_ms", "ttft_ms_sd", "prefill_tps", "prefill_tps_sd", "decode_tps",
                  "decode_tps_sd", "itl_p50_ms", "itl_p90_ms", "itl_p99_ms", "load_s")
    quality = evidence.quality_of(r)
    c = r.conditions
    evid = [str(e) for e in c.get("evidence", ())] if c is not None and isinstance(
        c.get("evidence"), (list, tuple)) else []
    row = {
        "rank": None, "score": None, "group": "", "canonical": False, "pareto": False,
        "measured_on": measured_on(r),
        "unranked": [],
        "model": {"id": model["id"], "sha256": model["sha256"], "format": model["format"],
                  "size_mb": None if size is None else size / 2**20,
                  "parameters": as_str(model.get("parameters")),
                  "quantization": as_str(model.get("quantization"))},
        "backend": r.backend, "precision": r.precision,
        "device": r.device,
        "settings": {**{k: v for k, v in workload(r).items()},
                     "repetitions": as_int(r.params.get("repetitions")),
                     **({"backend_options": opts} if (opts := backend_options(r)) else {})},
        "speed": {**{c: as_num(flat[c]) for c in speed_cols}, "e2e_ms": e2e_ms(r)},
        "memory": {"peak_rss_mb": as_num(flat["peak_rss_mb"]),
                   "rss_after_load_mb": as_num(r.stat("rss_after_load_mb")),
                   "model_size_mb": as_num(flat["model_size_mb"])},
        "quality": quality,
        "quality_floors": floors(r, quality),
        "parity": evidence.parity_of(r, ranking["parity"]),
        "conditions": {"state": r.conditions_state, "evidence": evid},
        "verdict": None if verdict is None else {
            "verdict": verdict["verdict"], "run_id": verdict["run_id"],
            "created_at": verdict["created_at"],
            "budgets": [{k: b[k] for k in BUDGET_KEYS if k in b} for b in verdict["budgets"]]},
        "provenance": {
            "run_id": r.run_id, "seq": r.seq, "date": r["finished_at"],
            "harness_version": env["harness_version"], "git_commit": env["git_commit"],
            "runtimes": {str(k): as_str(v) for k, v in env["runtimes"].items()},
            "host": {"id": str(host["id"]), "cpu_model": str(host["cpu_model"]),
                     "cores_logical": as_int(host["cores_logical"]),
                     "memory_bytes": as_int(host["memory_bytes"]), "os": str(host["os"]),
                     "machine": as_str(host.get("machine"))},
        },
    }
    row["unranked"] = reasons(row, r.conditions_state, evid, ranking)
    return row
