"""What the commands share: the sweep flags, logging to stderr, the progress bar, exit codes.

Only light imports here: `sllm-bench --help` imports every command module.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator

from harness.cli.printers import FORMATS
from harness.errors import BenchError
from harness.precision import CHOICES as PRECISIONS
from harness.precision import DEFAULT as DEFAULT_PRECISION


def log(msg: str) -> None:
    """The commands' log: one line on standard error (harness.api's log_stderr, imported
    on first use; stdout stays the output)."""
    from harness import api

    api.log_stderr(msg)


EPILOG = ("exit codes: 0 success; 1 a run failed; 2 bad input (file, key or flag); "
          "130 interrupted")


def split(values: list[str] | None) -> list[str]:
    """Repeated and comma-separated flag values, in order, blanks dropped."""
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]


def parse_settings(values: list[str] | None) -> dict:
    """--set KEY=VALUE pairs -> {key: bool | int | float | str}."""
    out: dict = {}
    for text in values or []:
        key, sep, raw = text.partition("=")
        if not sep or not key.strip() or not raw.strip():
            raise BenchError(f"--set: expected KEY=VALUE, got {text!r}")
        raw = raw.strip()
        low = raw.lower()
        if low in ("true", "false"):
            value: object = low == "true"
        else:
            try:
                value = int(raw)
            except ValueError:
                try:
                    value = float(raw)
                except ValueError:
                    value = raw
        out[key.strip()] = value
    return out


def depth_list(text: str) -> list[int]:
    """--depth '0,512' -> [0, 512] (0 allowed, unlike prompt lengths)."""
    try:
        values = sorted({int(v) for v in str(text).split(",") if v.strip()})
    except ValueError:
        raise BenchError(f"--depth: expected comma-separated integers, got {text!r}") from None
    if not values or values[0] < 0:
        raise BenchError(f"--depth: values must be 0 or more, got {text!r}")
    return values


def add_run_args(p: argparse.ArgumentParser) -> None:
    """The sweep flags of `run`."""
    p.add_argument("--model", "-m", action="append", metavar="ID|PATH",
                   help="catalogue id or path to a .gguf file; repeat or comma-separate "
                        "(default: the catalogue's default)")
    p.add_argument("--backend", "-b", action="append", metavar="NAME",
                   help="llama_cpp, onnxruntime, ort_genai, transformers; repeat or "
                        "comma-separate (default: every available on-device backend)")
    p.add_argument("--device", "-d", default="host", help="device profile name or YAML path "
                   "(default: host)")
    p.add_argument("--prompt", "-p", default="128", help="prompt lengths in tokens, e.g. "
                   "128,512 (default: 128)")
    p.add_argument("--gen", "-n", default="64", help="generated tokens, e.g. 64,128 "
                   "(default: 64)")
    p.add_argument("--depth", default="0", help="tokens in the context before the prompt, "
                   "as llama-bench's -d, e.g. 0,512 (default: 0)")
    p.add_argument("--prompt-source", default="synthetic", metavar="synthetic|text:TASK",
                   help="synthetic token ids (default), or the first tokens of a perplexity "
                        "task's text, e.g. text:prose_ko (end-of-sequence then honoured)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", dest="settings",
                   help="backend setting for every model, over models.yaml's options, e.g. "
                        "flash_attn=on, n_batch=512, n_ubatch=256, threads_batch=2, "
                        "use_mmap=false; repeatable")
    p.add_argument("--threads", "-t", default=None, help="thread counts, e.g. 1,2 "
                   "(default: from the device profile)")
    p.add_argument("--reps", "-r", type=int, default=5, help="timed repetitions per setting "
                   "(default: 5)")
    p.add_argument("--warmup", type=int, default=1, help="untimed warm-up repetitions "
                   "(default: 1)")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds a worker may go "
                   "without progress before it is killed (default: 600)")
    p.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                   help="before each worker, wait up to SECONDS for other processes to leave "
                        "the pinned cores quiet (the record says if it gave up; default 0)")
    p.add_argument("--precision", choices=PRECISIONS, default=DEFAULT_PRECISION,
                   help="ONNX precision for onnxruntime/ort_genai: gguf = the GGUF's own "
                        "quantized weights (default), int4-rtn = the builder's re-quantized "
                        "int4 (old name int4), fp32")
    p.add_argument("--format", "-o", choices=FORMATS, default="markdown",
                   help="output format on standard output (default: markdown)")
    p.add_argument("--out", default=None, help="results folder (default: results/runs)")
    p.add_argument("--tasks", action="append", metavar="NAMES",
                   help="quality tasks (tasks/*.yaml names), comma-separated; 'default' for "
                        "the offline default set, 'none' for speed only (default: default)")
    p.add_argument("--limit", type=int, default=None, metavar="N",
                   help="first N items of each quality task")
    p.add_argument("--data-dir", default=None, metavar="DIR",
                   help="look for task data files in DIR instead of their usual place")
    p.add_argument("--no-speed", action="store_true", help="quality tasks only")
    p.add_argument("--resume", metavar="RUN_DIR", default=None,
                   help="redo only the unfinished records of an earlier run (other sweep "
                        "flags are taken from its run.json)")
    p.add_argument("--dry-run", action="store_true", help="print the plan and stop")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def print_plan(title: str, plan) -> None:
    from harness import api

    for w in plan.warnings + plan.notes:
        log(f"warning: {w}")
    log(title)
    for line in api.describe(plan):
        log(line)


@contextlib.contextmanager
def progress_bar(plan, enabled: bool) -> Iterator[object | None]:
    """A progress bar on stderr when it is a terminal and `enabled`, else None."""
    if not (enabled and sys.stderr.isatty()):
        yield None
        return
    from harness import api
    from harness.cli.progress import RichProgress

    with RichProgress(api.total_units(plan)) as bar:
        yield bar
