"""Printers: one interface (header, record, footer), many formats, for `run`.

markdown: a speed table per backend (median ± sample standard deviation over repetitions)
and a quality table per backend (accuracy ± standard error, perplexities); a speed record
taken under conditions other than ok gets its evidence under the table; csv, jsonl: one
flat row per run record, flushed as it arrives; json: the rows as one array at the end.
Flat rows carry medians, spreads and accuracies as numbers, for machines.
"""

from __future__ import annotations

import csv
import json
import sys
from typing import TextIO

from harness.markdown import header, row
from harness.records import COLUMNS, flat_row, options_text

FORMATS = ("markdown", "csv", "json", "jsonl")

class Printer:
    def __init__(self, out: TextIO | None = None):
        self.out = out or sys.stdout

    def header(self) -> None: ...

    def record(self, record) -> None: ...

    def footer(self) -> None: ...

    def _write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()


def _fmt(v, digits: int = 1) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


class MarkdownPrinter(Printer):
    """A speed table and a quality table per backend, started whenever either changes."""

    SPEED = ["model", "threads", "prompt", "gen", "TTFT ms", "prefill tok/s", "decode tok/s",
             "ITL p50/p90/p99 ms", "load s", "peak RSS MB", "model MB", "conditions"]
    QUALITY = ["model", "task", "items", "acc", "acc_norm", "acc/token", "token ppl",
               "word ppl", "byte ppl", "bits/byte", "tok/char", "tok/word", "chars/s",
               "items/s", "peak RSS MB"]

    def __init__(self, out=None):
        super().__init__(out)
        self._table = None

    def record(self, record) -> None:
        r = flat_row(record)
        speed = record.kind == "speed"
        opts = options_text(record.params.get("backend_options"))
        backend = f"{r['backend']} {opts}" if opts else r["backend"]
        table = (backend, speed)
        head = self.SPEED if speed else self.QUALITY
        if table != self._table:
            self._table = table
            title = "" if speed else "quality: "
            self._write(f"\n### {title}{backend} on {r['device']}\n\n"
                        + "\n".join(header(head)) + "\n")
        if r["status"] != "ok":
            lead = ([r["model"], str(r["threads"]), str(r["prompt_tokens"]), str(r["gen_tokens"])]
                    if speed else [r["model"], r["task"]])
            cells = lead + [f"FAILED: {r['error']}"] + [""] * (len(head) - len(lead) - 1)
        else:
            cells = self._speed_cells(r) if speed else self._quality_cells(r, record)
        self._write(row(cells) + "\n")
        if speed and r["status"] == "ok" and r["conditions"] not in ("ok", "not recorded"):
            self._table = None  # the note ends the table; the next row starts a new one
            self._write(f"\n> {r['model']} p{r['prompt_tokens']} g{r['gen_tokens']} measured "
                        f"while {r['conditions']}: "
                        + "; ".join(record.conditions.get("evidence", ())) + "\n")

    @staticmethod
    def _speed_cells(r: dict) -> list[str]:
        def pm(c, d=1):
            return f"{_fmt(r[c], d)} ± {_fmt(r[c + '_sd'], d)}"
        return [r["model"], str(r["threads"]), str(r["prompt_tokens"]), str(r["gen_tokens"]),
                pm("ttft_ms"), pm("prefill_tps"), pm("decode_tps"),
                f"{_fmt(r['itl_p50_ms'], 2)} / {_fmt(r['itl_p90_ms'], 2)} / "
                f"{_fmt(r['itl_p99_ms'], 2)}",
                _fmt(r["load_s"], 2), _fmt(r["peak_rss_mb"]), _fmt(r["model_size_mb"]),
                r["conditions"]]

    @staticmethod
    def _quality_cells(r: dict, record) -> list[str]:
        def acc(c):
            return "-" if r[c] is None else f"{r[c]:.3f} ± {r[c + '_se']:.3f}"
        n = record["task"].get("n_items", "-")
        return [r["model"], r["task"], str(n), acc("acc") if r["exact_match"] is None
                else "EM " + acc("exact_match"), acc("acc_norm"),
                acc("acc_per_token"), _fmt(r["token_perplexity"], 2),
                _fmt(r["word_perplexity"], 2), _fmt(r["byte_perplexity"], 3),
                _fmt(r["bits_per_byte"], 3), _fmt(record.stat("tokens_per_char"), 3),
                _fmt(record.stat("tokens_per_word"), 2),
                _fmt(record.stat("text_decode_chars_per_s", "median"), 1),
                _fmt(r["items_per_s"], 2), _fmt(r["peak_rss_mb"])]


class CsvPrinter(Printer):
    def header(self) -> None:
        self._csv = csv.DictWriter(self.out, fieldnames=COLUMNS, lineterminator="\n")
        self._csv.writeheader()
        self.out.flush()

    def record(self, record) -> None:
        self._csv.writerow(flat_row(record))
        self.out.flush()


class JsonlPrinter(Printer):
    def record(self, record) -> None:
        self._write(json.dumps(flat_row(record), ensure_ascii=False) + "\n")


class JsonPrinter(Printer):
    def header(self) -> None:
        self.rows: list[dict] = []

    def record(self, record) -> None:
        self.rows.append(flat_row(record))

    def footer(self) -> None:
        self._write(json.dumps(self.rows, indent=1, ensure_ascii=False) + "\n")


def make(fmt: str, out: TextIO | None = None) -> Printer:
    return {"markdown": MarkdownPrinter, "csv": CsvPrinter, "json": JsonPrinter,
            "jsonl": JsonlPrinter}[fmt](out)
