"""`sllm-bench parity`: did the port to the device change the model?

The same text goes through each backend (each in its own worker); the parent compares
the next-token distributions position by position, pairwise against the reference (the
first backend named; transformers, the fp32 de-quantized weights, when it is included).
Metrics are defined in harness/scenarios/parity.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from harness.cli.common import EPILOG, log, split
from harness.markdown import table
from harness.precision import CHOICES as PRECISIONS
from harness.precision import DEFAULT as DEFAULT_PRECISION


def register(sub) -> None:
    p = sub.add_parser("parity", help="compare next-token distributions across backends",
                       description=__doc__.split("\n\n")[0], epilog=EPILOG)
    p.add_argument("--model", "-m", default=None, help="catalogue id or path (default: default)")
    p.add_argument("--backend", "-b", action="append", metavar="NAME",
                   help="backends to compare (default: llama_cpp,onnxruntime,transformers "
                        "where installed); the first is the reference unless transformers "
                        "is among them")
    p.add_argument("--task", default="prose_en", help="a perplexity task whose text is used "
                   "(default: prose_en)")
    p.add_argument("--tokens", type=int, default=512, help="positions compared (default 512)")
    p.add_argument("--device", "-d", default="host")
    p.add_argument("--precision", choices=PRECISIONS, default=DEFAULT_PRECISION,
                   help="ONNX precision (default gguf: the GGUF's own weights)")
    p.add_argument("--format", "-o", choices=("markdown", "json"), default="markdown")
    p.add_argument("--out", default=None, help="results folder (default: results/runs)")
    p.set_defaults(handler=cmd_parity)


def cmd_parity(args) -> int:
    from harness import api

    request = api.parity_request(model=args.model, backends=split(args.backend),
                                 task=args.task, tokens=args.tokens, device=args.device,
                                 precision=args.precision, models_file=args.models_file)

    def show(plan) -> None:
        for line in api.describe(plan):
            log(line)

    result = api.parity(request, out_dir=Path(args.out) if args.out else None, log=log,
                        on_plan=show)
    for backend, message in result.failed.items():
        log(f"parity: {backend} failed: {message}")
    print_rows(result.rows, args.format)
    return 1 if result.failed else 0


def print_rows(rows: list[dict], fmt: str) -> None:
    """The parity rows as a Markdown table (or JSON)."""
    if fmt == "json":
        print(json.dumps(rows, indent=1))
        return
    print("\n".join(table(
        ["reference", "backend", "precision", "ppl (ref)", "ppl", "ppl diff %",
         "top-1 agreement", "mean KL", "next-token acc (ref → port)",
         "McNemar ref-only / port-only, p", "greedy identical", "first difference"],
        [[r["reference"], r["backend"], r.get("artifact", {}).get("precision", "-"),
          f"{r['ppl_reference']:.3f}", f"{r['ppl']:.3f}",
          f"{r['ppl_diff_pct']:+.2f}", f"{r['top1_agreement']:.3f}", f"{r['mean_kl']:.4f}",
          f"{r['accuracy_reference']:.3f} → {r['accuracy']:.3f}",
          f"{r['mcnemar_reference_only']} / {r['mcnemar_port_only']}, {r['mcnemar_p']:.3g}",
          f"{r['greedy_identical']}/{r['greedy_prompts']}" if "greedy_prompts" in r else "-",
          ", ".join(str(x) for x in r.get("greedy_first_diff", [])) or "-"]
         for r in rows])))
    sys.stdout.flush()
