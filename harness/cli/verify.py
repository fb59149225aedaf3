"""`sllm-bench verify`: run what a device profile's budgets need and give the verdict.

Speed runs at the prompt and generation lengths the budgets name (128/64 otherwise),
quality tasks run when a budget names them, greedy determinism runs in two separate
worker processes (the outputs must repeat within each and agree between them), and a
soak run measures drift and memory growth. The verdict (see harness/verdict.py) is
printed and written to the run folder as verdict.json (verdict-<backend>.json when
several backends are verified), followed by the HTML and Markdown report.
Exit code 0 only when every budget of every verdict passes.
"""

from __future__ import annotations

import sys
from pathlib import Path

from harness.cli.common import EPILOG, log, print_plan, split
from harness.measure.bounds import MIN_REPS_MEDIAN, VERIFY_REPS
from harness.precision import CHOICES as PRECISIONS
from harness.precision import DEFAULT as DEFAULT_PRECISION


def register(sub) -> None:
    p = sub.add_parser("verify", help="PoC verdict: check a device profile's budgets",
                       description=__doc__.split("\n\n")[0], epilog=EPILOG)
    p.add_argument("--device", "-d", required=True, help="device profile name or YAML path")
    p.add_argument("--model", "-m", default=None, help="catalogue id or model path "
                   "(default: the catalogue's default)")
    p.add_argument("--backend", "-b", action="append", metavar="NAME",
                   help="backend(s) to verify (default: llama_cpp)")
    p.add_argument("--reps", "-r", type=int, default=VERIFY_REPS,
                   help=f"speed repetitions (default {VERIFY_REPS}: an ITL percentile "
                        f"budget's bound needs {VERIFY_REPS - 1}, a median's "
                        f"{MIN_REPS_MEDIAN}; fewer is NOT MEASURED)")
    p.add_argument("--soak-seconds", type=float, default=None,
                   help="length of the soak run; 0 skips it (default: planned from the "
                        "profile's rss_slope_mb_per_min budget, 400 s for 5 MB/min, 240 s "
                        "without one; see harness/measure/soak.py)")
    p.add_argument("--limit", type=int, default=None, help="first N items of quality tasks")
    p.add_argument("--data-dir", default=None, help="where task data files are looked up")
    p.add_argument("--precision", choices=PRECISIONS, default=DEFAULT_PRECISION)
    p.add_argument("--timeout", type=float, default=600.0)
    p.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                   help="before each worker, wait up to SECONDS for the pinned cores to be "
                        "quiet (the record says if it gave up; default 0)")
    p.add_argument("--out", default=None, help="results folder (default: results/runs)")
    p.add_argument("--no-report", action="store_true", help="skip the HTML/Markdown report")
    p.add_argument("--dry-run", action="store_true", help="print the plan and stop")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=cmd_verify)


def cmd_verify(args) -> int:
    from harness import api
    from harness.cli import printers
    from harness.cli.common import progress_bar
    from harness.verdict import markdown_table

    request = api.verify_request(
        args.device, model=args.model, backends=split(args.backend), reps=args.reps,
        soak_seconds=args.soak_seconds, limit=args.limit, data_dir=args.data_dir,
        precision=args.precision, timeout=args.timeout, models_file=args.models_file,
        wait_idle=args.wait_idle)
    plan = api.plan(request)
    (model,) = plan.models.values()
    print_plan(f"verify {model.spec.id} on {plan.device.name} (pinned to CPUs "
               f"{plan.device.cpu_set()}):", plan)
    if args.dry_run:
        return 0
    printer = printers.make("markdown", sys.stderr)
    with progress_bar(plan, not args.no_progress) as bar:
        result = api.verify(plan, out_dir=Path(args.out) if args.out else None,
                            sinks=[printer.record], progress=bar, log=log,
                            report=not args.no_report)
    for doc in result.verdicts:
        print(markdown_table(doc))
    log(f"results and verdict: {result.run.run_dir}")
    return 0 if result.passed else 1
