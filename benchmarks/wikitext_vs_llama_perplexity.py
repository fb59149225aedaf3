"""WikiText-2 perplexity through the harness's llama_cpp backend next to llama.cpp's
llama-perplexity: wall time and perplexity on the first N chunks, alternating.

Both read wiki.test.raw from the shared evaluation data, tokenize it and score N chunks of
512 tokens (-c 512 --chunks N; the harness's wikitext2_llamacpp task with --limit N), on
the default model, the same threads and flash-attention setting. llama-perplexity's time
runs from the line announcing tokenization to its exit (model loading left out); the
harness's is the worker's wall time for the task (elapsed_s, also without loading).
Target: harness time <= llama-perplexity's (speed ratio >= 1.0), and the same perplexity
to 4 significant digits. Build llama-perplexity as benchmarks/vs_llama_bench.py says.

    python benchmarks/wikitext_vs_llama_perplexity.py --llama-perplexity PATH
        [--chunks 100] [--rounds 2] [--threads 2] [--flash-attn auto|on|off]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import default_model  # noqa: E402

TARGET = 1.0


def llama_perplexity(exe: str, model: Path, data: Path, chunks: int, threads: int,
                     fa: str) -> dict:
    cmd = [exe, "-m", str(model), "-f", str(data), "-c", "512", "--chunks", str(chunks),
           "-t", str(threads), "-fa", fa]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    start, ppl = None, None
    for line in proc.stdout:  # type: ignore[union-attr]
        if start is None and "tokenizing the input" in line:
            start = time.perf_counter()
        m = re.search(r"Final estimate: PPL = ([0-9.]+)", line)
        if m:
            ppl = float(m.group(1))
    rc = proc.wait()
    end = time.perf_counter()
    if rc != 0 or start is None or ppl is None:
        raise SystemExit(f"llama-perplexity failed (exit {rc}): {' '.join(cmd)}")
    return {"seconds": end - start, "perplexity": ppl}


def harness(chunks: int, threads: int, fa: str, out: Path) -> dict:
    from harness import api

    request = api.RunRequest(backends=("llama_cpp",), threads=(threads,), speed=False,
                             tasks=("wikitext2_llamacpp",), limit=chunks,
                             options={"flash_attn": fa})
    (rec,) = api.execute(api.plan(request), out_dir=out, log=lambda m: None).records
    if not rec.ok:
        raise SystemExit(f"harness run failed: {rec.error}")
    return {"seconds": rec.stat("elapsed_s"), "perplexity": rec.stat("token_perplexity")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--llama-perplexity", required=True, metavar="PATH")
    ap.add_argument("--chunks", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--flash-attn", choices=("auto", "on", "off"), default="auto")
    args = ap.parse_args()
    from harness.data import tasks

    model = default_model()[0]
    ((_, data),) = tasks.data_files(tasks.load_task("wikitext2_llamacpp"))
    print(f"load average before: {os.getloadavg()}", file=sys.stderr)
    samples: dict[str, list[dict]] = {"llama-perplexity": [], "harness": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for who in (["llama-perplexity", "harness"] if r % 2 == 0
                        else ["harness", "llama-perplexity"]):
                samples[who].append(
                    llama_perplexity(args.llama_perplexity, model, data, args.chunks,
                                     args.threads, args.flash_attn)
                    if who == "llama-perplexity"
                    else harness(args.chunks, args.threads, args.flash_attn, Path(tmp)))
                print(f"  round {r + 1}: {who} {samples[who][-1]}", file=sys.stderr, flush=True)
    print(f"load average after: {os.getloadavg()}", file=sys.stderr)
    ref = statistics.median(s["seconds"] for s in samples["llama-perplexity"])
    ours = statistics.median(s["seconds"] for s in samples["harness"])
    p_ref, p_ours = samples["llama-perplexity"][0]["perplexity"], samples["harness"][0]["perplexity"]
    ratio = ref / ours
    print(f"\nWikiText-2, first {args.chunks} chunks of 512, {args.threads} threads, flash "
          f"attention {args.flash_attn}, {args.rounds} alternating round(s), medians\n")
    print("| contender | seconds | perplexity |\n|---|---|---|")
    print(f"| llama-perplexity | {ref:.1f} | {p_ref:.4f} |\n| harness llama_cpp | {ours:.1f} | "
          f"{p_ours:.4f} |")
    same = f"{p_ref:.4g}" == f"{p_ours:.4g}"
    print(f"\nspeed ratio (llama-perplexity time / harness time): {ratio:.3f} "
          f"(target >= {TARGET}); same perplexity to 4 significant digits: {same}")
    print("\n" + json.dumps(samples))
    return 0 if ratio >= TARGET and same else 1


if __name__ == "__main__":
    raise SystemExit(main())
