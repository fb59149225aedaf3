"""The harness's own onnxruntime KV-cache loop vs onnxruntime-genai, same ONNX model.

A: harness.backends.onnxruntime (plain InferenceSession, IOBinding, in-place cache).
B: harness.backends.ort_genai (onnxruntime-genai's Generator).
Both are timed by the same speed scenario code. Target: A/B >= 1.0 for decode tokens/s.

    python benchmarks/onnx_loop_vs_genai.py [--rounds 10] [--prompt 128] [--gen 64] [--threads 2]
        [--precision gguf] [--n-ctx N]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (alternate, default_model, parser, print_report,  # noqa: E402
                               ratio_report)


def main() -> int:
    ap = parser(__doc__)
    ap.add_argument("--precision", default="gguf", choices=("gguf", "int4-rtn", "int4", "fp32"))
    ap.add_argument("--n-ctx", type=int, default=None, help="context both backends allocate "
                    "their KV cache for (default: prompt + gen; a run uses the profile's "
                    "context_size)")
    args = ap.parse_args()

    from harness.backends.base import LoadRequest
    from harness.backends.onnxruntime import OnnxRuntimeBackend
    from harness.backends.ort_genai import OrtGenaiBackend
    from harness.prepare import prepare_onnx
    from harness.scenarios import speed

    path, digest = default_model()
    folder = prepare_onnx(path, digest, args.precision, log=lambda m: print(m, file=sys.stderr))
    request = LoadRequest(str(folder), args.threads, args.n_ctx or args.prompt + args.gen)
    own, genai = OnnxRuntimeBackend(), OrtGenaiBackend()
    own.load(request)
    genai.load(request)

    def timed(backend):
        def one() -> dict[str, float]:
            ms = speed.run(backend, prompt_tokens=args.prompt, gen_tokens=args.gen,
                           repetitions=1, warmup=0)
            return {m.metric: m.samples[0] for m in ms if m.metric in ("decode_tps", "prefill_tps")}
        return one

    print(f"{folder.name}, threads {args.threads}, prompt {args.prompt}, gen {args.gen}, "
          f"{args.rounds} alternating rounds", file=sys.stderr)
    samples = alternate({"onnxruntime": timed(own), "ort_genai": timed(genai)}, args.rounds)
    report = ratio_report(samples, "onnxruntime", "ort_genai", ["decode_tps", "prefill_tps"])
    ok = print_report("own onnxruntime loop vs onnxruntime-genai", report, "onnxruntime",
                      "ort_genai", {"decode_tps": 1.0})
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
