"""The harness's own onnxruntime KV-cache loop vs onnxruntime-genai, same ONNX model.

A: harness.backends.onnxruntime (plain InferenceSession, IOBinding, in-place cache).
B: harness.backends.ort_genai (onnxruntime-genai's Generator).
Both are timed by the same speed scenario code. Target (issue 12): A/B >= 1.05 for decode
tokens/s.

Beside them the benchmark reports A's floor: its decode tokens/s counting only the time
inside session.run_with_iobinding, i.e. what any loop over this session would reach if its
own Python work took no time at all. floor / B is therefore the ceiling of A / B: a loop
cannot beat onnxruntime-genai by more than that on this session and graph.

    python benchmarks/onnx_loop_vs_genai.py [--rounds 10] [--prompt 128] [--gen 64] [--threads 2]
        [--precision gguf] [--n-ctx N]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (alternate, default_model, parser, print_report,  # noqa: E402
                               ratio_report)


TARGET = 1.05


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

    inside: list[float] = []
    session_run = own._session.run_with_iobinding

    def counted_run(io, *a):
        t = time.perf_counter()
        session_run(io, *a)
        inside.append(time.perf_counter() - t)

    own._session.run_with_iobinding = counted_run

    def timed(backend):
        def one() -> dict[str, float]:
            inside.clear()
            ms = speed.run(backend, prompt_tokens=args.prompt, gen_tokens=args.gen,
                           repetitions=1, warmup=0)
            got = {m.metric: m.samples[0] for m in ms if m.metric in ("decode_tps", "prefill_tps")}
            if backend is own:  # runs: the prompt, then gen - 1 steps (the decode)
                assert len(inside) == args.gen, len(inside)
                got["floor_decode_tps"] = (args.gen - 1) / sum(inside[1:])
            return got
        return one

    print(f"{folder.name}, threads {args.threads}, prompt {args.prompt}, gen {args.gen}, "
          f"{args.rounds} alternating rounds", file=sys.stderr)
    samples = alternate({"onnxruntime": timed(own), "ort_genai": timed(genai)}, args.rounds)
    report = ratio_report(samples, "onnxruntime", "ort_genai", ["decode_tps", "prefill_tps"])
    ok = print_report("own onnxruntime loop vs onnxruntime-genai", report, "onnxruntime",
                      "ort_genai", {"decode_tps": TARGET})
    samples["floor"] = {"decode_tps": samples["onnxruntime"].pop("floor_decode_tps")}
    ceiling = ratio_report(samples, "floor", "ort_genai", ["decode_tps"])
    print_report("ceiling: own loop's floor (time inside session.run only) vs onnxruntime-genai",
                 ceiling, "floor", "ort_genai", {})
    share = ratio_report(samples, "floor", "onnxruntime", ["decode_tps"])["decode_tps"]["ratio"]
    print(f"\nthe own loop's Python work is {1 - 1 / share:.1%} of its decode time")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
