"""How often greedy continuations agree: llama.cpp with itself under a setting change, and
the ONNX port with llama.cpp (the parity prompts: 3 real-text prompts x 64 tokens).

The parity check's greedy criterion asks a port to follow llama.cpp token for token. At a
near-tie (top-2 logits a few thousandths of a nat apart) any change of kernel can flip the
pick, so this prints the same agreement for llama.cpp against itself (flash attention auto
against off, 1 thread against 2, the prompt in one batch against token by token) beside the
port's, as the yardstick for what "identical" can mean. Not a timing: run it any time.

    python benchmarks/greedy_agreement.py [--precision gguf,int4-rtn] [--task prose_en]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import default_model  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--precision", default="gguf",
                    help="ONNX port precisions to compare, comma-separated (default gguf; "
                         "'' for none)")
    ap.add_argument("--task", default="prose_en", help="perplexity task whose text gives the "
                    "prompts (default prose_en, as `sllm-bench parity`)")
    args = ap.parse_args()

    from harness.backends.base import LoadRequest
    from harness.backends.llama_cpp import LlamaCppBackend
    from harness.backends.onnxruntime import OnnxRuntimeBackend
    from harness.data import tasks
    from harness.prepare import prepare_onnx
    from harness.scenarios.common import bos_ids
    from harness.scenarios.parity import GREEDY_TOKENS, first_difference, greedy_continuations

    path, digest = default_model()
    text = tasks.prepare(tasks.load_task(args.task))["items"][0]["text"]

    def continuations(backend) -> list[list[int]]:
        out = greedy_continuations(backend, bos_ids(backend), backend.tokenize(text))
        backend.close()
        return out

    def llama(threads: int = 2, **options) -> list[list[int]]:
        b = LlamaCppBackend()
        b.load(LoadRequest(str(path), threads, 2048, options))
        return continuations(b)

    runs = {"llama_cpp (default: flash attention auto)": llama(),
            "llama_cpp flash attention off": llama(flash_attn="off"),
            "llama_cpp 1 thread": llama(1),
            "llama_cpp prompt token by token": llama(n_batch=1, n_ubatch=1)}
    for precision in filter(None, args.precision.split(",")):
        folder = prepare_onnx(path, digest, precision, log=lambda m: print(m, file=sys.stderr))
        b = OnnxRuntimeBackend()
        b.load(LoadRequest(str(folder), 2, 2048))
        runs[f"onnxruntime {precision}"] = continuations(b)
    (ref_name, ref), *others = runs.items()
    print(f"\ngreedy continuations against {ref_name}, {len(ref)} prompts x {GREEDY_TOKENS} "
          f"tokens ({args.task})\n")
    print("| against | identical | first difference |\n|---|---|---|")
    for name, got in others:
        same = sum(a == b for a, b in zip(ref, got))
        firsts = ", ".join(str(first_difference(a, b)) for a, b in zip(ref, got))
        print(f"| {name} | {same}/{len(ref)} | {firsts} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
