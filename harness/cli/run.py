"""`sllm-bench run`: measure speed, memory and quality (the main job)."""

from __future__ import annotations

from pathlib import Path

from harness.cli.common import (EPILOG, add_run_args, depth_list, log, parse_settings,
                                 print_plan, split)


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
    run.add_argument("--request", metavar="JOB_JSON", default=None,
                     help="run a job document (job.json written by a fleet coordinator or "
                          "harness.api.write_job) instead of the sweep flags: checked first "
                          "(paths inside its folder, sha256 of every file)")
    run.set_defaults(handler=cmd_run)


def request_from_args(args):
    """The flags as a RunRequest (each bad flag a one-line error naming it: the text of a
    list is parsed here, every value is checked by RunRequest)."""
    from harness import api

    gens = api.parse_int_list(args.gen, "--gen")
    tasks = split(args.tasks) if args.tasks else ["default"]
    return api.run_request(
        models=split(args.model), backends=split(args.backend), device=args.device,
        threads=api.parse_int_list(args.threads, "--threads") if args.threads else None,
        prompts=api.parse_int_list(args.prompt, "--prompt"), gens=gens,
        depths=depth_list(args.depth), prompt_source=args.prompt_source,
        options=parse_settings(args.settings), reps=args.reps,
        warmup=args.warmup, timeout=args.timeout, precision=args.precision,
        wait_idle=args.wait_idle,
        speed=not args.no_speed, tasks=[] if tasks == ["none"] else tasks, limit=args.limit,
        data_dir=str(Path(args.data_dir).resolve()) if args.data_dir else None,
        models_file=args.models_file, parity_ports=args.parity)


def cmd_run(args) -> int:
    from harness import api
    from harness.cli import printers
    from harness.cli.common import progress_bar

    if args.resume:
        resume = api.resume_state(Path(args.resume).resolve())
        request, run_dir = resume.request, resume.run_dir
        out_dir, run_id = run_dir.parent, resume.run_id
    else:
        if args.request:
            out = Path(args.out) if args.out else api.default_out_dir()  # before the switch
            request = api.job_request(args.request, log=log)
            args.out = str(out.resolve())
        else:
            request = request_from_args(args)
        skip, out_dir, run_id, run_dir = set(), (Path(args.out) if args.out else None), None, None
        if out_dir is not None:
            from harness.records import check_writable_dir

            check_writable_dir(out_dir, "--out")
    plan = api.plan(request)
    if args.resume:
        resume.check_models(plan)
        skip = resume.verified(plan)
        log(f"resuming {run_dir}: {len(skip)} record(s) already finished")
        if not resume.left(plan, skip):
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
                             log=log, run_id=run_id, skip=skip, run_dir=run_dir)
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
