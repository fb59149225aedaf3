"""Printers: one interface (header, record, footer), many formats.

markdown: a speed table per backend (median ± sample standard deviation over repetitions)
and a quality table per backend (accuracy ± standard error, perplexities); csv, jsonl: one
flat row per run record, flushed as it arrives; json: the rows as one array at the end.
Flat rows carry medians, spreads and accuracies as numbers, for machines.
"""

from __future__ import annotations

import csv
import json
import sys
from typing import TextIO

FORMATS = ("markdown", "csv", "json", "jsonl")

# (column, metric, statistic) for the flat row; "_sd" columns hold the stdev
_METRICS = [
    ("ttft_ms", "ttft_ms", "median"), ("prefill_tps", "prefill_tps", "median"),
    ("decode_tps", "decode_tps", "median"), ("itl_p50_ms", "itl_ms", "p50"),
    ("itl_p90_ms", "itl_ms", "p90"), ("itl_p99_ms", "itl_ms", "p99"),
    ("load_s", "load_s", "median"), ("peak_rss_mb", "peak_rss_mb", "median"),
    ("model_size_mb", "model_size_mb", "median"),
]
_SPREAD = ("ttft_ms", "prefill_tps", "decode_tps")
# quality: (column, metric, statistic); accuracies are means of 0/1 samples, *_se stderrs
_QUALITY = [
    ("acc", "acc", "mean"), ("acc_se", "acc", "sem"), ("acc_norm", "acc_norm", "mean"),
    ("acc_norm_se", "acc_norm", "sem"), ("acc_per_token", "acc_per_token", "mean"),
    ("acc_per_token_se", "acc_per_token", "sem"), ("exact_match", "exact_match", "mean"),
    ("exact_match_se", "exact_match", "sem"), ("token_perplexity", "token_perplexity", "median"),
    ("word_perplexity", "word_perplexity", "median"),
    ("byte_perplexity", "byte_perplexity", "median"),
    ("bits_per_byte", "bits_per_byte", "median"), ("items_per_s", "items_per_s", "median"),
]
KEYS = ["model", "backend", "device", "threads", "task", "prompt_tokens", "gen_tokens",
        "status"]
COLUMNS = (KEYS + [c for c, _, _ in _METRICS] + [f"{c}_sd" for c in _SPREAD]
           + [c for c, _, _ in _QUALITY] + ["error"])


def flat_row(record: dict) -> dict:
    """One record -> a flat dict of COLUMNS (numbers are medians, *_sd are stdevs)."""
    by_metric = {m["metric"]: m["summary"] for m in record["measurements"]}
    p = record["params"]
    row = {"model": record["model"]["id"], "backend": record["backend"]["name"],
           "device": record["device"]["name"], "threads": p.get("threads"),
           "task": record["task"]["name"], "prompt_tokens": p.get("prompt_tokens"),
           "gen_tokens": p.get("gen_tokens"), "status": record["status"]}
    for col, metric, stat in _METRICS + _QUALITY:
        row[col] = by_metric.get(metric, {}).get(stat)
    for col in _SPREAD:
        row[f"{col}_sd"] = by_metric.get(col, {}).get("stdev")
    err = record.get("error")
    row["error"] = f"{err['kind']}: {err['message']}" if err else None
    return row


class Printer:
    def __init__(self, out: TextIO | None = None):
        self.out = out or sys.stdout

    def header(self) -> None: ...

    def record(self, record: dict) -> None: ...

    def footer(self) -> None: ...

    def _write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()


def _fmt(v, digits: int = 1) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


class MarkdownPrinter(Printer):
    """A speed table and a quality table per backend, started whenever either changes."""

    SPEED = ["model", "threads", "prompt", "gen", "TTFT ms", "prefill tok/s", "decode tok/s",
             "ITL p50/p90/p99 ms", "load s", "peak RSS MB", "model MB"]
    QUALITY = ["model", "task", "items", "acc", "acc_norm", "acc/token", "token ppl",
               "word ppl", "byte ppl", "bits/byte", "items/s", "peak RSS MB"]

    def __init__(self, out=None):
        super().__init__(out)
        self._table = None

    def record(self, record: dict) -> None:
        r = flat_row(record)
        speed = r["task"] == "speed"
        table = (r["backend"], speed)
        head = self.SPEED if speed else self.QUALITY
        if table != self._table:
            self._table = table
            title = "" if speed else "quality: "
            self._write(f"\n### {title}{r['backend']} on {r['device']}\n\n| "
                        + " | ".join(head) + " |\n|" + "|".join("---" for _ in head) + "|\n")
        if r["status"] != "ok":
            lead = ([r["model"], str(r["threads"]), str(r["prompt_tokens"]), str(r["gen_tokens"])]
                    if speed else [r["model"], r["task"]])
            cells = lead + [f"FAILED: {r['error']}"] + [""] * (len(head) - len(lead) - 1)
        else:
            cells = self._speed_cells(r) if speed else self._quality_cells(r, record)
        self._write("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |\n")

    @staticmethod
    def _speed_cells(r: dict) -> list[str]:
        def pm(c, d=1):
            return f"{_fmt(r[c], d)} ± {_fmt(r[c + '_sd'], d)}"
        return [r["model"], str(r["threads"]), str(r["prompt_tokens"]), str(r["gen_tokens"]),
                pm("ttft_ms"), pm("prefill_tps"), pm("decode_tps"),
                f"{_fmt(r['itl_p50_ms'], 2)} / {_fmt(r['itl_p90_ms'], 2)} / "
                f"{_fmt(r['itl_p99_ms'], 2)}",
                _fmt(r["load_s"], 2), _fmt(r["peak_rss_mb"]), _fmt(r["model_size_mb"])]

    @staticmethod
    def _quality_cells(r: dict, record: dict) -> list[str]:
        def acc(c):
            return "-" if r[c] is None else f"{r[c]:.3f} ± {r[c + '_se']:.3f}"
        n = record["task"].get("n_items", "-")
        return [r["model"], r["task"], str(n), acc("acc") if r["exact_match"] is None
                else "EM " + acc("exact_match"), acc("acc_norm"),
                acc("acc_per_token"), _fmt(r["token_perplexity"], 2),
                _fmt(r["word_perplexity"], 2), _fmt(r["byte_perplexity"], 3),
                _fmt(r["bits_per_byte"], 3), _fmt(r["items_per_s"], 2), _fmt(r["peak_rss_mb"])]


class CsvPrinter(Printer):
    def header(self) -> None:
        self._csv = csv.DictWriter(self.out, fieldnames=COLUMNS, lineterminator="\n")
        self._csv.writeheader()
        self.out.flush()

    def record(self, record: dict) -> None:
        self._csv.writerow(flat_row(record))
        self.out.flush()


class JsonlPrinter(Printer):
    def record(self, record: dict) -> None:
        self._write(json.dumps(flat_row(record), ensure_ascii=False) + "\n")


class JsonPrinter(Printer):
    def header(self) -> None:
        self.rows: list[dict] = []

    def record(self, record: dict) -> None:
        self.rows.append(flat_row(record))

    def footer(self) -> None:
        self._write(json.dumps(self.rows, indent=1, ensure_ascii=False) + "\n")


def make(fmt: str, out: TextIO | None = None) -> Printer:
    return {"markdown": MarkdownPrinter, "csv": CsvPrinter, "json": JsonPrinter,
            "jsonl": JsonlPrinter}[fmt](out)
