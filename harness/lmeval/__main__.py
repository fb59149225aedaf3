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

    cli_evaluate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
