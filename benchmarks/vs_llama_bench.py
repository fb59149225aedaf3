"""The harness's llama_cpp speed next to llama.cpp's own llama-bench, alternating, with a
confidence interval on each ratio.

Three figures, as llama-bench names them, on the same model, threads and flash-attention
setting:
  pp512        prompt processing of 512 tokens    harness: prefill_tps at p512 (g2, depth 0)
  tg128        generating 128 tokens at depth 0   harness: decode_tps at p1 g128, depth 0
  tg128 @ d512 the same after 512 tokens          harness: decode_tps at p1 g128, depth 512
Differences that remain by definition: the harness's prefill (prompt / TTFT) includes
sampling the first token; its decode excludes the first generated token (llama-bench's tg
counts all n). Both are tiny against 512 prompt or 127 generated tokens.

The harness runs with the host profile's context (2,048 tokens), as `sllm-bench run` does;
`--context test` sizes it to the test instead, as llama-bench sizes its own (n_ctx = prompt +
gen + depth, from a copy of the host profile). In one process, alternating, n_ctx 2048
against 640 gave 0.995 for both pp512 and tg128; across processes the difference is lost in
the noise (16 rounds with --context test: pp512 0.979, tg128 0.993, d512 0.996).

Each round measures each figure with llama-bench (-r REPS, that test alone) and with the
harness (REPS repetitions, one worker), back to back, the order alternating between rounds;
the ratio harness / llama-bench of each pair of medians goes into a t-interval over rounds.
llama-bench is not part of this project: build it from the llama.cpp that the installed
llama-cpp-python's sdist carries:

    pip download --no-binary :all: --no-deps llama-cpp-python==$(pip show llama-cpp-python | sed -n 's/^Version: //p')
    tar xzf llama_cpp_python-*.tar.gz && cd llama_cpp_python-*/vendor/llama.cpp
    cmake -B build -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF
    cmake --build build -j --target llama-bench llama-perplexity

    python benchmarks/vs_llama_bench.py --llama-bench PATH [--rounds 10] [--reps 3]
        [--threads 2] [--flash-attn auto|on|off] [--model ID|PATH] [--figures tg128 ...]
Measure on a quiet machine (load average well below 1): nothing else may run. On a 2-core
VM single pairs of figures seconds apart spread by about 6 %, and whichever side runs second
gains about 1 % (the alternation cancels it): 10 rounds give an interval about 7 points
wide, 30 rounds about 4 (tg128 alone: `--figures tg128`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import harness_record, t_interval  # noqa: E402

TARGET = 0.98
FIGURES = ("pp512", "tg128", "tg128@d512")


#: each figure as llama-bench flags and as the harness's (prompt, gen, depth)
SHAPES = {"pp512": (["-p", "512", "-n", "0", "-d", "0"], (512, 2, 0)),
          "tg128": (["-p", "0", "-n", "128", "-d", "0"], (1, 128, 0)),
          "tg128@d512": (["-p", "0", "-n", "128", "-d", "512"], (1, 128, 512))}


def llama_bench(exe: str, model: Path, threads: int, reps: int, fa: str, figure: str,
                repack: bool = True) -> float:
    """Median tokens/s of one figure from one llama-bench run (JSON output). `repack`
    False is llama-bench's --repack 0: no extra (AMX, repacked) weight buffers, as the
    harness runs where its probe found them crashing (harness.backends.llama_extra_bufts)."""
    cmd = [exe, "-m", str(model), "-t", str(threads), *SHAPES[figure][0], "-r", str(reps),
           "-fa", fa, "-o", "json", *([] if repack else ["--repack", "0"])]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    (test,) = json.loads(out)
    return statistics.median(test["samples_ts"])


def device_sized_to_the_test(folder: Path) -> str:
    """A copy of the host profile whose context is as small as the test allows, so the
    harness's n_ctx is its prompt + gen + depth, as llama-bench sizes its own context."""
    import yaml

    from harness.config import devices_dir, read_yaml

    profile = read_yaml(devices_dir() / "host.yaml")
    path = folder / "host.yaml"
    path.write_text(yaml.safe_dump({**profile, "context_size": 1}), encoding="utf-8")
    return str(path)


def harness(model: str, threads: int, reps: int, fa: str, out: Path, figure: str,
            device: str = "host"):
    """The record of one figure's harness run (one worker, llama_cpp)."""
    from harness import api

    p, g, d = SHAPES[figure][1]
    request = api.RunRequest(models=(model,), backends=("llama_cpp",), threads=(threads,),
                             prompts=(p,), gens=(g,), depths=(d,), reps=reps, warmup=1,
                             tasks=(), options={"flash_attn": fa}, device=device)
    return harness_record(request, out)


def metric_of(figure: str) -> str:
    return "prefill_tps" if figure.startswith("pp") else "decode_tps"


def calibration_summary(records) -> str:
    """What the calibration kernel recorded around the harness's items: its time before
    the item, the drift after/before - 1 and how many items it marked unstable."""
    import numpy as np

    cals = [(r.conditions or {}).get("calibration") or {} for r in records]
    drift = np.array([c["drift"] for c in cals if isinstance(c.get("drift"), (int, float))])
    before = [c["before_ms"] for c in cals if isinstance(c.get("before_ms"), (int, float))]
    if not drift.size:
        return "calibration: not recorded"
    unstable = sum(1 for r in records if (r.conditions or {}).get("state") == "unstable")
    return (f"calibration kernel over {drift.size} harness items: before {np.median(before):.2f} "
            f"ms (median; {min(before):.2f}-{max(before):.2f}), drift median "
            f"{np.median(drift):+.1%}, |drift| p90 {np.percentile(abs(drift), 90):.1%}, max "
            f"{abs(drift).max():.1%}; {unstable} item(s) marked unstable")


def main() -> int:
    ap = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    ap.add_argument("--llama-bench", required=True, help="path of a llama-bench binary")
    ap.add_argument("--model", default=None, help="catalogue id or GGUF path (default: the "
                    "catalogue's default)")
    ap.add_argument("--rounds", type=int, default=10, help="alternating rounds (default 10)")
    ap.add_argument("--reps", type=int, default=3,
                    help="repetitions per figure and side in a round (default 3)")
    ap.add_argument("--threads", type=int, default=2, help="threads on both sides (default 2)")
    ap.add_argument("--flash-attn", choices=("auto", "on", "off"), default="auto",
                    help="flash attention on both sides (default auto, llama.cpp's default)")
    ap.add_argument("--context", choices=("profile", "test"), default="profile",
                    help="the harness's n_ctx: the host profile's context_size, what a run "
                    "uses (default), or prompt + gen + depth, as llama-bench sizes its own")
    ap.add_argument("--figures", nargs="+", choices=FIGURES, default=list(FIGURES),
                    help="which figures to measure (default: all three)")
    args = ap.parse_args()
    from harness.engine import resolve
    from harness.models import resolve as resolve_file

    cat, cat_path = resolve.catalogue(None)
    spec = resolve.model_spec(cat, args.model or cat.default)
    path, _ = resolve_file(spec, cat_path.parent)
    from harness.backends.llama_extra_bufts import decide

    repack, why = decide(str(path))  # the same weight buffers on both sides
    print(f"load average before: {os.getloadavg()}; extra buffers "
          f"{'on' if repack else 'off'} on both sides ({why})", file=sys.stderr)
    figures = [f for f in FIGURES if f in args.figures]
    rows = {f: {"harness": [], "llama-bench": [], "ratio": []} for f in figures}
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        device = device_sized_to_the_test(Path(tmp)) if args.context == "test" else "host"
        for r in range(args.rounds):
            # figure by figure, so the two sides of a ratio are measured seconds apart (this
            # kind of VM drifts by several per cent over minutes); the order alternates
            for f in figures:
                order = ["llama-bench", "harness"] if r % 2 == 0 else ["harness", "llama-bench"]
                got = {}
                for who in order:
                    if who == "llama-bench":
                        got[who] = llama_bench(args.llama_bench, path, args.threads,
                                               args.reps, args.flash_attn, f, repack)
                    else:
                        rec = harness(args.model or spec.id, args.threads, args.reps,
                                      args.flash_attn, Path(tmp), f, device)
                        records.append(rec)
                        got[who] = rec.stat(metric_of(f))
                rows[f]["harness"].append(got["harness"])
                rows[f]["llama-bench"].append(got["llama-bench"])
                rows[f]["ratio"].append(got["harness"] / got["llama-bench"])
            print(f"  round {r + 1}/{args.rounds}: " + ", ".join(
                f"{f} {rows[f]['ratio'][-1]:.3f}" for f in figures), file=sys.stderr, flush=True)
    print(f"load average after: {os.getloadavg()}", file=sys.stderr)
    print(f"\n{spec.id}, {args.threads} threads, flash attention {args.flash_attn}, "
          f"{args.rounds} alternating rounds of {args.reps} repetitions, harness context: "
          f"{args.context}\n")
    print("| figure | harness tok/s | llama-bench tok/s | ratio (mean) | 95% t-interval | "
          f"target | met |\n|---|---|---|---|---|---|---|")
    ok = True
    for f in figures:
        ratio = statistics.mean(rows[f]["ratio"])
        lo, hi = t_interval(rows[f]["ratio"])
        met = ratio >= TARGET
        ok &= met
        print(f"| {f} | {statistics.median(rows[f]['harness']):.1f} | "
              f"{statistics.median(rows[f]['llama-bench']):.1f} | {ratio:.3f} | "
              f"{lo:.3f}-{hi:.3f} | >= {TARGET} | {'yes' if met else 'NO'} |")
    print("\n" + calibration_summary(records))
    print("\n" + json.dumps(rows))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
