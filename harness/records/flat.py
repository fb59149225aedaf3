"""One flat row per record: the columns machines read (csv, jsonl, json, leaderboard).

Numbers are medians (speed, memory), means with standard errors (accuracies: means of
0/1 samples) or the single value (perplexities); *_sd columns hold sample standard
deviations. `conditions` is the record's measurement conditions (ok, contended, throttled,
on_battery, or "not recorded").
"""

from __future__ import annotations

from harness.records.record import Record

# (column, metric, statistic); "_sd" columns hold the stdev
SPEED_COLUMNS = [
    ("ttft_ms", "ttft_ms", "median"), ("prefill_tps", "prefill_tps", "median"),
    ("decode_tps", "decode_tps", "median"), ("itl_p50_ms", "itl_ms", "p50"),
    ("itl_p90_ms", "itl_ms", "p90"), ("itl_p99_ms", "itl_ms", "p99"),
    ("load_s", "load_s", "median"), ("peak_rss_mb", "peak_rss_mb", "median"),
    ("model_size_mb", "model_size_mb", "median"),
    ("energy_j_per_token", "energy_j_per_token", "median"),
]
SPREAD_COLUMNS = ("ttft_ms", "prefill_tps", "decode_tps")
QUALITY_COLUMNS = [
    ("acc", "acc", "mean"), ("acc_se", "acc", "sem"), ("acc_norm", "acc_norm", "mean"),
    ("acc_norm_se", "acc_norm", "sem"), ("acc_per_token", "acc_per_token", "mean"),
    ("acc_per_token_se", "acc_per_token", "sem"), ("exact_match", "exact_match", "mean"),
    ("exact_match_se", "exact_match", "sem"), ("token_perplexity", "token_perplexity", "median"),
    ("word_perplexity", "word_perplexity", "median"),
    ("byte_perplexity", "byte_perplexity", "median"),
    ("bits_per_byte", "bits_per_byte", "median"), ("items_per_s", "items_per_s", "median"),
    ("contains", "contains", "mean"), ("target_perplexity", "target_perplexity", "median"),
    ("tokens_per_char", "tokens_per_char", "median"),
    ("tokens_per_word", "tokens_per_word", "median"),
    ("text_decode_chars_per_s", "text_decode_chars_per_s", "median"),
]
KEYS = ["model", "backend", "device", "threads", "task", "prompt_tokens", "gen_tokens",
        "status"]
COLUMNS = (KEYS + [c for c, _, _ in SPEED_COLUMNS] + [f"{c}_sd" for c in SPREAD_COLUMNS]
           + [c for c, _, _ in QUALITY_COLUMNS] + ["conditions", "error"])


def flat_row(record: Record) -> dict:
    """One record -> a flat dict of COLUMNS (see the module docstring)."""
    p = record.params
    worker = p.get("worker")  # one of several worker processes of one check
    row = {"model": record.model_id, "backend": record.backend, "device": record.device,
           "threads": p.get("threads"),
           "task": record.task_name + (f"-w{worker}" if worker else ""),
           "prompt_tokens": p.get("prompt_tokens"), "gen_tokens": p.get("gen_tokens"),
           "status": record.status}
    for col, metric, stat in SPEED_COLUMNS + QUALITY_COLUMNS:
        row[col] = record.stat(metric, stat)
    for col in SPREAD_COLUMNS:
        row[f"{col}_sd"] = record.stat(col, "stdev")
    row["conditions"] = record.conditions_state
    err = record.error
    row["error"] = f"{err['kind']}: {err['message']}" if err else None
    return row
