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
from harness import metrics, numbers
from harness.records import columns, flat_row, options_text

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


class MarkdownPrinter(Printer):
    """A speed table and a quality table per backend, started whenever either changes.
    The metric columns, their labels and decimals come from the metric registry."""

    SPEED_LEAD = ["model", "threads", "prompt", "gen"]
    QUALITY_LEAD = ["model", "task", "items"]

    def __init__(self, out=None):
        super().__init__(out)
        self._table = None

    @classmethod
    def head(cls, speed: bool) -> list[str]:
        cols = [label for label, _ in metrics.table_columns("speed" if speed else "quality")]
        return cls.SPEED_LEAD + cols + ["conditions"] if speed else cls.QUALITY_LEAD + cols

    def record(self, record) -> None:
        r = flat_row(record)
        speed = record.kind == "speed"
        opts = options_text(record.params.get("backend_options"))
        backend = f"{r['backend']} {opts}" if opts else r["backend"]
        table = (backend, speed)
        head = self.head(speed)
        if table != self._table:
            self._table = table
            title = "" if speed else "quality: "
            self._write(f"\n### {title}{backend} on {r['device']}\n\n"
                        + "\n".join(header(head)) + "\n")
        if r["status"] != "ok":
            lead = ([r["model"], str(r["threads"]), str(r["prompt_tokens"]), str(r["gen_tokens"])]
                    if speed else [r["model"], r["task"]])
            cells = lead + [f"FAILED: {r['error']}"] + [""] * (len(head) - len(lead) - 1)
        elif speed:
            cells = ([r["model"], str(r["threads"]), str(r["prompt_tokens"]),
                      str(r["gen_tokens"])] + self._cells(record, "speed") + [r["conditions"]])
        else:
            cells = ([r["model"], r["task"], str(record["task"].get("n_items", "-"))]
                     + self._cells(record, "quality"))
        self._write(row(cells) + "\n")
        if speed and r["status"] == "ok" and r["conditions"] not in ("ok", "not recorded"):
            self._table = None  # the note ends the table; the next row starts a new one
            self._write(f"\n> {r['model']} p{r['prompt_tokens']} g{r['gen_tokens']} measured "
                        f"while {r['conditions']}: "
                        + "; ".join(record.conditions.get("evidence", ())) + "\n")

    @classmethod
    def _cells(cls, record, group: str) -> list[str]:
        out = []
        for _, members in metrics.table_columns(group):
            alt = [m for m in metrics.replacing(members[0].name)
                   if record.stat(m.of, m.stat) is not None]
            if alt:
                out.append(alt[0].prefix + cls._cell(record, alt[0]))
            else:
                out.append(" / ".join(cls._cell(record, m) for m in members))
        return out

    @staticmethod
    def _cell(record, m) -> str:
        """One metric's cell: value ± sample sd (speed), mean ± standard error (0/1
        samples), else the value, with the registry's decimals."""
        v = record.stat(m.of, m.stat)
        digits = 1 if m.digits is None else m.digits
        if m.sd_column:
            sd = record.stat(m.of, "stdev")
            return f"{numbers.fmt(v, 'fixed', digits)} ± {numbers.fmt(sd, 'fixed', digits)}"
        if m.se_column:
            se = record.stat(m.of, "sem")
            return "-" if v is None else f"{v:.{digits}f} ± {se:.{digits}f}"
        return numbers.fmt(v, "fixed", digits)


class CsvPrinter(Printer):
    def header(self) -> None:
        self._csv = csv.DictWriter(self.out, fieldnames=columns(), lineterminator="\n")
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
