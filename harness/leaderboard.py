"""`sllm-bench leaderboard`: fold run records from many machines into one versioned JSON file
(harness/schemas/leaderboard.schema.json) and, with --html, a static page that shows it.

Rows: one per model x backend (x ONNX precision) x device profile x settings (prompt_tokens,
gen_tokens, threads), built from successful speed records; the latest record per key wins
(by finished_at, then run_id, then seq) unless --all keeps every one. Each row carries speed
(medians and sample standard deviations, summarised as printers.flat_row does), memory,
quality (per task, the latest quality record of the same model file, i.e. model id and
sha256, backend and device, whose task kind is one of QUALITY_KINDS; each of its
QUALITY_METRICS is its summary mean: the accuracy for per-item 0/1 samples, the value itself
for a single perplexity sample), the PoC verdict of the same run (verdict.json or
verdict-<backend>.json in the run folder, matched by run id, model id, backend and device)
and provenance (model sha256, harness version and commit, runtime versions, host
fingerprint, date). Failed records are never rows; they are counted in `sources`.

Composite score (SCORE): within one device profile, each row's prefill tokens/s, decode
tokens/s and 1/TTFT are divided by the best value among that profile's rows, and the score
is 100 x the geometric mean of the three ratios (as LocalScore and MLPerf Client do). 100
means best on all three; a row missing one of them has no score. Rank is 1 + the number of
rows of the same profile with a higher score (ties share a rank; unscored rows are unranked).

Inputs are files or folders (searched recursively for *.json; verdict.json and
verdict-<backend>.json are verdicts, every other file except run.json a run record; records
of other tasks, such as determinism, soak or parity, are counted, not used). A record found
twice (same run, seq, task, model, backend and device) counts once. Every file is validated
before it is used: run records by results.read_record (which migrates older schema
versions, so versions are never mixed), verdicts by $defs/verdict_file of the leaderboard
schema. A file that is unreadable, too large, truncated or invalid is rejected with one
line on stderr naming it, listed in sources.rejected, and the rest are still folded.

Exit codes: 0 written and every input valid; 1 written but some input was rejected;
2 nothing written (no successful speed record to rank, or bad flags).
"""

from __future__ import annotations

import json
import math
import sys
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

from harness.errors import DataError

SCHEMA = "sllm-bench/leaderboard"
SCHEMA_VERSION = 1
QUALITY_KINDS = ("multiple_choice", "perplexity", "exact_match")
QUALITY_METRICS = ("acc", "acc_norm", "acc_per_token", "exact_match", "token_perplexity",
                   "word_perplexity", "byte_perplexity", "bits_per_byte")
BUDGET_KEYS = ("metric", "status", "max", "min", "prompt_tokens", "gen_tokens", "task", "unit",
               "measured", "bound", "detail")
PAGE_FILES = ("index.html", "app.js", "style.css")
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
EPILOG = ("exit codes: 0 written, every input valid; 1 written, some input rejected (named on "
          "stderr); 2 nothing written (no successful speed record, or bad flags)")


# ------------------------------------------------------------------ CLI
def register(sub) -> None:
    p = sub.add_parser("leaderboard", help="fold run records into leaderboard.json (+ a page)",
                       description="Fold run records (files or folders, from any number of "
                       "machines) into one row per model x backend x device profile x "
                       "settings, with a composite score and rank per device profile.",
                       epilog=EPILOG)
    p.add_argument("results", nargs="+", metavar="RESULTS",
                   help="run record files or folders (e.g. results/runs)")
    p.add_argument("-o", "--output", default="leaderboard.json",
                   help="leaderboard JSON to write (default: leaderboard.json)")
    p.add_argument("--html", metavar="DIR", default=None,
                   help="also write a static page (index.html, app.js, style.css and a copy "
                        "of the JSON) to DIR")
    p.add_argument("--all", action="store_true",
                   help="keep every record, not only the latest per key")
    p.set_defaults(handler=cmd_leaderboard)


def _warn(msg: str) -> None:
    print(f"sllm-bench: warning: {msg}", file=sys.stderr, flush=True)


def cmd_leaderboard(args) -> int:
    from harness.results import write_json

    output = Path(args.output)
    skip = [output] + ([Path(args.html) / "leaderboard.json"] if args.html else [])
    records, verdicts, rejected, n_files = collect(args.results, skip=skip)
    for r in rejected:
        _warn(f"rejected {r['path']}: {r['reason']}")
    doc = build(records, verdicts, keep_all=args.all, rejected=rejected, files_read=n_files)
    if not doc["rows"]:
        raise DataError("no successful speed record to rank; nothing written",
                        path=", ".join(args.results))
    validate(doc)
    write_json(output, doc)
    if args.html:
        write_page(Path(args.html), doc)
    s = doc["sources"]
    print(f"leaderboard: {output} ({len(doc['rows'])} row(s) from {s['records']} record(s); "
          f"{s['failed_records']} failed, {s['superseded_records']} superseded, "
          f"{len(rejected)} file(s) rejected)" + (f"; page: {args.html}" if args.html else ""),
          file=sys.stderr)
    return 1 if rejected else 0


# ------------------------------------------------------------------ reading
def collect(paths: list[str], skip: list[Path] = ()) -> tuple[list, list, list, int]:
    """Read and validate every input -> (records, verdicts, rejected, files read)."""
    from harness.results import read_record, record_files
    from harness.verdict import is_verdict_file

    files: dict[Path, Path] = {}
    rejected: list[dict] = []
    skipped = {Path(p).resolve() for p in skip}
    for arg in paths:
        try:
            found = record_files([arg])
        except DataError as e:
            rejected.append({"path": str(arg), "reason": _reason(e)})
            continue
        for f in found:
            if f.resolve() not in skipped:
                files.setdefault(f.resolve(), f)
    records, verdicts = [], []
    for f in files.values():
        try:
            if is_verdict_file(f):
                verdicts.append(read_verdict(f))
            else:
                records.append(read_record(f))
        except DataError as e:
            rejected.append({"path": str(f), "reason": _reason(e)})
    return records, verdicts, rejected, len(files)


def _reason(e: DataError) -> str:
    text = str(e)
    return text[len(e.path) + 2:] if e.path and text.startswith(e.path + ": ") else text


def read_verdict(path: Path) -> dict:
    """Read and validate one verdict.json; any problem is a DataError naming the file."""
    from harness.results import read_json_bounded, validate_json

    data = read_json_bounded(path)
    schema = load_schema()
    validate_json(data, {"$defs": schema["$defs"], "$ref": "#/$defs/verdict_file"}, path,
                  "verdict")
    return data


@lru_cache(maxsize=1)
def load_schema() -> dict:
    from importlib.resources import files

    return json.loads(files("harness.schemas").joinpath("leaderboard.schema.json").read_text())


def validate(doc: dict) -> None:
    """Check a leaderboard against its schema (a failure here is a harness bug)."""
    import jsonschema

    jsonschema.validate(doc, load_schema())


# ------------------------------------------------------------------ folding
def _when(record: dict) -> tuple:
    """Sort key for "latest": finished_at (as a UTC instant when parseable), run_id, seq."""
    try:
        t = datetime.fromisoformat(record["finished_at"])
        t = t if t.tzinfo else t.replace(tzinfo=timezone.utc)
        stamp = t.timestamp()
    except ValueError:
        stamp = float("-inf")
    return stamp, record["run_id"], record["seq"]


def _precision(record: dict) -> str | None:
    art = record["model"].get("artifact") or {}
    return _str(art.get("precision"))


def row_key(record: dict) -> tuple:
    p = record["params"]
    return (record["model"]["id"], record["backend"]["name"], _precision(record),
            record["device"]["name"], _int(p.get("prompt_tokens")), _int(p.get("gen_tokens")),
            _int(p.get("threads")))


def _identity(r: dict) -> tuple:
    """Copies of one record share this (seq alone is not unique: verify reuses it)."""
    return (r["run_id"], r["seq"], r["task"]["name"], r["model"]["id"], r["backend"]["name"],
            r["device"]["name"])


def _kind(record: dict) -> str:
    task = record["task"]
    if task["name"] == "speed":
        return "speed"
    return "quality" if task.get("kind") in QUALITY_KINDS else "other"


def build(records: list[dict], verdicts: list[dict] = (), *, keep_all: bool = False,
          rejected: list[dict] = (), files_read: int | None = None,
          generated_at: str | None = None) -> dict:
    """Validated records (+ verdicts) -> the leaderboard document (rows scored and ranked)."""
    from harness import __version__
    from harness.provenance import git_commit
    from harness.results import now_iso

    unique = {_identity(r): r for r in sorted(records, key=_when)}
    ok = [r for r in unique.values() if r["status"] == "ok"]
    kinds = {id(r): _kind(r) for r in unique.values()}
    speed = [r for r in ok if kinds[id(r)] == "speed"]
    if not keep_all:
        latest: dict[tuple, dict] = {}
        for r in speed:  # sorted oldest first: later records replace earlier ones
            latest[row_key(r)] = r
        kept = list(latest.values())
    else:
        kept = speed
    quality = _quality_index([r for r in ok if kinds[id(r)] == "quality"])
    verdict_by = {(v["run_id"], v["model"]["id"], v["backend"], v["device"]["name"]): v
                  for v in sorted(verdicts, key=lambda v: v["created_at"])}
    rows = [_row(r, quality, verdict_by) for r in kept]
    score_and_rank(rows)
    rows.sort(key=lambda x: (x["device"], x["rank"] is None, x["rank"] or 0, x["model"]["id"],
                             x["backend"], x["precision"] or "",
                             tuple(v if v is not None else -1 for v in x["settings"].values())))
    count = {k: sum(v == k for v in kinds.values()) for k in ("speed", "quality", "other")}
    return {
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION,
        "generated_at": generated_at or now_iso(),
        "harness": {"version": __version__, "git_commit": git_commit()},
        "keep": "all" if keep_all else "latest",
        "score": SCORE,
        "sources": {
            "files_read": len(records) + len(verdicts) + len(rejected)
            if files_read is None else files_read,
            "records": len(unique), "speed_records": count["speed"],
            "quality_records": count["quality"], "other_records": count["other"],
            "failed_records": sum(r["status"] == "failed" for r in unique.values()),
            "duplicate_records": len(records) - len(unique),
            "superseded_records": len(speed) - len(kept),
            "verdicts": len(verdicts),
            "rejected": [{"path": str(x["path"]), "reason": str(x["reason"])}
                         for x in rejected],
        },
        "rows": rows,
    }


def _quality_index(records: list[dict]) -> dict[tuple, list[dict]]:
    """(model id, sha256, backend, device) -> the latest quality result per task."""
    latest: dict[tuple, dict[str, dict]] = {}
    for r in sorted(records, key=_when):
        key = (r["model"]["id"], r["model"]["sha256"], r["backend"]["name"],
               r["device"]["name"])
        latest.setdefault(key, {})[r["task"]["name"]] = r
    return {key: [_quality(r) for _, r in sorted(by_task.items())]
            for key, by_task in latest.items()}


def _quality(r: dict) -> dict:
    """One task's result: QUALITY_METRICS by summary mean; n = items scored (not perplexity)."""
    kept = [m for m in r["measurements"] if m["metric"] in QUALITY_METRICS]
    n = max((len(m["samples"]) for m in kept), default=None)
    return {"task": r["task"]["name"], "kind": r["task"]["kind"],
            "version": r["task"]["version"],
            "metrics": {m["metric"]: _num(m["summary"].get("mean")) for m in kept},
            "n": None if r["task"]["kind"] == "perplexity" else n,
            "run_id": r["run_id"], "date": r["finished_at"]}


def _row(r: dict, quality: dict, verdicts: dict) -> dict:
    from harness.printers import flat_row

    flat = flat_row(r)
    summaries = {m["metric"]: m["summary"] for m in r["measurements"]}
    model, env, p = r["model"], r["env"], r["params"]
    host = env["host"]
    size = model.get("size_bytes")
    verdict = verdicts.get((r["run_id"], model["id"], r["backend"]["name"], r["device"]["name"]))
    speed_cols = ("ttft_ms", "ttft_ms_sd", "prefill_tps", "prefill_tps_sd", "decode_tps",
                  "decode_tps_sd", "itl_p50_ms", "itl_p90_ms", "itl_p99_ms", "load_s")
    return {
        "rank": None, "score": None,
        "model": {"id": model["id"], "sha256": model["sha256"], "format": model["format"],
                  "size_mb": None if size is None else size / 2**20,
                  "parameters": _str(model.get("parameters")),
                  "quantization": _str(model.get("quantization"))},
        "backend": r["backend"]["name"], "precision": _precision(r),
        "device": r["device"]["name"],
        "settings": {k: _int(p.get(k)) for k in ("prompt_tokens", "gen_tokens", "threads",
                                                 "repetitions")},
        "speed": {c: _num(flat[c]) for c in speed_cols},
        "memory": {"peak_rss_mb": _num(flat["peak_rss_mb"]),
                   "rss_after_load_mb": _num(summaries.get("rss_after_load_mb", {})
                                             .get("median")),
                   "model_size_mb": _num(flat["model_size_mb"])},
        "quality": quality.get((model["id"], model["sha256"], r["backend"]["name"],
                                r["device"]["name"]), []),
        "verdict": None if verdict is None else {
            "verdict": verdict["verdict"], "run_id": verdict["run_id"],
            "created_at": verdict["created_at"],
            "budgets": [{k: b[k] for k in BUDGET_KEYS if k in b} for b in verdict["budgets"]]},
        "provenance": {
            "run_id": r["run_id"], "seq": r["seq"], "date": r["finished_at"],
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


# ------------------------------------------------------------------ page
def write_page(folder: Path, doc: dict) -> None:
    """index.html, app.js and style.css from harness/leaderboard_page/, plus the JSON."""
    from importlib.resources import files

    from harness.results import atomic_write_text, write_json

    src = files("harness").joinpath("leaderboard_page")
    for name in PAGE_FILES:
        atomic_write_text(folder / name, src.joinpath(name).read_text(encoding="utf-8"))
    write_json(folder / "leaderboard.json", doc)


# ------------------------------------------------------------------ coercion
def _num(x) -> float | None:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    return float(x) if math.isfinite(x) else None


def _int(x) -> int | None:
    return x if isinstance(x, int) and not isinstance(x, bool) else None


def _str(x) -> str | None:
    return None if x is None else str(x)
