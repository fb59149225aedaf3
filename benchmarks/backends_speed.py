"""Speed of one model through every backend and ONNX recipe, alternating, in one sitting.

Contenders (default): llama_cpp on the GGUF; onnxruntime and ort_genai on the faithful
port (precision gguf) and on the model builder's re-quantized int4 (int4-rtn). Each round
runs every contender once (one worker each, the harness's speed scenario, REPS
repetitions after a warm-up), the order reversing every other round. Reported: medians
over rounds of each contender's median prefill and decode tokens/s, the ratio to
llama_cpp, and the ratio onnxruntime / ort_genai per recipe (the harness's own
onnxruntime KV-cache loop against onnxruntime-genai's generator on the same files).

    python benchmarks/backends_speed.py [--rounds 3] [--reps 5] [--prompt 128] [--gen 64]
        [--threads 2] [--model ID] [--contenders llama_cpp,onnxruntime:gguf,...]
Measure on a quiet machine (load average well below 1).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DEFAULT = ("llama_cpp,onnxruntime:gguf,ort_genai:gguf,onnxruntime:int4-rtn,"
           "ort_genai:int4-rtn")


def measure(contender: str, args, out: Path) -> dict[str, float]:
    from harness import api

    backend, _, precision = contender.partition(":")
    request = api.RunRequest(models=(args.model,) if args.model else (), backends=(backend,),
                             threads=(args.threads,), prompts=(args.prompt,),
                             gens=(args.gen,), reps=args.reps, warmup=1, tasks=(),
                             **({"precision": precision} if precision else {}))
    (rec,) = api.execute(api.plan(request), out_dir=out, log=lambda m: None).records
    if not rec.ok:
        raise SystemExit(f"{contender} failed: {rec.error}")
    return {"prefill_tps": rec.stat("prefill_tps"), "decode_tps": rec.stat("decode_tps")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--prompt", type=int, default=128)
    ap.add_argument("--gen", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--model", default=None)
    ap.add_argument("--contenders", default=DEFAULT)
    args = ap.parse_args()
    names = args.contenders.split(",")
    got: dict[str, dict[str, list[float]]] = {c: {} for c in names}
    print(f"load average before: {os.getloadavg()}", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        for c in names:  # prepare every ONNX port before timing anything
            measure(c, argparse.Namespace(**{**vars(args), "reps": 1}), Path(tmp))
        for r in range(args.rounds):
            for c in names if r % 2 == 0 else list(reversed(names)):
                for k, v in measure(c, args, Path(tmp)).items():
                    got[c].setdefault(k, []).append(v)
            print(f"  round {r + 1}/{args.rounds}", file=sys.stderr, flush=True)
    print(f"load average after: {os.getloadavg()}", file=sys.stderr)
    med = {c: {k: statistics.median(v) for k, v in got[c].items()} for c in names}
    base = med.get("llama_cpp")
    print(f"\np{args.prompt}/g{args.gen}, {args.threads} threads, {args.rounds} alternating "
          f"rounds of {args.reps} repetitions (medians)\n")
    print("| contender | prefill tok/s | decode tok/s | prefill x llama_cpp | "
          "decode x llama_cpp |\n|---|---|---|---|---|")
    for c in names:
        m = med[c]
        rel = (f"{m['prefill_tps'] / base['prefill_tps']:.2f} | "
               f"{m['decode_tps'] / base['decode_tps']:.2f}") if base else "- | -"
        print(f"| {c} | {m['prefill_tps']:.1f} | {m['decode_tps']:.1f} | {rel} |")
    for prec in sorted({c.partition(':')[2] for c in names if ':' in c}):
        a, b = f"onnxruntime:{prec}", f"ort_genai:{prec}"
        if a in med and b in med:
            ratios = [x / y for x, y in zip(got[a]["decode_tps"], got[b]["decode_tps"])]
            print(f"\nonnxruntime / ort_genai decode, {prec}: {statistics.median(ratios):.3f} "
                  f"(per round: {', '.join(f'{x:.3f}' for x in ratios)})")
    print("\n" + json.dumps(got))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
