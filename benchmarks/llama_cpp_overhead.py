"""Harness llama_cpp backend vs a bare llama-cpp-python loop, same model and threads.

A: harness.scenarios.speed timing harness.backends.llama_cpp (what `sllm-bench run` does
   inside its worker). B: a bare loop straight on llama_cpp.Llama.generate.
Targets: A/B >= 0.97 for decode and prefill tokens/s.

    python benchmarks/llama_cpp_overhead.py [--rounds 10] [--prompt 128] [--gen 64] [--threads 2]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (alternate, default_model, parser, print_report,  # noqa: E402
                               ratio_report)


def main() -> int:
    ap = parser(__doc__)
    ap.add_argument("--model", default=None, help="GGUF path (default: the catalogue default)")
    args = ap.parse_args()

    from harness.backends.llama_extra_bufts import reference_llama
    from harness.backends.base import LoadRequest
    from harness.backends.llama_cpp import LlamaCppBackend
    from harness.scenarios import speed

    path = Path(args.model) if args.model else default_model()[0]
    n_ctx = 2048
    harness_backend = LlamaCppBackend()
    harness_backend.load(LoadRequest(str(path), args.threads, n_ctx))
    bare = reference_llama(path, n_ctx=n_ctx, n_threads=args.threads,
                 n_threads_batch=args.threads, seed=0, verbose=False)
    prompt = speed.synthetic_prompt(bare.n_vocab(), args.prompt)

    def run_harness() -> dict[str, float]:
        (m,) = [x for x in speed.run(harness_backend, prompt_tokens=args.prompt,
                                     gen_tokens=args.gen, repetitions=1, warmup=0)
                if x.metric == "decode_tps"]
        first = speed.time_generation(harness_backend, prompt, args.gen)
        return {"decode_tps": m.samples[0],
                "prefill_tps": args.prompt / (first[1] - first[0])}

    def run_bare() -> dict[str, float]:
        out = {}
        for key in ("decode", "prefill"):
            bare.reset()
            stamps = [time.perf_counter()]
            for i, _tok in enumerate(bare.generate(prompt, top_k=1, temp=0.0, reset=True)):
                stamps.append(time.perf_counter())
                if i + 1 == args.gen:
                    break
            if key == "decode":
                out["decode_tps"] = (args.gen - 1) / (stamps[-1] - stamps[1])
            else:
                out["prefill_tps"] = args.prompt / (stamps[1] - stamps[0])
        return out

    print(f"model {path.name}, threads {args.threads}, prompt {args.prompt}, gen {args.gen}, "
          f"{args.rounds} alternating rounds", file=sys.stderr)
    samples = alternate({"harness": run_harness, "bare": run_bare}, args.rounds)
    report = ratio_report(samples, "harness", "bare", ["decode_tps", "prefill_tps"])
    ok = print_report("llama_cpp: harness vs bare llama-cpp-python", report, "harness", "bare",
                      {"decode_tps": 0.97, "prefill_tps": 0.97})
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
