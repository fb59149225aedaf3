"""HellaSwag items/s of every scoring backend next to llama.cpp's llama-perplexity.

The same first N items (default 400) of the shared HellaSwag file, the default model, the
same threads. llama-perplexity runs `--hellaswag --hellaswag-tasks N -c 512` on a file of
exactly those items; its time runs from the line announcing task selection (it then
tokenizes and scores) to its exit, so model loading is left out as the harness's items/s
leaves it out (that is n_items / the worker's scoring time). Rounds alternate the order.
Target: llama_cpp >= 0.8 x llama-perplexity's items/s.
llama-perplexity is not part of this project: build it from the llama.cpp that the
llama-cpp-python sdist carries (docs/measuring-sticks.md) and pass its path.

    python benchmarks/hellaswag_vs_llama_perplexity.py --llama-perplexity PATH
        [--items 400] [--rounds 1] [--backends llama_cpp,onnxruntime,transformers]
        [--flash-attn auto|on|off]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import default_model  # noqa: E402

TARGET = 0.8


def run_llama_perplexity(exe: str, model: Path, data: Path, n: int, threads: int,
                         fa: str) -> dict:
    cmd = [exe, "-m", str(model), "-f", str(data), "--hellaswag", "--hellaswag-tasks", str(n),
           "-c", "512", "-t", str(threads), "-fa", fa]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    start, last = None, None
    for line in proc.stdout:  # type: ignore[union-attr]
        if start is None and "hellaswag_score : selecting" in line:
            start = time.perf_counter()
        fields = line.split("\t")
        if len(fields) >= 2 and fields[0].strip() == str(n):
            last = float(fields[1].strip().rstrip("%")) / 100
    rc = proc.wait()
    end = time.perf_counter()
    if rc != 0 or start is None or last is None:
        raise SystemExit(f"llama-perplexity failed (exit {rc}): {' '.join(cmd)}")
    return {"items_per_s": n / (end - start), "acc_per_token": last}


def run_harness(backend: str, n: int, threads: int, out: Path, fa: str) -> dict:
    cmd = [sys.executable, "-m", "harness", "run", "-b", backend, "--no-speed",
           "--tasks", "hellaswag", "--limit", str(n), "-t", str(threads), "--format", "json",
           "--no-progress", "--out", str(out)]
    if backend == "llama_cpp":
        cmd += ["--set", f"flash_attn={fa}"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed (exit {r.returncode}): {r.stderr.strip()}")
    (row,) = json.loads(r.stdout)
    return {"items_per_s": row["items_per_s"], "acc_per_token": row["acc_per_token"],
            "acc": row["acc"], "acc_norm": row["acc_norm"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--llama-perplexity", required=True, metavar="PATH",
                    help="the llama-perplexity executable")
    ap.add_argument("--items", type=int, default=400, help="first N items (default 400)")
    ap.add_argument("--rounds", type=int, default=1, help="alternating rounds (default 1)")
    ap.add_argument("--threads", type=int, default=2, help="threads (default 2)")
    ap.add_argument("--backends", default="llama_cpp,onnxruntime,transformers",
                    help="harness backends, comma-separated")
    ap.add_argument("--flash-attn", choices=("auto", "on", "off"), default="auto",
                    help="llama-perplexity -fa and the llama_cpp backend's flash_attn")
    args = ap.parse_args()

    from harness.data import tasks

    model = default_model()[0]
    task = tasks.load_task("hellaswag")
    ((_, source),) = tasks.data_files(task)
    contenders = ["llama-perplexity"] + args.backends.split(",")
    samples: dict[str, list[dict]] = {c: [] for c in contenders}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "hellaswag_first.txt"
        lines = source.read_text(encoding="utf-8").splitlines(keepends=True)[: 6 * args.items]
        data.write_text("".join(lines), encoding="utf-8")
        for r in range(args.rounds):
            for c in contenders if r % 2 == 0 else reversed(contenders):
                print(f"round {r + 1}/{args.rounds}: {c} ...", file=sys.stderr, flush=True)
                samples[c].append(
                    run_llama_perplexity(args.llama_perplexity, model, data, args.items,
                                         args.threads, args.flash_attn)
                    if c == "llama-perplexity"
                    else run_harness(c, args.items, args.threads, Path(tmp) / "runs",
                                     args.flash_attn))
    ref = statistics.median(s["items_per_s"] for s in samples["llama-perplexity"])
    print(f"\nHellaSwag, first {args.items} items, {args.threads} threads, flash attention "
          f"{args.flash_attn}, "
          f"{args.rounds} round(s), medians\n")
    print("| contender | items/s | x llama-perplexity | acc_per_token | acc | acc_norm |")
    print("|---|---|---|---|---|---|")
    ok = True
    for c in contenders:
        ips = statistics.median(s["items_per_s"] for s in samples[c])
        s0 = samples[c][0]
        print(f"| {c} | {ips:.2f} | {ips / ref:.2f} | {s0['acc_per_token']:.4f} | "
              f"{s0.get('acc', float('nan')):.4f} | {s0.get('acc_norm', float('nan')):.4f} |")
        if c == "llama_cpp":
            ok = ips / ref >= TARGET
    print("\n" + json.dumps(samples))
    if "llama_cpp" in contenders:
        print(f"\nllama_cpp target >= {TARGET} x llama-perplexity: {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
