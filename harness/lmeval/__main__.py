"""`sllm-bench-lmeval` / `python -m harness.lmeval`: lm-evaluation-harness's own command
line with the model "sllm-bench" registered (e.g. `run --model sllm-bench --model_args
backend=llama_cpp --tasks arc_easy`)."""

from __future__ import annotations

import sys


def main() -> int:
    try:
        from lm_eval.__main__ import cli_evaluate
    except ImportError:
        print("sllm-bench-lmeval: lm-evaluation-harness is not installed "
              "(pip install 'sllm-bench[lmeval]')", file=sys.stderr)
        return 2
    import harness.lmeval.model  # noqa: F401  (registers "sllm-bench")
    from harness.errors import BenchError

    try:
        cli_evaluate()
    except BenchError as e:  # the harness's own errors stay one line, as in sllm-bench
        print(f"sllm-bench-lmeval: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("sllm-bench-lmeval: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
