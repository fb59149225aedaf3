"""The library API of builds (harness.builds): which build of a model to ship on a device
(re-exported by harness.api)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from harness.api.core import Log, execute, plan, run_request
from harness.engine import log_stderr
from harness.errors import BenchError


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
    """decision.md, decision.csv, decision.json, rows.json (every row with its verdict),
    pareto.svg and, when out_dir/runs holds the measured records, report.html and report.md
    (those records' report with a Builds section: the table and the Pareto plot) in out_dir
    (atomic)."""
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
    if (out / "runs").is_dir():  # the report of the measured records, with the decision
        from harness.report import write_report

        head, body = decide.cells(rows, decision)
        written += write_report([out / "runs"], out, title=f"builds of {decision['reference']} "
                                f"on {decision['device']}", builds={
            "reference": decision["reference"], "warnings": decision.get("warnings", []),
            "head": head, "body": body, "fronts": decide.fronts_text(decision),
            "recommendations": decide.recommendations_text(decision), "svg": svg})
    return written
