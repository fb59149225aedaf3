"""Parity: did the port to the device change the model?

In a worker (ParityScenario): the text is tokenized by the backend, prefixed with BOS when
the model uses one, cut to `n_tokens`, and run from an empty cache; the log-softmax of
every position's logits is saved (float32 .npy) for the parent. Then, for GREEDY_PROMPTS
real-text prompts (BOS + the text's tokens [i*GREEDY_STRIDE, i*GREEDY_STRIDE +
GREEDY_PROMPT_TOKENS) for i = 0, 1, 2), GREEDY_TOKENS tokens are generated greedily
(end-of-sequence ignored) and kept in the record's details.

In the parent (pairwise): the next-token distributions of each backend are compared
position by position against the reference:

  ppl_diff_pct    (perplexity of B - perplexity of A) / perplexity of A x 100, where each
                  perplexity is exp(mean negative log-probability of the actual next tokens)
  top1_agreement  fraction of positions where both put the same token first (per-position
                  0/1 samples kept)
  mean_kl         mean over positions of KL(P_A || P_B) in nats (per-position samples kept)
  greedy_identical    per prompt, 1 when B's greedy continuation equals A's, else 0
  greedy_first_diff   per prompt, the index (0-based) of the first generated token where
                      they differ; GREEDY_TOKENS when identical

Both backends must have tokenized the text to the same ids, or the comparison is refused.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from harness.backends.base import Backend
from harness.errors import BenchError
from harness.records import Measurement
from harness.scenarios.base import Item, PlanContext, Scenario, Work
from harness.scenarios.common import bos_ids

DUMP_TASK = {"name": "parity-dump", "kind": "parity", "version": 1}
GREEDY_PROMPTS = 3
GREEDY_PROMPT_TOKENS = 32
GREEDY_STRIDE = 128
GREEDY_TOKENS = 64
#: run --parity: each ONNX port against its GGUF through llama_cpp (onnxruntime scoring
#: the port: ort_genai runs the same ONNX folder), on this task's text
ONNX_BACKENDS = ("onnxruntime", "ort_genai")
PORT_BACKENDS = ("llama_cpp", "onnxruntime")
PORT_TASK = "prose_en"


def greedy_prompts(bos: list[int], text_ids: list[int]) -> list[list[int]]:
    """The continuation prompts (module docstring); fewer when the text is short."""
    out = []
    for i in range(GREEDY_PROMPTS):
        piece = text_ids[i * GREEDY_STRIDE: i * GREEDY_STRIDE + GREEDY_PROMPT_TOKENS]
        if len(piece) == GREEDY_PROMPT_TOKENS:
            out.append(bos + list(piece))
    return out


def greedy_continuations(backend: Backend, bos: list[int], text_ids: list[int]
                         ) -> list[list[int]]:
    """GREEDY_TOKENS greedy ids (end-of-sequence ignored) after each greedy prompt."""
    return [list(backend.generate(p, GREEDY_TOKENS, ignore_eos=True))
            for p in greedy_prompts(bos, text_ids)]


def first_difference(a: list[int], b: list[int]) -> int:
    """Index of the first differing token of two continuations; their common length when
    one is a prefix of the other."""
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def run(backend: Backend, *, task: dict, text: str, n_tokens: int, out_path: str,
        on_repetition=None):
    import numpy as np

    if "logits" not in backend.capabilities:
        raise NotImplementedError(f"backend {backend.name!r} does not expose logits, "
                                  "which the parity check needs")
    bos, text_ids = bos_ids(backend), backend.tokenize(text)
    ids = (bos + text_ids)[:n_tokens]
    rows = np.asarray(backend.logits(ids), dtype=np.float32)
    rows -= rows.max(axis=1, keepdims=True)
    rows -= np.log(np.exp(rows).sum(axis=1, keepdims=True))
    np.save(out_path, rows)
    details: dict = {"ids": ids}
    if "generate" in backend.capabilities:
        details["greedy"] = greedy_continuations(backend, bos, text_ids)
    if on_repetition:
        on_repetition(1)
    return [Measurement.of("parity_tokens", (float(len(ids)),))], details


@dataclass(frozen=True)
class ParityItem(Item):
    """Dump one text's next-token distributions to `out_path` (log-softmax, .npy); the
    parent compares them with the `reference` backend's (finish)."""

    text: str
    n_tokens: int
    out_path: str
    reference: str
    text_task: dict
    reference_model: str = ""  # parity_reference_model: the reference model's id


def check_backends(backends: list[str], at_least: int = 2) -> None:
    from harness import backends as reg

    if len(backends) < at_least:
        raise BenchError("parity needs at least two backends")
    for b in backends:
        if not reg.available(b):
            raise BenchError(f"parity: backend {b!r} is not installed")
        if "logits" not in reg.backend_class(b).capabilities:
            raise BenchError(f"backend {b!r} does not expose logits, which parity needs")


def text_task(name: str) -> dict:
    """A perplexity task, prepared: its spec and its documents."""
    from harness.data import tasks as task_mod

    task = task_mod.prepare(task_mod.load_task(name))
    if task["task"]["kind"] != "perplexity":
        raise BenchError(f"--task: {name!r} is not a perplexity task (it has no text)")
    return task


def comparisons(ctx: PlanContext) -> list[tuple[str, str, list[str]]]:
    """(model id, reference, backends) to compare: the request's backends on its one model
    (parity_task; the reference is transformers when included, else the first backend),
    or, for `run --parity` (parity_ports), every GGUF model the run measures through an
    ONNX backend against itself through llama_cpp."""
    r = ctx.request
    if r.parity_task:
        (model_id,) = ctx.models
        names = list(ctx.backends)
        return [(model_id, "transformers" if "transformers" in names else names[0], names)]
    if not r.parity_ports:
        return []
    ported = [m.spec.id for m in ctx.models.values() if m.spec.format == "gguf"
              and any(b in ONNX_BACKENDS for b in ctx.backends)]
    if not ported:
        ctx.notes.append("--parity: no GGUF model runs through an ONNX backend; nothing to "
                         "compare")
    return [(m, PORT_BACKENDS[0], list(PORT_BACKENDS)) for m in ported]


class ParityScenario(Scenario):
    """Items: ParityItem, one per backend of a compared model; finish compares each
    backend's dump with the reference's and emits one parity record per pair."""

    name = "parity"

    def plan(self, ctx: PlanContext) -> list[Work]:
        import tempfile
        import uuid

        if ctx.request.parity_reference_model:
            return against_first_model(ctx)
        todo = comparisons(ctx)
        if not todo:
            return []
        for _, _, names in todo:
            check_backends(names)
        tokens = ctx.request.parity_tokens
        task = text_task(ctx.request.parity_task or PORT_TASK)
        text = task["items"][0]["text"]
        n_ctx = max(ctx.device.context_size, tokens)
        out = []
        for model_id, reference, names in todo:
            # the workers write the dumps here; finish removes them once compared
            dump_dir = Path(tempfile.gettempdir()) / f"sllm-bench-parity-{uuid.uuid4().hex}"
            out += [Work(model_id, b, ctx.device.resolve_threads(), n_ctx, (
                ParityItem(text, tokens, str(dump_dir / f"{b}.npy"), reference,
                           task["task"]),)) for b in names]
        return out

    def key(self, item: ParityItem) -> str:
        return DUMP_TASK["name"]

    def describe(self, job) -> str:
        return "parity: " + ", ".join(DUMP_TASK["name"] for _ in job.items)

    def task(self, item: ParityItem) -> dict:
        return dict(DUMP_TASK)

    def params(self, item: ParityItem) -> dict:
        return {"n_tokens": item.n_tokens, "out_path": item.out_path}

    def run(self, backend, item: ParityItem, progress):
        Path(item.out_path).parent.mkdir(parents=True, exist_ok=True)
        return run(backend, task=dict(DUMP_TASK), text=item.text, n_tokens=item.n_tokens,
                   out_path=item.out_path, on_repetition=progress)

    def finish(self, jobs, records, emit) -> None:
        """Per compared model: one parity record per backend against the reference, then
        the dumps are removed."""
        if jobs and jobs[0].items[0].reference_model:
            return finish_against_model(jobs, records, emit)
        models = list(dict.fromkeys(j.model_id for j in jobs))
        seq = 0
        for model_id in models:
            mine = [j for j in jobs if j.model_id == model_id]
            paths = {j.backend: Path(j.items[0].out_path) for j in mine}
            first = mine[0].items[0]
            dumps = {r.backend: r for r in records if r.model_id == model_id}
            try:
                for key, fields, _ in pairwise(dumps, first.reference,
                                               [j.backend for j in mine], paths,
                                               first.text_task):
                    if len(models) > 1:  # several models in one run folder (run --parity)
                        key = key.replace("parity-", f"parity-{model_id}-", 1)
                    emit(key, seq=seq, **fields)
                    seq += 1
            finally:
                for path in paths.values():
                    path.unlink(missing_ok=True)
                    with contextlib.suppress(OSError):
                        path.parent.rmdir()


def against_first_model(ctx: PlanContext) -> list[Work]:
    """parity_reference_model: the first model through the first backend is the reference
    of every other model through each other backend (the first when it is alone)."""
    import tempfile
    import uuid

    ids = list(ctx.models)
    if len(ids) < 2:
        raise BenchError("parity against a reference model needs it and at least one other")
    ref_backend, others = ctx.backends[0], ctx.backends[1:] or ctx.backends[:1]
    check_backends(list(dict.fromkeys([ref_backend, *others])), at_least=1)
    tokens, task = ctx.request.parity_tokens, text_task(ctx.request.parity_task or PORT_TASK)
    n_ctx, threads = max(ctx.device.context_size, tokens), ctx.device.resolve_threads()
    dump_dir = Path(tempfile.gettempdir()) / f"sllm-bench-parity-{uuid.uuid4().hex}"
    return [Work(m, b, threads, n_ctx, (ParityItem(
        task["items"][0]["text"], tokens, str(dump_dir / f"{m}~{b}.npy"), ref_backend,
        task["task"], reference_model=ids[0]),))
        for m, b in [(ids[0], ref_backend)] + [(m, b) for m in ids[1:] for b in others]]


def finish_against_model(jobs, records, emit) -> None:
    """One parity record (the compared model's) per job against the first job's dump."""
    ref_job = jobs[0]
    by_path = {r.params.get("out_path"): r for r in records if r.task_name == DUMP_TASK["name"]}
    paths = {j.index: Path(j.items[0].out_path) for j in jobs}
    try:
        ref = by_path.get(str(paths[ref_job.index]))
        for seq, job in enumerate(jobs[1:]):
            rec = by_path.get(str(paths[job.index]))
            if ref is None or rec is None:
                continue
            for _, fields, _ in pairwise({"reference": ref, job.backend: rec}, "reference",
                                         [job.backend], {"reference": paths[ref_job.index],
                                                         job.backend: paths[job.index]},
                                         job.items[0].text_task):
                fields["model"] = rec.model
                fields["backend"]["name"] = f"{ref_job.backend}~{job.backend}"
                fields["params"]["reference"] = f"{ref_job.model_id} ({ref_job.backend})"
                fields["params"]["reference_model"] = dict(ref.model)
                emit(f"parity-{job.model_id}-{job.backend}", seq=seq, **fields)
    finally:
        for path in paths.values():
            path.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                path.parent.rmdir()


def rows(records) -> list[dict]:
    """The summary row (what `sllm-bench parity` prints) of every parity record among
    `records`, from the record alone."""
    return [row(r) for r in records if r.kind == "parity" and r.task_name == "parity"]


def failures(records) -> dict[str, str]:
    """backend -> error message of every failed dump among `records`."""
    return {r.backend: r.error["message"] for r in records
            if r.task_name == DUMP_TASK["name"] and not r.ok}


def row(record) -> dict:
    """One parity record as a summary row: reference, backend, both perplexities, the
    summary figures of its details, the port's artifact, the greedy first differences."""
    d = record.to_dict()
    samples = {m["metric"]: m["samples"] for m in d["measurements"]}
    summary = d["details"]["summary"]
    out = {"reference": d["params"]["reference"],
           "backend": d["backend"]["name"].split("~", 1)[1],
           "ppl_reference": samples["reference_perplexity"][0], "ppl": samples["perplexity"][0],
           **{k: v for k, v in summary.items() if not k.startswith("greedy_")},
           "artifact": d["details"]["artifact"]}
    if "greedy_prompts" in summary:
        out.update(greedy_identical=summary["greedy_identical"],
                   greedy_prompts=summary["greedy_prompts"],
                   greedy_first_diff=[int(x) for x in samples["greedy_first_diff"]])
    return out


def compare(a, b, ids: list[int]) -> dict:
    """Pairwise metrics of two log-softmax arrays over the same ids (module docstring)."""
    import numpy as np

    n = len(ids) - 1
    a, b = a[:n].astype(np.float64), b[:n].astype(np.float64)
    nxt = np.asarray(ids[1:])
    nll_a = -a[np.arange(n), nxt].mean()
    nll_b = -b[np.arange(n), nxt].mean()
    kl = (np.exp(a) * (a - b)).sum(axis=1)
    agree = (a.argmax(axis=1) == b.argmax(axis=1)).astype(float)
    return {"ppl_a": float(np.exp(nll_a)), "ppl_b": float(np.exp(nll_b)),
            "ppl_diff_pct": float((np.exp(nll_b) - np.exp(nll_a)) / np.exp(nll_a) * 100),
            "kl": kl.tolist(), "agree": agree.tolist(),
            "hit_a": (a.argmax(axis=1) == nxt).astype(float).tolist(),
            "hit_b": (b.argmax(axis=1) == nxt).astype(float).tolist()}


def mcnemar_row(m: dict) -> dict:
    """Next-token accuracy (top-1 = the text's next token) of the reference and the port,
    with the exact McNemar test of their difference: positions the reference got right
    and the port wrong, the reverse, and the two-sided p. Positions of one text are not
    independent, so p is a guide, not a calibrated test."""
    from harness.measure.stats import mcnemar

    ref_only, port_only, p = mcnemar(m["hit_a"], m["hit_b"])
    n = len(m["hit_a"])
    return {"accuracy_reference": sum(m["hit_a"]) / n, "accuracy": sum(m["hit_b"]) / n,
            "mcnemar_reference_only": ref_only, "mcnemar_port_only": port_only,
            "mcnemar_p": p}


def pairwise(dumps: dict, reference: str, names: list[str], paths: dict[str, Path],
             text_task: dict) -> list[tuple[str, dict, dict]]:
    """Compare every ok dump (harness.records.Record per backend) with the reference's.

    Returns (record key, make_record fields, summary row) per compared backend; the
    fields carry kind "parity", the per-position samples and, in details, both artifacts
    (ONNX ports name their precision recipe) and the summary figures."""
    import numpy as np

    ref = dumps.get(reference)
    if ref is None or not ref.ok:
        return []
    a = np.load(paths[reference])
    out = []
    for b in names:
        if b == reference or b not in dumps or not dumps[b].ok:
            continue
        ids_a, ids_b = list(ref.details["ids"]), list(dumps[b].details["ids"])
        if ids_a != ids_b:
            k = next((i for i, (x, y) in enumerate(zip(ids_a, ids_b)) if x != y),
                     min(len(ids_a), len(ids_b)))
            raise BenchError(f"parity: {reference} and {b} tokenize the text differently "
                             f"(first difference at position {k})")
        m = compare(a, np.load(paths[b]), ids_a)
        greedy_a, greedy_b = ref.details.get("greedy"), dumps[b].details.get("greedy")
        greedy = []
        if greedy_a and greedy_b and len(greedy_a) == len(greedy_b):
            greedy = [Measurement.of("greedy_identical", tuple(
                          float(x == y) for x, y in zip(greedy_a, greedy_b))),
                      Measurement.of("greedy_first_diff", tuple(
                          float(first_difference(x, y)) for x, y in zip(greedy_a, greedy_b)))]
        fields = dict(
            kind="parity", started_at=ref["started_at"], model=ref.model,
            backend={"name": f"{reference}~{b}", "info": {
                reference: ref["backend"]["info"], b: dumps[b]["backend"]["info"]}},
            device=ref["device"], task={"name": "parity", "kind": "parity", "version": 1,
                                        "text_task": text_task["name"],
                                        "data_sha256": text_task["data_sha256"]},
            params={"tokens": len(ids_a), "reference": reference,
                    "artifacts": {reference: ref.model["artifact"],
                                  b: dumps[b].model["artifact"]}},
            env=ref.env, measurements=[
                Measurement.of("ppl_diff_pct", (m["ppl_diff_pct"],)),
                Measurement.of("top1_agreement", tuple(m["agree"])),
                Measurement.of("mean_kl", tuple(m["kl"])),
                Measurement.of("reference_perplexity", (m["ppl_a"],)),
                Measurement.of("perplexity", (m["ppl_b"],)),
                Measurement.of("next_token_acc", tuple(m["hit_b"])),
                Measurement.of("reference_next_token_acc", tuple(m["hit_a"])),
                *greedy])
        summary = {"ppl_diff_pct": m["ppl_diff_pct"],
                   "top1_agreement": float(np.mean(m["agree"])),
                   "mean_kl": float(np.mean(m["kl"])), **mcnemar_row(m),
                   **({"greedy_identical": int(sum(greedy[0].samples)),
                       "greedy_prompts": len(greedy[0].samples)} if greedy else {})}
        fields["details"] = {
            # what a leaderboard needs without reading samples: which port, against what
            "artifact": dict(dumps[b].model.get("artifact") or {}),
            "reference_artifact": dict(ref.model.get("artifact") or {}),
            "summary": summary}
        row = {"reference": reference, "backend": b, "ppl_reference": m["ppl_a"],
               "ppl": m["ppl_b"],
               **{k: v for k, v in summary.items() if not k.startswith("greedy_")},
               "artifact": dict(dumps[b].model.get("artifact") or {})}
        if greedy:
            row.update(greedy_identical=summary["greedy_identical"],
                       greedy_prompts=summary["greedy_prompts"],
                       greedy_first_diff=[int(x) for x in greedy[1].samples])
        out.append((f"parity-{reference}-{b}", fields, row))
    return out
