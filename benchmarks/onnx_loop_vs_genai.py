"""The harness's own onnxruntime KV-cache loop vs onnxruntime-genai, same ONNX model.

A: harness.backends.onnxruntime (plain InferenceSession, IOBinding, in-place cache).
B: harness.backends.ort_genai (onnxruntime-genai's Generator).

Each round runs A and B as `sllm-bench run` runs them, each in a worker process of its own
(the harness pipeline, the default device profile's context), the order alternating; the
ratio A / B of the round's decode (and prefill) medians goes into a t-interval over
rounds. Separate processes matter: with two onnxruntime sessions in one process (two
thread pools, two copies of the library: onnxruntime's Python module and the shared
library genai loads) the same comparison moved by up to 7 % from one process to the next,
in either direction.

Then, in this process, A alone with its calls to session.run_with_iobinding timed: the
share of A's decode time spent outside the session run, i.e. its own Python work. A loop
with no Python work at all would reach (A / B) / (1 - share): the ceiling of what any loop
over this session and graph can show against B. Target (issue 12): A / B >= 1.05.

    python benchmarks/onnx_loop_vs_genai.py [--rounds 10] [--reps 3] [--prompt 128]
        [--gen 64] [--threads 2] [--precision gguf]
Measure on a quiet machine (load average well below 1): nothing else may run.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import default_model, harness_record, parser, t_interval  # noqa: E402
from harness.precision import CHOICES as PRECISIONS  # noqa: E402
from harness.precision import DEFAULT as DEFAULT_PRECISION  # noqa: E402

TARGET = 1.05
METRICS = ("decode_tps", "prefill_tps")


def pipeline(backend: str, args, out: Path) -> dict[str, float]:
    """Median decode and prefill tokens/s of one harness run of `backend` (one worker)."""
    from harness import api

    request = api.RunRequest(backends=(backend,), threads=(args.threads,),
                             prompts=(args.prompt,), gens=(args.gen,), reps=args.reps,
                             warmup=1, tasks=(), precision=args.precision)
    record = harness_record(request, out)
    return {m: record.stat(m) for m in METRICS}


def python_share(args, reps: int = 5) -> float:
    """Median over repetitions of 1 - (time inside session.run_with_iobinding during the
    decode) / (decode time), for the own loop in this process."""
    from harness.backends.base import LoadRequest
    from harness.backends.onnxruntime import OnnxRuntimeBackend
    from harness.prepare import prepare_onnx
    from harness.scenarios import speed

    path, digest = default_model()
    folder = prepare_onnx(path, digest, args.precision, log=lambda m: None)
    own = OnnxRuntimeBackend()
    own.load(LoadRequest(str(folder), args.threads, args.prompt + args.gen))
    inside: list[float] = []
    session_run = own._session.run_with_iobinding

    def counted_run(io, *a):
        t = time.perf_counter()
        session_run(io, *a)
        inside.append(time.perf_counter() - t)

    own._session.run_with_iobinding = counted_run
    prompt = speed.synthetic_prompt(own.vocab_size(), args.prompt)
    shares = []
    for rep in range(reps + 1):  # the first is a warm-up
        inside.clear()
        stamps = speed.time_generation(own, prompt, args.gen)
        # runs: the prompt, then gen - 1 steps, each between two stamps after the first token
        assert len(inside) == args.gen, len(inside)
        if rep:
            shares.append(1 - sum(inside[1:]) / (stamps[-1] - stamps[1]))
    own.close()
    return statistics.median(shares)


def main() -> int:
    ap = parser(__doc__)
    ap.set_defaults(rounds=10)
    ap.add_argument("--reps", type=int, default=3,
                    help="repetitions per backend in a round (default 3)")
    ap.add_argument("--precision", default=DEFAULT_PRECISION, choices=PRECISIONS)
    args = ap.parse_args()
    import os

    print(f"load average before: {os.getloadavg()}", file=sys.stderr)
    rows = {b: {m: [] for m in METRICS} for b in ("onnxruntime", "ort_genai")}
    ratios: dict[str, list[float]] = {m: [] for m in METRICS}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            order = ["onnxruntime", "ort_genai"] if r % 2 == 0 else ["ort_genai", "onnxruntime"]
            got = {b: pipeline(b, args, Path(tmp)) for b in order}
            for m in METRICS:
                for b in got:
                    rows[b][m].append(got[b][m])
                ratios[m].append(got["onnxruntime"][m] / got["ort_genai"][m])
            print(f"  round {r + 1}/{args.rounds}: decode {ratios['decode_tps'][-1]:.3f}, "
                  f"prefill {ratios['prefill_tps'][-1]:.3f}", file=sys.stderr, flush=True)
    share = python_share(args)
    print(f"load average after: {os.getloadavg()}", file=sys.stderr)
    print(f"\nown onnxruntime loop vs onnxruntime-genai, {args.precision} port, {args.threads} "
          f"threads, prompt {args.prompt}, gen {args.gen}, {args.rounds} alternating rounds "
          f"of {args.reps} repetitions, each backend in its own worker\n")
    print("| metric | onnxruntime | ort_genai | ratio (mean) | 95% t-interval | target | met |"
          "\n|---|---|---|---|---|---|---|")
    ok = True
    for m in METRICS:
        ratio = statistics.mean(ratios[m])
        lo, hi = t_interval(ratios[m])
        target = TARGET if m == "decode_tps" else None
        met = target is None or ratio >= target
        ok &= met
        print(f"| {m} | {statistics.median(rows['onnxruntime'][m]):.1f} | "
              f"{statistics.median(rows['ort_genai'][m]):.1f} | {ratio:.3f} | {lo:.3f}-{hi:.3f} | "
              f"{'>= ' + str(target) if target else '-'} | {'yes' if met else 'NO'} |")
    ceiling = statistics.mean(ratios["decode_tps"]) / (1 - share)
    print(f"\nthe own loop's Python work: {share:.1%} of its decode time; a loop with none "
          f"would reach {ceiling:.3f} of genai's decode (the ceiling for any loop on this "
          "session)")
    print("\n" + json.dumps({"rows": rows, "ratios": ratios, "python_share": share}))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
