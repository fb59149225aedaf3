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

from harness.errors import BenchError

#: fixed prompts for the determinism check (English and Korean), rendered with the
#: model's own chat template when it has one
PROMPTS = [
    "Explain in two sentences why the sky is blue.",
    "Write a short list of three fruits.",
    "한국의 수도는 어디인가요? 한 문장으로 답하세요.",
    "Continue the story: The robot opened the door and",
]
DETERMINISM_KEYS = ("determinism-w1", "determinism-w2")


def register(sub) -> None:
    from harness.commands import EPILOG

    p = sub.add_parser("verify", help="PoC verdict: check a device profile's budgets",
                       description=__doc__.split("\n\n")[0], epilog=EPILOG)
    p.add_argument("--device", "-d", required=True, help="device profile name or YAML path")
    p.add_argument("--model", "-m", default=None, help="catalogue id or model path "
                   "(default: the catalogue's default)")
    p.add_argument("--backend", "-b", action="append", metavar="NAME",
                   help="backend(s) to verify (default: llama_cpp)")
    p.add_argument("--reps", "-r", type=int, default=10, help="speed repetitions (default 10)")
    p.add_argument("--soak-seconds", type=float, default=120.0,
                   help="length of the soak run; 0 skips it (default 120)")
    p.add_argument("--limit", type=int, default=None, help="first N items of quality tasks")
    p.add_argument("--data-dir", default=None, help="where task data files are looked up")
    p.add_argument("--precision", choices=("int4", "fp32"), default="int4")
    p.add_argument("--timeout", type=float, default=600.0)
    p.add_argument("--out", default=None, help="results folder (default: results/runs)")
    p.add_argument("--no-report", action="store_true", help="skip the HTML/Markdown report")
    p.add_argument("--dry-run", action="store_true", help="print the plan and stop")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=cmd_verify)


def reliability_items(model_path: Path, fmt: str, soak_s: float) -> tuple[list[dict], list[dict]]:
    """(determinism items, soak items) for the reliability jobs."""
    from harness.chat import chat_template, render

    template = chat_template(model_path) if fmt in ("gguf", "onnx") else None
    prompts = [render(template, [{"role": "user", "content": p}], source=model_path)
               if template else p for p in PROMPTS]
    det = [{"task": {"name": "determinism", "kind": "determinism", "version": 1},
            "prompts": prompts, "gen_tokens": 32, "repetitions": 3}]
    soak = [{"task": {"name": "soak", "kind": "soak", "version": 1},
             "duration_s": soak_s, "prompt_tokens": 64, "gen_tokens": 64}] if soak_s > 0 else []
    return det, soak


def combine_determinism(records: list[dict]) -> dict | None:
    """The determinism record across two workers: per prompt 1 only if both workers
    repeated themselves and agreed with each other; mismatches name the first differing
    token."""
    by_name = {r["task"]["name"]: r for r in records if r["status"] == "ok"}
    if not all(k in by_name for k in DETERMINISM_KEYS):
        return None
    a, b = (by_name[k] for k in DETERMINISM_KEYS)
    sa = next(m for m in a["measurements"] if m["metric"] == "determinism")["samples"]
    sb = next(m for m in b["measurements"] if m["metric"] == "determinism")["samples"]
    samples, mismatches = [], []
    for i, (oa, ob) in enumerate(zip(a["details"]["outputs"], b["details"]["outputs"])):
        same = oa == ob
        if not same:
            k = next((j for j, (x, y) in enumerate(zip(oa, ob)) if x != y), min(len(oa), len(ob)))
            mismatches.append({"prompt": i, "position": k,
                               "expected": oa[k] if k < len(oa) else None,
                               "got": ob[k] if k < len(ob) else None})
        samples.append(1.0 if same and sa[i] == 1.0 and sb[i] == 1.0 else 0.0)
    return {"samples": samples, "mismatches": mismatches, "base": a}


def cmd_verify(args) -> int:
    from harness import commands, plan, printers
    from harness.config import load_device, project_root
    from harness.results import Measurement, make_record, write_json
    from harness.session import Session
    from harness.verdict import markdown_table, verdict

    device = load_device(args.device)
    budgets = device.budgets
    if not budgets:
        raise BenchError(f"device profile {device.name!r} has no budgets to verify")
    if args.reps < 2:
        raise BenchError("--reps: at least 2 repetitions are needed for a confidence bound")
    prompts = sorted({b.prompt_tokens for b in budgets if b.prompt_tokens} or {128})
    gens = sorted({b.gen_tokens for b in budgets if b.gen_tokens} or {64})
    tasks = sorted({b.task for b in budgets if b.task})
    request = {"models": [args.model] if args.model else [], "device": args.device,
               "backends": commands._split(args.backend) or ["llama_cpp"],
               "threads": None, "prompts": prompts, "gens": gens, "reps": args.reps,
               "warmup": 1, "timeout": args.timeout, "precision": args.precision,
               "speed": True, "tasks": tasks, "limit": args.limit,
               "data_dir": str(Path(args.data_dir).resolve()) if args.data_dir else None,
               "models_file": args.models_file}
    catalogue, cat_path = commands._catalogue(args.models_file)
    models, jobs, notes = commands._plan(request, catalogue, cat_path, device)
    (model,) = models.values()
    threads = device.resolve_threads()
    det, soak = reliability_items(model.path, model.spec.format, args.soak_seconds)
    backends = list(dict.fromkeys(j.backend for j in jobs))
    if any(b.metric == "determinism" for b in budgets):
        jobs += plan.build_reliability(list(models), backends, threads, det, workers=2,
                                       context_size=device.context_size, start=len(jobs))
    if soak:
        jobs += plan.build_reliability(list(models), backends, threads, soak,
                                       context_size=device.context_size, start=len(jobs))
    warnings = commands._host_warnings(device)
    for w in warnings + notes:
        commands._log(f"warning: {w}")
    commands._log(f"verify {model.spec.id} on {device.name} (pinned to CPUs "
                  f"{device.cpu_set()}):")
    for line in plan.describe(jobs):
        commands._log(line)
    if args.dry_run:
        return 0
    out_dir = Path(args.out) if args.out else project_root() / "results" / "runs"
    printer = printers.make("markdown", sys.stderr)
    session = Session(models=models, device=device, jobs=jobs, out_dir=out_dir,
                      catalogue_path=cat_path, request=request, precision=args.precision,
                      timeout_s=args.timeout, sinks=[printer.record], log=commands._log)
    records = commands.execute(session, jobs, progress=not args.no_progress)
    env = records[0]["env"] if records else {}
    exit_code = 0
    for backend in backends:
        mine = [r for r in records if r["backend"]["name"] == backend]
        combined = combine_determinism(mine)
        if combined:
            base = combined["base"]
            rec = make_record(
                run_id=session.run_id, seq=base["seq"], started_at=base["started_at"],
                model=base["model"], backend=base["backend"], device=base["device"],
                task={"name": "determinism", "kind": "determinism", "version": 1},
                params=base["params"], env=base["env"],
                measurements=[Measurement("determinism", "identical (1) or not (0)", True,
                                          tuple(combined["samples"]))],
                details={"mismatches": combined["mismatches"], "workers": 2})
            write_json(session.run_dir / "records" /
                       f"{backend}-{model.spec.id}-t{threads}-determinism.json", rec)
            mine.append(rec)
        doc = verdict(mine, device, model={"id": model.spec.id, "sha256": model.sha256},
                      backend=backend, run_id=session.run_id, env=env, host_warnings=warnings)
        name = "verdict.json" if len(backends) == 1 else f"verdict-{backend}.json"
        write_json(session.run_dir / name, doc)
        print(markdown_table(doc))
        exit_code = exit_code or (0 if doc["verdict"] == "pass" else 1)
    if not args.no_report:
        _report(session.run_dir)
    commands._log(f"results and verdict: {session.run_dir}")
    return exit_code


def _report(run_dir: Path) -> None:
    try:
        from harness.report import write_report
    except ImportError:
        print("report: harness.report is not installed; skipped", file=sys.stderr)
        return
    html, md = write_report([run_dir], run_dir)
    print(f"report: {html}\n        {md}", file=sys.stderr)
