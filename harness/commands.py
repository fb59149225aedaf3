"""The core CLI commands: run, prepare, models, devices, backends.

register() adds their parsers; each cmd_* takes the parsed arguments and returns an exit
code. Only light imports at module level: `sllm-bench --help` imports this module.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.errors import BenchError, ConfigError
from harness.printers import FORMATS

EPILOG = ("exit codes: 0 success; 1 a run failed; 2 bad input (file, key or flag); "
          "130 interrupted")


def add_run_args(p: argparse.ArgumentParser) -> None:
    """The sweep flags shared by `run` and the commands built on it."""
    p.add_argument("--model", "-m", action="append", metavar="ID|PATH",
                   help="catalogue id or path to a .gguf file; repeat or comma-separate "
                        "(default: the catalogue's default)")
    p.add_argument("--backend", "-b", action="append", metavar="NAME",
                   help="llama_cpp, onnxruntime, ort_genai, transformers; repeat or "
                        "comma-separate (default: every available on-device backend)")
    p.add_argument("--device", "-d", default="host", help="device profile name or YAML path "
                   "(default: host)")
    p.add_argument("--prompt", "-p", default="128", help="prompt lengths in tokens, e.g. "
                   "128,512 (default: 128)")
    p.add_argument("--gen", "-n", default="64", help="generated tokens, e.g. 64,128 "
                   "(default: 64)")
    p.add_argument("--threads", "-t", default=None, help="thread counts, e.g. 1,2 "
                   "(default: from the device profile)")
    p.add_argument("--reps", "-r", type=int, default=5, help="timed repetitions per setting "
                   "(default: 5)")
    p.add_argument("--warmup", type=int, default=1, help="untimed warm-up repetitions "
                   "(default: 1)")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds a worker may go "
                   "without progress before it is killed (default: 600)")
    p.add_argument("--precision", choices=("int4", "fp32"), default="int4",
                   help="ONNX precision for onnxruntime/ort_genai (default: int4)")
    p.add_argument("--format", "-o", choices=FORMATS, default="markdown",
                   help="output format on standard output (default: markdown)")
    p.add_argument("--out", default=None, help="results folder (default: results/runs)")
    p.add_argument("--tasks", action="append", metavar="NAMES",
                   help="quality tasks (tasks/*.yaml names), comma-separated; 'default' for "
                        "the offline default set, 'none' for speed only (default: default)")
    p.add_argument("--limit", type=int, default=None, metavar="N",
                   help="first N items of each quality task")
    p.add_argument("--data-dir", default=None, metavar="DIR",
                   help="look for task data files in DIR instead of their usual place")
    p.add_argument("--no-speed", action="store_true", help="quality tasks only")
    p.add_argument("--resume", metavar="RUN_DIR", default=None,
                   help="redo only the unfinished records of an earlier run (other sweep "
                        "flags are taken from its run.json)")
    p.add_argument("--dry-run", action="store_true", help="print the plan and stop")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def register(sub) -> None:
    run = sub.add_parser("run", help="measure speed and memory (the main job)",
                         description="Run the speed scenario for every model x backend x "
                         "threads x prompt x gen combination, each worker in a fresh process.",
                         epilog=EPILOG)
    add_run_args(run)
    run.set_defaults(handler=cmd_run)

    prep = sub.add_parser("prepare", help="convert a GGUF model to ONNX (cached)",
                          description="GGUF -> transformers -> safetensors -> "
                          "onnxruntime-genai model builder; cached by sha256 and precision.")
    prep.add_argument("model", help="catalogue id or path to a .gguf file")
    prep.add_argument("--precision", choices=("int4", "fp32"), default="int4")
    prep.set_defaults(handler=cmd_prepare)

    sub.add_parser("models", help="list the model catalogue").set_defaults(handler=cmd_models)
    sub.add_parser("devices", help="list device profiles").set_defaults(handler=cmd_devices)
    sub.add_parser("backends", help="list backends and whether their library is installed"
                   ).set_defaults(handler=cmd_backends)


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _split(values: list[str] | None) -> list[str]:
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]


def _catalogue(models_file: str | None):
    from harness.config import load_catalogue, project_root

    path = Path(models_file) if models_file else project_root() / "models.yaml"
    return load_catalogue(path), path.resolve()


def _model_spec(catalogue, name: str):
    from harness.models import adhoc_spec

    try:
        return catalogue.get(name)
    except KeyError as e:
        if name.endswith(".gguf") or Path(name).exists():
            return adhoc_spec(name)
        raise ConfigError(e.args[0]) from None


def _resolve_models(names: list[str], catalogue, cat_path: Path) -> dict:
    from harness.models import resolve
    from harness.session import ResolvedModel

    names = names or [catalogue.default]
    out = {}
    for name in names:
        spec = _model_spec(catalogue, name)
        path, digest = resolve(spec, cat_path.parent)
        out[spec.id] = ResolvedModel(spec, path, digest)
    return out


def _backends(names: list[str]) -> list[str]:
    from harness import backends as reg

    if not names:
        names = [b for b in reg.DEFAULT_BACKENDS if reg.available(b)]
        if not names:
            raise BenchError("no backend library is installed: pip install 'sllm-bench[all]'")
        return names
    for b in names:
        reg.backend_class(b)  # unknown or not installed -> BenchError
    return list(dict.fromkeys(names))


def _host_warnings(device) -> list[str]:
    from harness.measure.host import fingerprint

    host = fingerprint()
    warn = []
    if device.core_count() > host["cores_allowed"]:
        warn.append(f"this host allows {host['cores_allowed']} core(s), fewer than the "
                    f"{device.core_count()} of profile {device.name!r}: results understate it")
    if device.memory_mb and device.memory_mb * 2**20 > host["memory_bytes"]:
        warn.append(f"this host has less memory than profile {device.name!r} "
                    f"({device.memory_mb} MB)")
    return warn


def _request(args) -> dict:
    """The run's parameters as plain data (kept in run.json, so --resume can rebuild it)."""
    from harness import plan

    if args.reps < 1:
        raise BenchError(f"--reps: must be at least 1, got {args.reps}")
    if args.warmup < 0:
        raise BenchError(f"--warmup: must be 0 or more, got {args.warmup}")
    if args.timeout <= 0:
        raise BenchError(f"--timeout: must be positive, got {args.timeout}")
    if args.limit is not None and args.limit < 1:
        raise BenchError(f"--limit: must be at least 1, got {args.limit}")
    gens = plan.parse_int_list(args.gen, "--gen")
    if min(gens) < 2:
        raise BenchError("--gen: at least 2 tokens are needed to measure decode speed")
    tasks = _split(args.tasks) if args.tasks else ["default"]
    return {
        "models": _split(args.model), "backends": _split(args.backend), "device": args.device,
        "threads": plan.parse_int_list(args.threads, "--threads") if args.threads else None,
        "prompts": plan.parse_int_list(args.prompt, "--prompt"), "gens": gens,
        "reps": args.reps, "warmup": args.warmup, "timeout": args.timeout,
        "precision": args.precision, "speed": not args.no_speed,
        "tasks": [] if tasks == ["none"] else tasks, "limit": args.limit,
        "data_dir": str(Path(args.data_dir).resolve()) if args.data_dir else None,
        "models_file": args.models_file,
    }


def _quality_items(request: dict, backends: list[str]) -> tuple[dict[str, list[dict]], list[str]]:
    """Prepared tasks per backend (checked before anything runs) and what was skipped."""
    from harness import backends as reg
    from harness import tasks as task_mod

    names = request["tasks"]
    if names == ["default"]:
        names = task_mod.default_tasks()
    data_dir = Path(request["data_dir"]) if request["data_dir"] else None
    prepared = [task_mod.prepare(task_mod.load_task(n), limit=request["limit"],
                                 data_dir=data_dir) for n in names]
    per_backend, skipped = {}, []
    for b in backends:
        caps = reg.backend_class(b).capabilities
        ok = [t for t in prepared
              if ("score" in caps or t["task"]["kind"] == "exact_match")]
        if len(ok) < len(prepared):
            skipped.append(f"{b} cannot score continuations: skipping "
                           + ", ".join(t["task"]["name"] for t in prepared if t not in ok))
        if ok:
            per_backend[b] = ok
    return per_backend, skipped


def _plan(request: dict, catalogue, cat_path: Path, device):
    from harness import backends as reg
    from harness import plan

    threads = request["threads"] or [device.resolve_threads()]
    backends = _backends(request["backends"])
    models = _resolve_models(request["models"], catalogue, cat_path)
    for m in models.values():
        for b in backends:
            if m.spec.format == "onnx" and reg.artifact_kind(b) == "gguf":
                raise BenchError(f"backend {b!r} reads GGUF files; model {m.spec.id!r} is an "
                                 "ONNX folder (use onnxruntime or ort_genai)")
    jobs = []
    if request["speed"]:
        jobs = plan.build(list(models), backends, threads, request["prompts"], request["gens"],
                          repetitions=request["reps"], warmup=request["warmup"],
                          context_size=device.context_size)
    notes = []
    if request["tasks"]:
        per_backend, notes = _quality_items(request, backends)
        for b, items in per_backend.items():
            jobs += plan.build_quality(list(models), [b], threads[0], items,
                                       context_size=device.context_size, start=len(jobs))
    if not jobs:
        why = "; ".join(notes) if notes else "no quality task applies"
        raise BenchError(f"nothing to run: --no-speed and {why}")
    return models, jobs, notes


def cmd_run(args) -> int:
    from harness import plan, printers
    from harness.config import load_device, project_root
    from harness.session import Session, finished_keys, read_manifest

    if args.resume:
        run_dir = Path(args.resume).resolve()
        request = read_manifest(run_dir)["request"]
        skip = finished_keys(run_dir)
        out_dir, run_id = run_dir.parent, run_dir.name
        _log(f"resuming {run_dir}: {len(skip)} record(s) already finished")
    else:
        request = _request(args)
        skip = set()
        out_dir = Path(args.out) if args.out else project_root() / "results" / "runs"
        run_id = None
    catalogue, cat_path = _catalogue(request["models_file"])
    device = load_device(request["device"])
    models, jobs, notes = _plan(request, catalogue, cat_path, device)
    for w in _host_warnings(device) + notes:
        _log(f"warning: {w}")
    _log(f"plan (device {device.name}, pinned to CPUs {device.cpu_set()}):")
    for line in plan.describe(jobs):
        _log(line)
    if args.dry_run:
        return 0
    printer = printers.make(args.format)
    session = Session(models=models, device=device, jobs=jobs, out_dir=out_dir,
                      catalogue_path=cat_path, request=request,
                      precision=request["precision"], timeout_s=request["timeout"],
                      sinks=[printer.record], log=_log, skip=skip)
    if run_id:
        session.run_id = run_id
    printer.header()
    records = execute(session, jobs, progress=not args.no_progress)
    printer.footer()
    failed = [r for r in records if r["status"] != "ok"]
    _log(f"results: {session.run_dir} ({len(records)} record(s), {len(failed)} failed)")
    return 1 if failed else 0


def execute(session, jobs, *, progress: bool) -> list[dict]:
    """session.execute(), with a progress bar on stderr when it is a terminal."""
    if not (progress and sys.stderr.isatty()):
        return session.execute()
    from harness.progress import RichProgress

    total = sum(len(j.items) * (j.shared.get("repetitions", 1)) for j in jobs)
    with RichProgress(total) as bar:
        session.progress = bar
        return session.execute()


def cmd_prepare(args) -> int:
    from harness import prepare
    from harness.models import resolve

    catalogue, cat_path = _catalogue(args.models_file)
    spec = _model_spec(catalogue, args.model)
    if spec.format != "gguf":
        raise BenchError(f"model {spec.id!r} is already {spec.format}; prepare converts GGUF")
    path, digest = resolve(spec, cat_path.parent)
    folder = prepare.prepare_onnx(path, digest, args.precision, log=_log)
    print(folder)
    return 0


def cmd_models(args) -> int:
    catalogue, _ = _catalogue(args.models_file)
    print("| id | format | source | parameters | quantization | license |\n|---|---|---|---|---|---|")
    for m in catalogue.models:
        src = m.source
        where = {"package": lambda s: f"package {s.distribution}",
                 "path": lambda s: f"path {s.path}",
                 "hub": lambda s: f"hub {s.repo}/{s.file}"}[src.kind](src)
        mark = " (default)" if m.id == catalogue.default else ""
        print(f"| {m.id}{mark} | {m.format} | {where} | {m.parameters or '-'} | "
              f"{m.quantization or '-'} | {m.license or '-'} |")
    return 0


def cmd_devices(args) -> int:
    from harness.config import list_devices, load_device

    print("| name | threads | cores | memory budget MB | budgets | description |\n"
          "|---|---|---|---|---|---|")
    for name in list_devices():
        d = load_device(name)
        print(f"| {d.name} | {d.threads} | {d.cores} | {d.memory_budget_mb or '-'} | "
              f"{len(d.budgets)} | {d.description} |")
    return 0


def cmd_backends(args) -> int:
    from harness import backends as reg

    for name in reg.names():
        missing = reg.missing_modules(name)
        state = "available" if not missing else f"missing {', '.join(missing)}"
        print(f"{name:14s} {state}")
    return 0
