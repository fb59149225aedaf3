"""Measuring builds with the harness's own machinery: what to ask of it and how to read
its records back. harness.api.measure_builds runs these requests (plan, execute), judges
the budgets (harness.verdict) and hands the rows to decide.py.

Per group of builds read by one backend at one precision (the GGUF builds and the
reference through llama_cpp; each ONNX precision's ports through onnxruntime):

  speed and quality  one RunRequest over the group's models: speed at the device profile's
                     budgeted prompt and generation lengths (else its workload, else
                     128/64), the quality tasks, `reps` timed repetitions; the worker's
                     peak RSS comes with it
  parity             one RunRequest with parity_reference_model: the reference GGUF through
                     llama_cpp, every build of the group through its backend, on the same
                     text (harness.scenarios.parity: mean KL, top-1, ppl diff, McNemar)
"""

from __future__ import annotations

from harness.builds.make import Build, BuildSet

#: the quality figure read from a quality record: the first of these it has
QUALITY_METRICS = ("acc", "acc_norm", "exact_match", "contains", "token_perplexity")
PARITY_TASK = "prose_en"


def workload(device) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(prompt lengths, generation lengths) the profile's budgets need, else its workload."""
    prompts = {b.prompt_tokens for b in device.budgets if b.prompt_tokens}
    gens = {b.gen_tokens for b in device.budgets if b.gen_tokens}
    w = device.workload
    return (tuple(sorted(prompts or {w.prompt_tokens if w else 128})),
            tuple(sorted(gens or {w.gen_tokens if w else 64})))


def groups(build_set: BuildSet) -> list[tuple[str, str, list[Build]]]:
    """(backend, precision, builds) per run, the reference first among llama_cpp's."""
    out: dict[tuple[str, str], list[Build]] = {}
    for b in [build_set.reference, *build_set.builds]:
        out.setdefault((b.backend, b.precision), []).append(b)
    return [(k[0], k[1], v) for k, v in out.items()]


def speed_request(builds: list[Build], backend: str, precision: str, device, *,
                  device_name: str, tasks: tuple[str, ...], limit: int | None, reps: int,
                  models_file: str | None) -> dict:
    """The speed and quality run's RunRequest fields."""
    prompts, gens = workload(device)
    return dict(models=tuple(b.model for b in builds), backends=(backend,),
                      device=device_name, prompts=prompts, gens=gens, reps=reps, warmup=1,
                      precision=precision, tasks=tuple(tasks), limit=limit,
                      models_file=models_file)


def parity_request(reference: Build, builds: list[Build], backend: str, precision: str, *,
                   device_name: str, tokens: int, models_file: str | None) -> dict:
    """The parity run's RunRequest fields (the reference through llama_cpp)."""
    backends = ("llama_cpp",) if backend == "llama_cpp" else ("llama_cpp", backend)
    return dict(models=(reference.model, *(b.model for b in builds)), backends=backends,
                      device=device_name, precision=precision, speed=False, tasks=(),
                      parity_task=PARITY_TASK, parity_tokens=tokens,
                      parity_reference_model=True, models_file=models_file)


def parity_rows(records) -> dict[tuple[str, str], dict]:
    """(model id, backend) -> the parity summary row of every parity record."""
    from harness.scenarios.parity import rows

    return {(r.model_id, r.backend.split("~", 1)[1]): found[0] for r in records
            if r.ok and (found := rows([r]))}


def row(build: Build, records, parity: dict | None, verdict_doc: dict | None) -> dict:
    """One build's row for decide.py from its records (speed, quality), its parity row
    against the reference and its verdict."""
    from harness.records.flat import flat_row

    speed = next((r for r in records if r.kind == "speed" and r.ok), None)
    peaks = [r.samples("peak_rss_mb")[0] for r in records if r.samples("peak_rss_mb")]
    quality = {}
    for r in records:
        if r.kind != "quality" or not r.ok:
            continue
        f = flat_row(r)
        metric = next((m for m in QUALITY_METRICS if f.get(m) is not None), None)
        if metric:
            quality[f"{r.task_name} {metric}"] = (f[metric], f.get(f"{metric}_se"))
    out = {"build": build.name, "format": "gguf" if build.backend == "llama_cpp"
           else f"onnx {build.precision}", "backend": build.backend,
           "size_mb": build.size_bytes / 2**20, "quality": quality,
           "ttft_ms": speed.stat("ttft_ms") if speed else None,
           "decode_tps": speed.stat("decode_tps") if speed else None,
           "peak_rss_mb": max(peaks) if peaks else None,
           "verdict": None if not verdict_doc else verdict_doc["verdict"]
           if verdict_doc["budgets"] else "no budgets",
           "verdict_doc": verdict_doc, "errors": [r.error["message"] for r in records
                                                  if not r.ok and r.error]}
    if build.reference:
        out.update(kl=0.0, top1=1.0, ppl_diff_pct=0.0, mcnemar_p=1.0)
    elif parity:
        out.update(kl=parity["mean_kl"], top1=parity["top1_agreement"],
                   ppl_diff_pct=parity["ppl_diff_pct"], mcnemar_p=parity["mcnemar_p"])
    return out
