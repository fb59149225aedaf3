"""`sllm-bench builds`: which build of a model to ship on this device.

From a full-precision GGUF (F32, F16, BF16; Q8_0 with a warning), make each quantization
with llama.cpp's own quantizer and each ONNX port, all cached by content; measure every
build (size, parity against the reference, quality, speed and peak memory at the device
profile's workload, the profile's budgets); print the decision table, the Pareto fronts
and the recommended build, and write them (markdown, csv, json, pareto.svg) to -o DIR.
--dequantize makes an F16 reference from a quantized file (offline; its quality is the
quantized source's, and every table says so).
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from harness.cli.common import EPILOG, log, split
from harness.errors import BenchError


def register(sub) -> None:
    p = sub.add_parser("builds", help="make every quantization of a model, measure each "
                       "against the full-precision reference, recommend one",
                       description=__doc__.split("\n\n")[0] + "\n\n" + __doc__.split("\n\n")[1],
                       epilog=EPILOG)
    p.add_argument("model", help="catalogue id or path to a full-precision .gguf file")
    p.add_argument("--quant", "-q", action="append", metavar="TYPES",
                   help="llama.cpp types, comma-separated, e.g. Q8_0,Q6_K,Q5_K_M,Q4_K_M,Q4_0,"
                        "IQ4_NL,Q3_K_M")
    p.add_argument("--onnx", action="append", metavar="PRECISIONS",
                   help="ONNX ports of one build (--onnx-of): gguf, int4-rtn, fp32")
    p.add_argument("--onnx-of", default=None, metavar="TYPE",
                   help="the build the ONNX ports are made from (default Q4_K_M if built, "
                        "else the first --quant)")
    p.add_argument("--imatrix", default=None, metavar="FILE",
                   help="importance matrix (llama-imatrix's GGUF or legacy .dat)")
    p.add_argument("--dequantize", action="store_true",
                   help="write an F16 GGUF (--dequantize-type) from the quantized MODEL and "
                        "print its path; with --quant, build from it")
    p.add_argument("--dequantize-type", choices=("F16", "F32"), default="F16")
    p.add_argument("--allow-requantize", action="store_true",
                   help="accept an already-quantized source (errors compound)")
    p.add_argument("--device", "-d", default="host", help="device profile (default host)")
    p.add_argument("--tasks", action="append", metavar="NAMES",
                   help="quality tasks, comma-separated; 'none' for none (default mc_en)")
    p.add_argument("--limit", type=int, default=None, metavar="N",
                   help="first N items of each quality task")
    p.add_argument("--reps", "-r", type=int, default=5,
                   help="timed repetitions per build (default 5: a speed budget's bound "
                        "needs 5)")
    p.add_argument("--parity-tokens", type=int, default=256, metavar="N",
                   help="positions compared with the reference (default 256; 0: no parity)")
    p.add_argument("--kl-max", type=float, default=None, metavar="NATS",
                   help="the recommendation's KL limit (default 0.05)")
    p.add_argument("--pareto-quality", default="kl", metavar="kl|TASK:METRIC",
                   help="quality axis of the Pareto fronts (default kl), e.g. mc_en:acc")
    p.add_argument("--format", choices=("markdown", "csv", "json"), default="markdown",
                   help="what is printed on standard output (default markdown)")
    p.add_argument("-o", "--out", default=None, metavar="DIR",
                   help="folder for the decision and the plot (default results/builds/"
                        "<model>-<time>); the runs go to DIR/runs")
    p.set_defaults(handler=cmd_builds)


def cmd_builds(args) -> int:
    from harness import api

    quants = split(args.quant)
    onnx = split(args.onnx)
    tasks = [t for t in split(args.tasks) or ["mc_en"] if t != "none"]
    if args.parity_tokens < 0 or args.parity_tokens == 1:
        raise BenchError("--parity-tokens: 0 (no parity) or at least 2")
    if args.limit is not None and args.limit < 1:
        raise BenchError(f"--limit: must be at least 1, got {args.limit}")
    named = None if quants or args.dequantize else api.catalogue_builds(args.model,
                                                                        args.models_file)
    if named is not None:  # models.yaml: builds: {reference, quant, onnx}
        quants, onnx = list(named.quant), onnx or list(named.onnx)
        args.dequantize = named.reference == "dequantized"
        args.model = args.model if args.dequantize else named.reference
    if not quants and not args.dequantize:
        raise BenchError("builds: nothing to do: give --quant TYPES and/or --dequantize "
                         "(or name the model's builds in the catalogue)")
    if onnx and not quants:
        raise BenchError("--onnx: ports are made from a --quant build")
    api.check_builds_flags(quants, onnx, device=args.device, tasks=tasks,
                           quality=args.pareto_quality)  # before a long dequantize
    started = time.time()
    model = args.model
    if args.dequantize:
        model = str(api.dequantize_model(model, args.dequantize_type,
                                         models_file=args.models_file, log=log))
        if not quants:
            print(model)
            return 0
    with build_bar(len(quants)) as step:
        build_set = api.make_builds(model, quants, onnx=onnx, onnx_of=args.onnx_of,
                                    imatrix=args.imatrix,
                                    allow_requantize=args.allow_requantize,
                                    models_file=args.models_file, log=log, on_build=step)
    for w in build_set.warnings:
        log(f"warning: {w}")
    out = Path(args.out) if args.out else (
        Path(api.default_out_dir()).parent / "builds"
        / f"{Path(model).stem}-{time.strftime('%Y%m%dT%H%M%S')}")
    rows = api.measure_builds(build_set, device=args.device, tasks=tasks, limit=args.limit,
                              reps=args.reps, parity_tokens=args.parity_tokens,
                              out_dir=out / "runs", models_file=args.models_file, log=log)
    decision = api.decide_builds(rows, device=args.device, reference=build_set.reference_label,
                                 quality=args.pareto_quality, kl_max=args.kl_max,
                                 warnings=build_set.warnings)
    sys.stdout.write(api.render_builds(rows, decision, args.format))
    sys.stdout.flush()
    for path in api.write_builds(rows, decision, out):
        log(f"builds: {path}")
    log(f"builds: {len(rows)} build(s) in {time.time() - started:.0f} s")
    failed = [r["build"] for r in rows if r.get("errors")]
    for name in failed:
        log(f"builds: {name}: a measurement failed (see {out / 'runs'})")
    return 1 if failed else 0


@contextlib.contextmanager
def build_bar(total: int) -> Iterator[Callable[[str], None]]:
    """A progress bar over the builds on standard error when it is a terminal; yields the
    step to call after each build."""
    if not sys.stderr.isatty():
        yield lambda name: None
        return
    from types import SimpleNamespace

    from harness.cli.progress import RichProgress

    with RichProgress(total) as bar:
        bar.start_job(SimpleNamespace(label="builds"))

        def step(name: str) -> None:
            bar.start_job(SimpleNamespace(label=f"built {name}"))
            bar.advance()

        yield step
