"""HellaSwag items/s of every scoring backend next to llama.cpp's llama-perplexity.

The same first N items (default 400) of the shared HellaSwag file, the default model, the
same threads. llama-perplexity runs `--hellaswag --hellaswag-tasks N -c 512` on a file of
exactly those items; its time runs from the line announcing task selection (it then
tokenizes and scores) to its exit, so model loading is left out as the harness's items/s
leaves it out (that is n_items / the worker's scoring time). Rounds alternate the order.
Target: llama_cpp >= 1.0 x llama-perplexity's items/s, and the same acc_per_token item
for item (llama-perplexity scores the tasks in a shuffled order and prints a running
accuracy; the order is recomputed here, so each of its verdicts is matched to its item).
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

TARGET = 1.0


def llama_perplexity_order(n: int) -> list[int]:
    """Task indices in the order llama-perplexity --hellaswag scores a file of n tasks:
    std::mt19937(1) draws, libstdc++'s uniform_int_distribution (Lemire's method) over the
    tasks left, each drawn task erased (checked against the C++ for n = 400 and 10,042)."""
    import numpy as np

    bits = np.random.MT19937()
    bits._legacy_seeding(1)  # std::mt19937's init_genrand(1)
    left, order = list(range(n)), []
    while left:
        span = len(left)
        product = int(bits.random_raw()) * span
        if product & 0xFFFFFFFF < span:
            threshold = (2**32 - span) % span
            while product & 0xFFFFFFFF < threshold:
                product = int(bits.random_raw()) * span
        order.append(left.pop(product >> 32))
    return order


def run_llama_perplexity(exe: str, model: Path, data: Path, n: int, threads: int,
                         fa: str) -> dict:
    cmd = [exe, "-m", str(model), "-f", str(data), "--hellaswag", "--hellaswag-tasks", str(n),
           "-c", "512", "-t", str(threads), "-fa", fa]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    start, last = None, None
    correct, order, done = [0] * n, llama_perplexity_order(n), 0
    for line in proc.stdout:  # type: ignore[union-attr]
        if start is None and "hellaswag_score : selecting" in line:
            start = time.perf_counter()
        fields = line.split("\t")
        if len(fields) >= 2 and fields[0].strip().isdigit() and fields[1].strip().endswith("%"):
            i = int(fields[0])  # a running accuracy over the first i tasks drawn
            last = float(fields[1].strip().rstrip("%")) / 100
            correct[order[i - 1]] = round(last * i) - done
            done = round(last * i)
    rc = proc.wait()
    end = time.perf_counter()
    if rc != 0 or start is None or last is None:
        raise SystemExit(f"llama-perplexity failed (exit {rc}): {' '.join(cmd)}")
    return {"items_per_s": n / (end - start), "acc_per_token": last, "per_item": correct}


def run_harness(backend: str, n: int, threads: int, out: Path, fa: str) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    out = Path(tempfile.mkdtemp(prefix=f"{backend}-", dir=out))  # this run's records only
    cmd = [sys.executable, "-m", "harness", "run", "-b", backend, "--no-speed",
           "--tasks", "hellaswag", "--limit", str(n), "-t", str(threads), "--format", "json",
           "--no-progress", "--out", str(out)]
    if backend == "llama_cpp":
        cmd += ["--set", f"flash_attn={fa}"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed (exit {r.returncode}): {r.stderr.strip()}")
    (row,) = json.loads(r.stdout)
    from harness.records import read_record, record_files

    records = [read_record(p) for p in record_files([out])]
    record = next((r for r in records if r.samples("acc_per_token")), None)
    return {"items_per_s": row["items_per_s"], "acc_per_token": row["acc_per_token"],
            "acc": row["acc"], "acc_norm": row["acc_norm"],
            "per_item": [int(x) for x in record.samples("acc_per_token")] if record else None}


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
    ref_items = samples["llama-perplexity"][0]["per_item"]
    for c in contenders[1:]:
        mine = samples[c][0].get("per_item")
        if mine is not None:
            differ = [i for i, (a, b) in enumerate(zip(mine, ref_items)) if a != b]
            print(f"\n{c}: acc_per_token differs from llama-perplexity's on {len(differ)} of "
                  f"{args.items} items{': ' + str(differ) if differ else ''}")
            if c == "llama_cpp":
                ok = ok and not differ
    print("\n" + json.dumps({c: [{k: v for k, v in s.items() if k != "per_item"} for s in ss]
                             for c, ss in samples.items()}))
    if "llama_cpp" in contenders:
        print(f"\nllama_cpp target >= {TARGET} x llama-perplexity: {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
