"""Printers: one interface (header, record, footer), many formats.

markdown: a table per backend, median ± sample standard deviation over repetitions;
csv, jsonl: one flat row per run record, flushed as it arrives; json: the rows as one
array at the end. Flat rows carry medians and spreads as numbers, for machines.
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
KEYS = ["model", "backend", "device", "threads", "prompt_tokens", "gen_tokens", "status"]
COLUMNS = KEYS + [c for c, _, _ in _METRICS] + [f"{c}_sd" for c in _SPREAD] + ["error"]


def flat_row(record: dict) -> dict:
    """One record -> a flat dict of COLUMNS (numbers are medians, *_sd are stdevs)."""
    by_metric = {m["metric"]: m["summary"] for m in record["measurements"]}
    p = record["params"]
    row = {"model": record["model"]["id"], "backend": record["backend"]["name"],
           "device": record["device"]["name"], "threads": p.get("threads"),
           "prompt_tokens": p.get("prompt_tokens"), "gen_tokens": p.get("gen_tokens"),
           "status": record["status"]}
    for col, metric, stat in _METRICS:
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
    """A table per backend; a new table starts whenever the backend changes."""

    HEAD = ["model", "threads", "prompt", "gen", "TTFT ms", "prefill tok/s", "decode tok/s",
            "ITL p50/p90/p99 ms", "load s", "peak RSS MB", "model MB"]

    def __init__(self, out=None):
        super().__init__(out)
        self._backend = None
        self.failures: list[str] = []

    def record(self, record: dict) -> None:
        r = flat_row(record)
        if r["backend"] != self._backend:
            self._backend = r["backend"]
            self._write(f"\n### {r['backend']} on {r['device']}\n\n| " + " | ".join(self.HEAD)
                        + " |\n|" + "|".join("---" for _ in self.HEAD) + "|\n")
        if r["status"] != "ok":
            cells = [r["model"], str(r["threads"]), str(r["prompt_tokens"]), str(r["gen_tokens"]),
                     f"FAILED: {r['error']}"] + [""] * (len(self.HEAD) - 5)
        else:
            def pm(c, d=1):
                return f"{_fmt(r[c], d)} ± {_fmt(r[c + '_sd'], d)}"
            cells = [r["model"], str(r["threads"]), str(r["prompt_tokens"]), str(r["gen_tokens"]),
                     pm("ttft_ms"), pm("prefill_tps"), pm("decode_tps"),
                     f"{_fmt(r['itl_p50_ms'], 2)} / {_fmt(r['itl_p90_ms'], 2)} / "
                     f"{_fmt(r['itl_p99_ms'], 2)}",
                     _fmt(r["load_s"], 2), _fmt(r["peak_rss_mb"]), _fmt(r["model_size_mb"])]
        self._write("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |\n")


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
