"""Command line: `sllm-bench COMMAND ...` (also `python -m harness`).

Nothing heavy is imported at module level: `sllm-bench --help` loads no backend library.
Exit codes: 0 success, 1 a run failed, 2 bad input, 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys

from harness import __version__
from harness.errors import BenchError

EPILOG = ("exit codes: 0 success; 1 a run failed; 2 bad input (file, key or flag); "
          "130 interrupted")


#: modules that add subcommands; each has register(subparsers) and imports nothing heavy
COMMAND_MODULES = ("harness.cli.run", "harness.cli.prepare", "harness.cli.catalog",
                   "harness.cli.verify", "harness.cli.parity", "harness.cli.leaderboard",
                   "harness.cli.report", "harness.cli.gate", "harness.cli.fleet",
                   "harness.cli.builds")


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(
        prog="sllm-bench", description="On-device benchmarks of small language models: "
        "speed, memory and quality through GGUF and ONNX backends.", epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"sllm-bench {__version__}")
    parser.add_argument("--models-file", default=None, metavar="PATH",
                        help="model catalogue (default: models.yaml in the project)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def utf8_stdout() -> None:
    """Results (tables, CSV, JSON) are written as UTF-8 whatever the locale: under an
    ASCII or Latin-1 locale a Korean task or a '±' would otherwise stop the run with a
    traceback. Paths that came in undecodable go back out as the bytes they were."""
    enc = (getattr(sys.stdout, "encoding", None) or "").lower().replace("-", "")
    if enc not in ("utf8", "utf8sig") and hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(encoding="utf-8", errors="surrogateescape")


def main(argv: list[str] | None = None) -> int:
    utf8_stdout()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    try:
        return args.handler(args)
    except BenchError as e:
        kind = "" if e.exit_code == 130 else "error: "
        print(f"sllm-bench: {kind}{e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("sllm-bench: interrupted", file=sys.stderr)
        return 130
    except OSError as e:  # the last net: a file the harness could not read or write
        where = f"{e.filename}: " if getattr(e, "filename", None) else ""
        print(f"sllm-bench: error: {where}{e.strerror or e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
