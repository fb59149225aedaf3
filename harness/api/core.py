"""The library API's core: plan, execute, prepare, verify, parity and what the command
line needs beyond them (harness.api re-exports all of it; see its docstring)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from harness.engine import log_stderr
from harness.engine.plan import Plan
from harness.engine.request import RunRequest
from harness.errors import BenchError
from harness.measure.bounds import VERIFY_REPS
from harness.precision import DEFAULT as DEFAULT_PRECISION
from harness.records import Record

Log = Callable[[str], None]


def default_out_dir() -> Path:
    from harness.config import project_root

    return project_root() / "results" / "runs"


@dataclass
class RunResult:
    """What execute() produced: the run folder and its records, in the order they came
    (the workers', then the ones the scenarios derived from them)."""

    run_id: str
    run_dir: Path
    records: list[Record]

    @property
    def failed(self) -> list[Record]:
        return [r for r in self.records if not r.ok]


def plan(request: RunRequest) -> Plan:
    """Check `request` and plan its jobs (nothing is written, no worker starts)."""
    from harness.engine.plan import from_request

    return from_request(request)


def execute(plan: Plan, *, out_dir: str | Path | None = None,
            sinks: Iterable[Callable[[Record], None]] = (), progress=None,
            log: Log = log_stderr, run_id: str | None = None,
            skip: Iterable[str] = (), run_dir: str | Path | None = None) -> RunResult:
    """Run a plan into out_dir/<run id>/ (default results/runs); `skip` names record keys
    already finished (resume). Raises harness.engine.session.Interrupted on Ctrl-C."""
    import re

    from harness.engine.session import Session

    if run_id is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", run_id):
        raise BenchError(f"run id {run_id!r} is not a plain folder name (letters, digits, "
                         "'.', '_', '-'): a run is written inside out_dir only")
    session = Session(plan=plan, out_dir=Path(out_dir) if out_dir else default_out_dir(),
                      sinks=list(sinks), progress=progress, log=log,
                      skip=frozenset(skip), **({"run_id": run_id} if run_id else {}),
                      folder=Path(run_dir) if run_dir else None)
    records = session.execute()
    return RunResult(session.run_id, session.run_dir, records)


def prepare(model: str, precision: str = DEFAULT_PRECISION, *, models_file: str | None = None,
            log: Log = log_stderr) -> Path:
    """The ONNX folder for a GGUF model (catalogue id or path), converted once and cached."""
    from harness import prepare as prep
    from harness.engine import resolve
    from harness.models import resolve as resolve_file

    cat, cat_path = resolve.catalogue(models_file)
    spec = resolve.model_spec(cat, model)
    if spec.format != "gguf":
        raise BenchError(f"model {spec.id!r} is already {spec.format}; prepare converts GGUF")
    path, digest = resolve_file(spec, cat_path.parent)
    return prep.prepare_onnx(path, digest, precision, log=log)


# ------------------------------------------------------------------ verify
def verify_request(device: str, *, model: str | None = None,
                   backends: Iterable[str] = ("llama_cpp",), reps: int = VERIFY_REPS,
                   soak_seconds: float | None = None, limit: int | None = None,
                   data_dir: str | None = None, precision: str = DEFAULT_PRECISION,
                   timeout: float = 600.0, models_file: str | None = None,
                   wait_idle: float = 0.0) -> RunRequest:
    """The run a device profile's budgets need: speed at the budgeted prompt and
    generation lengths (128/64 otherwise), the named quality tasks, greedy determinism in
    two worker processes (when budgeted) and a soak run. `soak_seconds` None plans the
    soak from the profile's memory-growth budget (harness.measure.soak.planned_soak_s:
    400 s for 5 MB/min, 240 s when there is none)."""
    from harness.config import load_device
    from harness.measure.soak import planned_soak_s

    # the numeric flags first (RunRequest's rules), before the device profile is read
    run_request(timeout=timeout, wait_idle=wait_idle, soak_seconds=soak_seconds or 0.0,
                limit=limit)
    prof = load_device(device)
    budgets = prof.budgets
    if soak_seconds is None:
        soak_seconds = planned_soak_s([b.max for b in budgets
                                       if b.metric == "rss_slope_mb_per_min" and b.max])
    if not budgets:
        raise BenchError(f"device profile {prof.name!r} has no budgets to verify")
    if reps < 2:
        raise BenchError("--reps: at least 2 repetitions are needed for a confidence bound")
    return run_request(
        models=(model,) if model else (), device=device, backends=tuple(backends) or ("llama_cpp",),
        prompts=tuple(sorted({b.prompt_tokens for b in budgets if b.prompt_tokens} or {128})),
        gens=tuple(sorted({b.gen_tokens for b in budgets if b.gen_tokens} or {64})),
        reps=reps, warmup=1, timeout=timeout, precision=precision, speed=True,
        tasks=tuple(sorted({b.task for b in budgets if b.task})), limit=limit,
        data_dir=str(Path(data_dir).resolve()) if data_dir else None, models_file=models_file,
        determinism_workers=2 if any(b.metric == "determinism" for b in budgets) else 0,
        soak_seconds=soak_seconds, wait_idle=wait_idle)


@dataclass
class VerifyResult:
    run: RunResult
    verdicts: list[dict]

    @property
    def passed(self) -> bool:
        return all(v["verdict"] == "pass" for v in self.verdicts)


def verify(plan: Plan, *, out_dir: str | Path | None = None,
           sinks: Iterable[Callable[[Record], None]] = (), progress=None,
           log: Log = log_stderr, report: bool = True) -> VerifyResult:
    """Execute a verify plan (its records include the determinism record across the two
    workers), then judge per backend: the verdict (verdict.json, or verdict-<backend>.json
    when several) and, with `report`, report.html and report.md in the run folder."""
    from harness.records import verdict_filename, write_json
    from harness.verdict import verdict

    run = execute(plan, out_dir=out_dir, sinks=sinks, progress=progress, log=log)
    (model,) = plan.models.values()
    env = run.records[0].env if run.records else {}
    backends = list(dict.fromkeys(j.backend for j in plan.jobs))
    docs = []
    for backend in backends:
        mine = [r for r in run.records if r.backend == backend]
        doc = verdict(mine, plan.device, model={"id": model.spec.id, "sha256": model.sha256},
                      backend=backend, run_id=run.run_id, env=env,
                      host_warnings=plan.warnings)
        write_json(run.run_dir / verdict_filename(backend, len(backends)), doc)
        docs.append(doc)
    if report:
        from harness.report import write_report

        html, md = write_report([run.run_dir], run.run_dir)
        log(f"report: {html}\n        {md}")
    return VerifyResult(run, docs)


# ------------------------------------------------------------------ parity
@dataclass
class ParityResult:
    run: RunResult
    rows: list[dict]
    failed: dict[str, str]


def parity_request(*, model: str | None = None, backends: Iterable[str] = (),
                   task: str = "prose_en", tokens: int = 512, device: str = "host",
                   precision: str = DEFAULT_PRECISION, models_file: str | None = None) -> RunRequest:
    """Default backends: llama_cpp, onnxruntime and transformers, where installed."""
    from harness import backends as reg

    if tokens < 2:
        raise BenchError("--tokens: at least 2 positions are needed")
    names = tuple(backends) or tuple(b for b in ("llama_cpp", "onnxruntime", "transformers")
                                     if reg.available(b))
    return RunRequest(models=(model,) if model else (), backends=names, device=device,
                      precision=precision, models_file=models_file, speed=False, tasks=(),
                      parity_task=task, parity_tokens=tokens)


def parity(request: RunRequest, *, out_dir: str | Path | None = None, log: Log = log_stderr,
           on_plan: Callable[[Plan], None] | None = None) -> ParityResult:
    """Plan, then execute: each backend's next-token distributions are dumped (one worker
    each), then compared with the reference's (transformers when included, else the first
    backend), one parity record per pair (harness.scenarios.parity)."""
    the_plan = plan(request)
    if on_plan:
        on_plan(the_plan)
    run = execute(the_plan, out_dir=out_dir, log=log)
    rows, failed = parity_summary(run.records)
    return ParityResult(run, rows, failed)


def parity_summary(records: Iterable[Record]) -> tuple[list[dict], dict[str, str]]:
    """(summary row of each parity record, backend -> message of each failed dump) among
    `records`: what `sllm-bench parity` and `run --parity` print."""
    from harness.scenarios import parity as par

    records = list(records)
    return par.rows(records), par.failures(records)


# ================================================================== for the command line
# What `sllm-bench` needs beyond plan/execute: the CLI imports harness.api and nothing of
# harness.engine. Each call hands over to the engine's own function.
def run_request(**fields) -> RunRequest:
    """RunRequest(**fields); a value the request refuses is a BenchError (exit code 2) that
    names its flag, as the command line reports it."""
    from pydantic import ValidationError

    from harness.engine.request import refusal

    try:
        return RunRequest(**fields)
    except ValidationError as e:
        raise refusal(e) from None


def parse_int_list(text: str, flag: str) -> list[int]:
    """'128,512' -> [128, 512]: a flag's comma-separated positive integers."""
    from harness.engine import plan as engine_plan

    return engine_plan.parse_int_list(text, flag)


def describe(the_plan: Plan) -> list[str]:
    """The plan in words: one line per job and a total."""
    from harness.engine import plan as engine_plan

    return engine_plan.describe(the_plan.jobs)


def total_units(the_plan: Plan) -> int:
    """Progress units of a plan (a progress bar's total)."""
    from harness.engine import session

    return session.total_units(the_plan.jobs)


def catalogue(models_file: str | None = None):
    """(the model catalogue, its path): `models_file`, else the project's models.yaml."""
    from harness.engine import resolve

    return resolve.catalogue(models_file)


def resume_state(run_dir: Path):
    """An earlier run folder to go on with (`run --resume`): its .request (from run.json,
    validated), .verified(plan), the keys of the records really finished (execute's
    `skip`), .check_models(plan) (a DataError when a model changed since) and
    .left(plan, done), the records still to do."""
    from harness.engine.resume import resume_state as state

    return state(Path(run_dir))
