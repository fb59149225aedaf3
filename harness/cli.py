"""Command line: `sllm-bench COMMAND ...` (also `python -m harness`).

Nothing heavy is imported at module level: `sllm-bench --help` loads no backend library.
Exit codes: 0 success, 1 a run failed, 2 bad input, 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness import __version__
from harness.errors import BenchError

EPILOG = ("exit codes: 0 success; 1 a run failed; 2 bad input (file, key or flag); "
          "130 interrupted")


def _add_run_args(p: argparse.ArgumentParser) -> None:
    from harness.printers import FORMATS

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
    p.add_argument("--threads", "-t", default=None, help="thread counts, e.g. 1,2 "
                   "(default: from the device profile)")
    p.add_argument("--reps", "-r", type=int, default=5, help="timed repetitions per setting "
                   "(default: 5)")
    p.add_argument("--warmup", type=int, default=1, help="untimed warm-up repetitions "
                   "(default: 1)")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds a worker may go "
                   "without progress before it is killed (default: 600)")
    p.add_argument("--precision", choices=("int4", "fp32"), default="int4",
                   help="ONNX precision for onnxruntime/ort_genai (default: int4)")
    p.add_argument("--format", "-o", choices=FORMATS, default="markdown",
                   help="output format on standard output (default: markdown)")
    p.add_argument("--out", default=None, help="results folder (default: results/runs)")
    p.add_argument("--dry-run", action="store_true", help="print the plan and stop")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sllm-bench", description="On-device benchmarks of small language models: "
        "speed and memory through GGUF and ONNX backends.", epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"sllm-bench {__version__}")
    parser.add_argument("--models-file", default=None, metavar="PATH",
                        help="model catalogue (default: models.yaml in the project)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="measure speed and memory (the main job)",
                         description="Run the speed scenario for every model x backend x "
                         "threads x prompt x gen combination, each worker in a fresh process.",
                         epilog=EPILOG)
    _add_run_args(run)

    prep = sub.add_parser("prepare", help="convert a GGUF model to ONNX (cached)",
                          description="GGUF -> transformers -> safetensors -> "
                          "onnxruntime-genai model builder; cached by sha256 and precision.")
    prep.add_argument("model", help="catalogue id or path to a .gguf file")
    prep.add_argument("--precision", choices=("int4", "fp32"), default="int4")

    sub.add_parser("models", help="list the model catalogue")
    sub.add_parser("devices", help="list device profiles")
    sub.add_parser("backends", help="list backends and whether their library is installed")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    try:
        from harness import commands

        return getattr(commands, f"cmd_{args.command}")(args)
    except BenchError as e:
        print(f"sllm-bench: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("sllm-bench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
