"""`sllm-bench run`: measure speed, memory and quality (the main job)."""

from __future__ import annotations

from pathlib import Path

from harness.cli.common import (EPILOG, add_run_args, depth_list, log, parse_settings,
                                 positive_seconds, print_plan, split)
from harness.errors import BenchError, DataError


def register(sub) -> None:
    run = sub.add_parser("run", help="measure speed and memory (the main job)",
                         description="Run the speed scenario for every model x backend x "
                         "threads x prompt x gen combination, each worker in a fresh process.",
                         epilog=EPILOG)
    add_run_args(run)
    run.add_argument("--parity", action="store_true",
                     help="also measure each ONNX port's parity against its GGUF through "
                          "llama_cpp (sllm-bench parity, 512 positions of prose_en); the "
                          "parity records go into the run folder beside the others")
    run.set_defaults(handler=cmd_run)


def request_from_args(args):
    """The flags as a RunRequest (each bad flag a one-line error naming it)."""
    from harness.engine import plan
    from harness.engine.request import RunRequest

    if args.reps < 1:
        raise BenchError(f"--reps: must be at least 1, got {args.reps}")
    if args.warmup < 0:
        raise BenchError(f"--warmup: must be 0 or more, got {args.warmup}")
    positive_seconds("--timeout", args.timeout)
    if args.limit is not None and args.limit < 1:
        raise BenchError(f"--limit: must be at least 1, got {args.limit}")
    gens = plan.parse_int_list(args.gen, "--gen")
    if min(gens) < 2:
        raise BenchError("--gen: at least 2 tokens are needed to measure decode speed")
    tasks = split(args.tasks) if args.tasks else ["default"]
    return RunRequest(
        models=split(args.model), backends=split(args.backend), device=args.device,
        threads=plan.parse_int_list(args.threads, "--threads") if args.threads else None,
        prompts=plan.parse_int_list(args.prompt, "--prompt"), gens=gens,
        depths=depth_list(args.depth), prompt_source=_source(args.prompt_source),
        options=parse_settings(args.settings), reps=args.reps,
        warmup=args.warmup, timeout=args.timeout, precision=args.precision,
        wait_idle=args.wait_idle,
        speed=not args.no_speed, tasks=[] if tasks == ["none"] else tasks, limit=args.limit,
        data_dir=str(Path(args.data_dir).resolve()) if args.data_dir else None,
        models_file=args.models_file, parity_ports=args.parity)


def _source(text: str) -> str:
    import re

    if not re.fullmatch(r"synthetic|text:[A-Za-z0-9._-]+", text):
        raise BenchError(f"--prompt-source: expected synthetic or text:TASK, got {text!r}")
    return text


def resumed_request(run_dir: Path):
    """The request in an earlier run's run.json, validated like any input."""
    from pydantic import ValidationError

    from harness.engine.request import RunRequest
    from harness.engine.session import read_manifest

    data = read_manifest(run_dir)["request"]
    try:
        return RunRequest.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "request"
        raise DataError(f"invalid request in run.json at {where}: {err['msg']}",
                        path=run_dir / "run.json") from None


def check_same_models(run_dir: Path, plan) -> None:
    """A resumed run never changes model: every record already in the folder must be of a
    model the plan resolves to now, with the same sha256."""
    from harness.engine.session import recorded_models

    now = {m.spec.id: m.sha256 for m in plan.models.values()}
    for model_id, (sha, path) in recorded_models(run_dir).items():
        if now.get(model_id) != sha:
            have = ", ".join(f"{i} ({s[:12]})" for i, s in now.items())
            raise DataError(f"cannot resume: this run measured model {model_id!r} (sha256 "
                            f"{str(sha)[:12]}..., e.g. {path.name}) but run.json now resolves "
                            f"to {have}; start a new run instead", path=run_dir / "run.json")


def cmd_run(args) -> int:
    from harness import api
    from harness.cli import printers
    from harness.cli.common import progress_bar
    from harness.engine.session import finished_keys

    if args.resume:
        run_dir = Path(args.resume).resolve()
        request = resumed_request(run_dir)
        skip = finished_keys(run_dir)
        out_dir, run_id = run_dir.parent, run_dir.name
        log(f"resuming {run_dir}: {len(skip)} record(s) already finished")
    else:
        request = request_from_args(args)
        skip, out_dir, run_id = set(), (Path(args.out) if args.out else None), None
        if out_dir is not None:
            from harness.records import check_writable_dir

            check_writable_dir(out_dir, "--out")
    plan = api.plan(request)
    if args.resume:
        check_same_models(run_dir, plan)
        if all(j.item_key(i) in skip for j in plan.jobs for i in range(len(j.items))):
            log(f"nothing left to run: every record of {run_dir} is finished")
            return 0
    print_plan(f"plan (device {plan.device.name}, pinned to CPUs {plan.device.cpu_set()}):",
               plan)
    if args.dry_run:
        return 0
    printer = printers.make(args.format)
    printer.header()
    with progress_bar(plan, not args.no_progress) as bar:
        result = api.execute(plan, out_dir=out_dir, sinks=[printer.record], progress=bar,
                             log=log, run_id=run_id, skip=skip)
    printer.footer()
    log(f"results: {result.run_dir} ({len(result.records)} record(s), "
        f"{len(result.failed)} failed)")
    parity_failed = show_parity(result.records, args) if plan.request.parity_ports else False
    return 1 if result.failed or parity_failed else 0


def show_parity(records, args) -> bool:
    """`run --parity`: the ports' parity rows (Markdown output only: machine formats keep
    stdout to their rows) and failed dumps (a comparison without rows had one). True if
    one failed."""
    from harness import api
    from harness.cli.parity import print_rows

    rows, failed = api.parity_summary(records)
    if args.format == "markdown" and rows:
        print_rows(rows, "markdown")
    for backend, message in failed.items():
        log(f"--parity: {backend} failed: {message}")
    return bool(failed)
