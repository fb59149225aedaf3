"""The library API: everything the command line does, as function calls.

    from harness import api
    from harness.engine.request import RunRequest

    request = RunRequest(models=("smollm2-135m-instruct-q4_1",), backends=("llama_cpp",),
                         prompts=(128,), gens=(64,), reps=3, tasks=())
    plan = api.plan(request)                 # checked: models, files, backends, tasks
    result = api.execute(plan, out_dir="results/runs")
    for record in result.records:            # harness.records.Record, read-only
        print(record.label(), record.stat("decode_tps"))

plan() checks a RunRequest and lists its jobs; execute() runs them, each in a fresh
worker process, writing one record file per item and handing each record to `sinks` as
it arrives; each scenario then derives its own records from its workers' (determinism
across workers, parity between backends) through the same emit. verify() is execute,
then judge (verdicts, report); parity() is plan, then execute.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from harness.engine import log_stderr
from harness.engine.plan import Plan
from harness.engine.request import RunRequest
from harness.errors import BenchError
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
            skip: Iterable[str] = ()) -> RunResult:
    """Run a plan into out_dir/<run id>/ (default results/runs); `skip` names record keys
    already finished (resume). Raises harness.engine.session.Interrupted on Ctrl-C."""
    from harness.engine.session import Session

    session = Session(plan=plan, out_dir=Path(out_dir) if out_dir else default_out_dir(),
                      sinks=list(sinks), progress=progress, log=log,
                      skip=frozenset(skip), **({"run_id": run_id} if run_id else {}))
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
                   backends: Iterable[str] = ("llama_cpp",), reps: int = 10,
                   soak_seconds: float = 240.0, limit: int | None = None,
                   data_dir: str | None = None, precision: str = DEFAULT_PRECISION,
                   timeout: float = 600.0, models_file: str | None = None,
                   wait_idle: float = 0.0) -> RunRequest:
    """The run a device profile's budgets need: speed at the budgeted prompt and
    generation lengths (128/64 otherwise), the named quality tasks, greedy determinism in
    two worker processes (when budgeted) and a soak run."""
    from harness.config import load_device

    # the numeric flags first (RunRequest's rules), before the device profile is read
    run_request(timeout=timeout, wait_idle=wait_idle, soak_seconds=soak_seconds, limit=limit)
    prof = load_device(device)
    budgets = prof.budgets
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
    validated), the .finished record keys (execute's `skip`), .check_models(plan) (a
    DataError when a model changed since) and .left(plan), the records still to do."""
    from harness.engine.resume import resume_state as state

    return state(Path(run_dir))


# ================================================================== builds (issue 26)
# Which build of a model to ship on a device (harness.builds): make the builds, measure
# each with plan/execute (speed, quality, peak RSS at the profile's workload; parity
# against the full-precision reference), judge the budgets (harness.verdict), decide.
def dequantize_model(model: str, dtype: str = "F16", *, models_file: str | None = None,
                     log: Log = log_stderr) -> Path:
    """An F16 (or F32) GGUF from a quantized one, cached; its path. Its quality is the
    quantized source's (tables using it say "dequantized from ...")."""
    from harness.builds.make import dequantize_model as make

    return make(model, dtype, models_file=models_file, log=log)


def catalogue_builds(model: str, models_file: str | None = None):
    """A catalogue entry's `builds: {reference, quant, onnx}`, or None."""
    from harness.builds.make import catalogue_builds as found

    return found(model, models_file)


def check_builds_flags(quants: Iterable[str], onnx: Iterable[str] = (), *,
                       device: str = "host", tasks: Iterable[str] = (),
                       quality: str = "kl") -> None:
    """Before anything is built: every llama.cpp type, ONNX precision, the device profile,
    the tasks and the Pareto quality axis (kl or TASK:METRIC of a measured task) are
    known; a BenchError naming the first that is not."""
    from harness import prepare as prep
    from harness.builds import quantize
    from harness.config import load_device
    from harness.data.tasks import load_task

    for q in quants:
        quantize.check_type(q)
    for p in onnx:
        prep.canonical_precision(p)
    load_device(device)
    tasks = list(tasks)
    for t in tasks:
        load_task(t)
    if quality != "kl" and quality.partition(":")[0] not in tasks:
        raise BenchError(f"--pareto-quality: expected kl or TASK:METRIC of a measured task "
                         f"({', '.join(tasks) or 'none'}), got {quality!r}")


def make_builds(model: str, quants: Iterable[str], *, onnx: Iterable[str] = (),
                onnx_of: str | None = None, imatrix: str | None = None,
                allow_requantize: bool = False, models_file: str | None = None,
                log: Log = log_stderr, on_build: Callable[[str], None] | None = None):
    """The builds of a full-precision GGUF (harness.builds.make.make_builds): a BuildSet
    of the reference and every quantization and ONNX port, each cached by content."""
    from harness.builds.make import make_builds as make

    return make(model, quants, onnx=onnx, onnx_of=onnx_of, imatrix=imatrix,
                allow_requantize=allow_requantize, models_file=models_file, log=log,
                on_build=on_build)


def measure_builds(build_set, *, device: str = "host", tasks: Iterable[str] = ("mc_en",),
                   limit: int | None = None, reps: int = 5, parity_tokens: int = 256,
                   out_dir: str | Path | None = None, models_file: str | None = None,
                   log: Log = log_stderr) -> list[dict]:
    """One row per build (harness.builds.decide's columns): a run per backend and
    precision (speed, quality, peak RSS), the verdict of the profile's budgets, and parity
    against the reference (skipped when parity_tokens is 0 or the backend has no logits)."""
    from harness import backends as reg
    from harness.builds import measure as bm
    from harness.config import load_device
    from harness.verdict import verdict

    prof = load_device(device)
    rows = []
    for backend, precision, builds in bm.groups(build_set):
        the_plan = plan(run_request(**bm.speed_request(
            builds, backend, precision, prof, device_name=device, tasks=tuple(tasks),
            limit=limit, reps=reps, models_file=models_file)))
        run = execute(the_plan, out_dir=out_dir, log=log)
        ids = dict(zip([b.name for b in builds], the_plan.models))
        compared = [b for b in builds if not b.reference]
        parity_by = {}
        if parity_tokens and compared and "logits" in reg.backend_class(backend).capabilities:
            par = plan(run_request(**bm.parity_request(
                build_set.reference, compared, backend, precision, device_name=device,
                tokens=parity_tokens, models_file=models_file)))
            parity_by = bm.parity_rows(execute(par, out_dir=out_dir, log=log).records)
            parity_by = {name: parity_by.get((mid, backend))
                         for name, mid in zip([b.name for b in compared], list(par.models)[1:])}
        for b in builds:
            mid = ids[b.name]
            mine = [r for r in run.records if r.model_id == mid and r.backend == backend]
            doc = verdict(mine, prof, model={"id": mid, "sha256": the_plan.models[mid].sha256},
                          backend=backend, run_id=run.run_id,
                          env=mine[0].env if mine else {}, host_warnings=the_plan.warnings)
            rows.append(bm.row(b, mine, parity_by.get(b.name), doc))
    return rows


def decide_builds(rows: list[dict], *, device: str, reference: str, quality: str = "kl",
                  kl_max: float | None = None, warnings: Iterable[str] = ()) -> dict:
    """The decision (harness.builds.decide): the Pareto fronts and the recommendation."""
    from harness.builds import decide

    kl_max = decide.KL_MAX if kl_max is None else kl_max
    return {"reference": reference, "device": device, "quality": quality, "kl_max": kl_max,
            "warnings": list(warnings), "fronts": decide.fronts(rows, quality),
            "recommendations": [decide.recommend(rows, device, kl_max)]}


def render_builds(rows: list[dict], decision: dict, fmt: str = "markdown") -> str:
    """The decision table as markdown, csv or json."""
    from harness.builds import decide

    return decide.render(rows, decision, fmt)


def write_builds(rows: list[dict], decision: dict, out_dir: str | Path) -> list[Path]:
    """decision.md, decision.csv, decision.json, rows.json (every row with its verdict)
    and pareto.svg in out_dir (atomic)."""
    from harness.builds import decide
    from harness.builds.plot import pareto_plot
    from harness.records import atomic_write_text, write_json

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt, name in (("markdown", "decision.md"), ("csv", "decision.csv"),
                      ("json", "decision.json")):
        atomic_write_text(out / name, decide.render(rows, decision, fmt))
        written.append(out / name)
    write_json(out / "rows.json", {"decision": decision, "rows": rows})
    written.append(out / "rows.json")
    svg = pareto_plot(rows, decision["quality"], f"builds on {decision['device']}; "
                      f"reference: {decision['reference']}")
    if svg is not None:
        atomic_write_text(out / "pareto.svg", svg)
        written.append(out / "pareto.svg")
    return written
