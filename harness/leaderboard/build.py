"""Fold run records into the leaderboard document: rows, composite score and rank.

Rows: one per model x backend (x ONNX precision) x device profile x settings (prompt_tokens,
gen_tokens, threads), built from successful speed records (Record.kind "speed"); the latest
record per key wins (records.latest: by finished_at, then run_id, then seq) unless --all
keeps every one. Each row carries speed (medians and sample standard deviations, as
records.flat_row gives them), memory, quality (per task, the latest quality record of the
same model file, i.e. model id and sha256, backend and device; each of its QUALITY_METRICS
is its summary mean: the accuracy for per-item 0/1 samples, the value itself for a single
perplexity sample), the PoC verdict of the same run (verdict.json or verdict-<backend>.json
in the run folder, matched by run id, model id, backend and device) and provenance (model
sha256, harness version and commit, runtime versions, host fingerprint, date). Failed
records are never rows; they are counted in `sources`, as are records of other kinds
(determinism, soak, parity). A record found twice (same run, seq, model, backend, device,
task and params) counts once.

Composite score (SCORE): within one device profile, each row's prefill tokens/s, decode
tokens/s and 1/TTFT are divided by the best value among that profile's rows, and the score
is 100 x the geometric mean of the three ratios (as LocalScore and MLPerf Client do). 100
means best on all three; a row missing one of them has no score. Rank is 1 + the number of
rows of the same profile with a higher score (ties share a rank; unscored rows are unranked).
"""

from __future__ import annotations

import math

from harness.records import Record, flat_row, latest

SCHEMA = "sllm-bench/leaderboard"
SCHEMA_VERSION = 1
QUALITY_METRICS = ("acc", "acc_norm", "acc_per_token", "exact_match", "token_perplexity",
                   "word_perplexity", "byte_perplexity", "bits_per_byte")
BUDGET_KEYS = ("metric", "status", "max", "min", "prompt_tokens", "gen_tokens", "task", "unit",
               "measured", "bound", "detail", "method", "level")
SCORE = {
    "name": "composite-v1",
    "formula": "100 * cbrt(prefill_tps / best_prefill_tps * decode_tps / best_decode_tps "
               "* best_ttft_ms / ttft_ms)",
    "normalised_within": "device",
    "higher_is_better": True,
    "range": [0, 100],
    "description": "Geometric mean of prefill tokens/s, decode tokens/s and 1/TTFT, each "
                   "divided by the best value among the rows of the same device profile, "
                   "times 100. Rank is within the device profile.",
}


def validate(doc: dict) -> None:
    """Check a leaderboard against its schema (a failure here is a harness bug)."""
    import jsonschema

    from harness.records import load_schema

    jsonschema.validate(doc, load_schema("leaderboard"))


# ------------------------------------------------------------------ keys
def row_key(record: Record) -> tuple:
    p = record.params
    return (record.model_id, record.backend, record.precision, record.device,
            _int(p.get("prompt_tokens")), _int(p.get("gen_tokens")), _int(p.get("threads")))


def identity(r: Record) -> tuple:
    """Copies of one record share this: run, seq and Record.key() (seq alone is not unique:
    verify reuses it, and its two determinism workers differ only in params.worker)."""
    return (r.run_id, r.seq, *r.key())


def _group(r: Record) -> str:
    return r.kind if r.kind in ("speed", "quality") else "other"


# ------------------------------------------------------------------ folding
def build(records: list[Record], verdicts: list[dict] = (), *, keep_all: bool = False,
          rejected: list[dict] = (), files_read: int | None = None,
          generated_at: str | None = None) -> dict:
    """Validated records (+ verdicts) -> the leaderboard document (rows scored and ranked)."""
    from harness import __version__
    from harness.measure.environment import git_commit
    from harness.records import now_iso

    unique = latest(sorted(records, key=Record.when), identity)
    ok = [r for r in unique if r.ok]
    speed = [r for r in ok if r.kind == "speed"]
    kept = speed if keep_all else latest(speed, row_key)
    quality = _quality_index([r for r in ok if r.kind == "quality"])
    verdict_by = {(v["run_id"], v["model"]["id"], v["backend"], v["device"]["name"]): v
                  for v in sorted(verdicts, key=lambda v: v["created_at"])}
    rows = [_row(r, quality, verdict_by) for r in kept]
    score_and_rank(rows)
    rows.sort(key=lambda x: (x["device"], x["rank"] is None, x["rank"] or 0, x["model"]["id"],
                             x["backend"], x["precision"] or "",
                             tuple(v if v is not None else -1 for v in x["settings"].values())))
    groups = [_group(r) for r in unique]
    return {
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION,
        "generated_at": generated_at or now_iso(),
        "harness": {"version": __version__, "git_commit": git_commit()},
        "keep": "all" if keep_all else "latest",
        "score": SCORE,
        "sources": {
            "files_read": len(records) + len(verdicts) + len(rejected)
            if files_read is None else files_read,
            "records": len(unique), "speed_records": groups.count("speed"),
            "quality_records": groups.count("quality"), "other_records": groups.count("other"),
            "failed_records": sum(not r.ok for r in unique),
            "duplicate_records": len(records) - len(unique),
            "superseded_records": len(speed) - len(kept),
            "verdicts": len(verdicts),
            "rejected": [{"path": str(x["path"]), "reason": str(x["reason"])}
                         for x in rejected],
        },
        "rows": rows,
    }


def _quality_index(records: list[Record]) -> dict[tuple, list[dict]]:
    """(model id, sha256, backend, device) -> the latest quality result per task."""
    def key(r: Record) -> tuple:
        return (r.model_id, r.model["sha256"], r.backend, r.device)

    by_model: dict[tuple, list[Record]] = {}
    for r in latest(records, lambda r: (*key(r), r.task_name)):
        by_model.setdefault(key(r), []).append(r)
    return {k: [_quality(r) for r in sorted(rs, key=lambda r: r.task_name)]
            for k, rs in by_model.items()}


def _quality(r: Record) -> dict:
    """One task's result: QUALITY_METRICS by summary mean; n = items scored (not perplexity)."""
    kept = [name for name in r.metrics() if name in QUALITY_METRICS]
    n = max((len(r.metric(name).samples) for name in kept), default=None)
    kind = r.task.get("kind")
    return {"task": r.task_name, "kind": kind, "version": r.task["version"],
            "metrics": {name: _num(r.stat(name, "mean")) for name in kept},
            "n": None if kind == "perplexity" else n,
            "run_id": r.run_id, "date": r["finished_at"]}


def _row(r: Record, quality: dict, verdicts: dict) -> dict:
    flat = flat_row(r)
    model, env, p = r.model, r.env, r.params
    host = env["host"]
    size = model.get("size_bytes")
    verdict = verdicts.get((r.run_id, r.model_id, r.backend, r.device))
    speed_cols = ("ttft_ms", "ttft_ms_sd", "prefill_tps", "prefill_tps_sd", "decode_tps",
                  "decode_tps_sd", "itl_p50_ms", "itl_p90_ms", "itl_p99_ms", "load_s")
    return {
        "rank": None, "score": None,
        "model": {"id": model["id"], "sha256": model["sha256"], "format": model["format"],
                  "size_mb": None if size is None else size / 2**20,
                  "parameters": _str(model.get("parameters")),
                  "quantization": _str(model.get("quantization"))},
        "backend": r.backend, "precision": r.precision,
        "device": r.device,
        "settings": {k: _int(p.get(k)) for k in ("prompt_tokens", "gen_tokens", "threads",
                                                 "repetitions")},
        "speed": {c: _num(flat[c]) for c in speed_cols},
        "memory": {"peak_rss_mb": _num(flat["peak_rss_mb"]),
                   "rss_after_load_mb": _num(r.stat("rss_after_load_mb")),
                   "model_size_mb": _num(flat["model_size_mb"])},
        "quality": quality.get((model["id"], model["sha256"], r.backend, r.device), []),
        "verdict": None if verdict is None else {
            "verdict": verdict["verdict"], "run_id": verdict["run_id"],
            "created_at": verdict["created_at"],
            "budgets": [{k: b[k] for k in BUDGET_KEYS if k in b} for b in verdict["budgets"]]},
        "provenance": {
            "run_id": r.run_id, "seq": r.seq, "date": r["finished_at"],
            "harness_version": env["harness_version"], "git_commit": env["git_commit"],
            "runtimes": {str(k): _str(v) for k, v in env["runtimes"].items()},
            "host": {"id": str(host["id"]), "cpu_model": str(host["cpu_model"]),
                     "cores_logical": _int(host["cores_logical"]),
                     "memory_bytes": _int(host["memory_bytes"]), "os": str(host["os"]),
                     "machine": _str(host.get("machine"))},
        },
    }


def score_and_rank(rows: list[dict]) -> None:
    """Set each row's composite score and its rank within its device profile (see SCORE)."""
    def positive(x):
        return x is not None and x > 0

    by_device: dict[str, list[dict]] = {}
    for row in rows:
        by_device.setdefault(row["device"], []).append(row)
    for group in by_device.values():
        best = {m: pick((x for x in (row["speed"][m] for row in group) if positive(x)),
                        default=None)
                for m, pick in (("prefill_tps", max), ("decode_tps", max), ("ttft_ms", min))}
        for row in group:
            x = row["speed"]
            if all(positive(x[m]) for m in best):
                ratios = (x["prefill_tps"] / best["prefill_tps"],
                          x["decode_tps"] / best["decode_tps"], best["ttft_ms"] / x["ttft_ms"])
                row["score"] = round(100 * math.exp(sum(map(math.log, ratios)) / 3), 6)
        scores = [row["score"] for row in group if row["score"] is not None]
        for row in group:
            if row["score"] is not None:
                row["rank"] = 1 + sum(v > row["score"] for v in scores)


# ------------------------------------------------------------------ coercion
def _num(x) -> float | None:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    return float(x) if math.isfinite(x) else None


def _int(x) -> int | None:
    return x if isinstance(x, int) and not isinstance(x, bool) else None


def _str(x) -> str | None:
    return None if x is None else str(x)
