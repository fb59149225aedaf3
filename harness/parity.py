"""`sllm-bench parity`: did the port to the device change the model?

The same text goes through each backend (each in its own worker); the parent compares
the next-token distributions position by position, pairwise against the reference (the
first backend named; transformers, the fp32 de-quantized weights, when it is included):

  ppl_diff_pct    (perplexity of B - perplexity of A) / perplexity of A x 100, where each
                  perplexity is exp(mean negative log-probability of the actual next tokens)
  top1_agreement  fraction of positions where both put the same token first (per-position
                  0/1 samples kept)
  mean_kl         mean over positions of KL(P_A || P_B) in nats (per-position samples kept)

Both backends must have tokenized the text to the same ids, or the comparison is refused.
"""

from __future__ import annotations

import sys
from pathlib import Path

from harness.errors import BenchError


def register(sub) -> None:
    from harness.commands import EPILOG

    p = sub.add_parser("parity", help="compare next-token distributions across backends",
                       description=__doc__.split("\n\n")[0], epilog=EPILOG)
    p.add_argument("--model", "-m", default=None, help="catalogue id or path (default: default)")
    p.add_argument("--backend", "-b", action="append", metavar="NAME",
                   help="backends to compare (default: llama_cpp,onnxruntime,transformers "
                        "where installed); the first is the reference unless transformers "
                        "is among them")
    p.add_argument("--task", default="prose_en", help="a perplexity task whose text is used "
                   "(default: prose_en)")
    p.add_argument("--tokens", type=int, default=512, help="positions compared (default 512)")
    p.add_argument("--device", "-d", default="host")
    p.add_argument("--precision", choices=("int4", "fp32"), default="int4")
    p.add_argument("--format", "-o", choices=("markdown", "json"), default="markdown")
    p.add_argument("--out", default=None, help="results folder (default: results/runs)")
    p.set_defaults(handler=cmd_parity)


def compare(a, b, ids: list[int]) -> dict:
    """Pairwise metrics of two log-softmax arrays over the same ids (see module docstring)."""
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
            "kl": kl.tolist(), "agree": agree.tolist()}


def cmd_parity(args) -> int:
    from harness import backends as reg
    from harness import commands, plan, tasks
    from harness.config import load_device, project_root
    from harness.results import Measurement, make_record, write_json
    from harness.session import Session

    if args.tokens < 2:
        raise BenchError("--tokens: at least 2 positions are needed")
    names = commands._split(args.backend) or [b for b in ("llama_cpp", "onnxruntime",
                                                          "transformers") if reg.available(b)]
    if len(names) < 2:
        raise BenchError("parity needs at least two backends")
    for b in names:
        if "logits" not in reg.backend_class(b).capabilities:
            raise BenchError(f"backend {b!r} does not expose logits, which parity needs")
    reference = "transformers" if "transformers" in names else names[0]
    device = load_device(args.device)
    task = tasks.prepare(tasks.load_task(args.task))
    if task["task"]["kind"] != "perplexity":
        raise BenchError(f"--task: {args.task!r} is not a perplexity task (it has no text)")
    catalogue, cat_path = commands._catalogue(args.models_file)
    models = commands._resolve_models([args.model] if args.model else [], catalogue, cat_path)
    (model,) = models.values()
    out_dir = Path(args.out) if args.out else project_root() / "results" / "runs"
    n_ctx = max(device.context_size, args.tokens)
    session = Session(models=models, device=device, jobs=[], out_dir=out_dir,
                      catalogue_path=cat_path, precision=args.precision, log=commands._log,
                      request={"command": "parity", "backends": names, "tokens": args.tokens})
    dump = session.run_dir / "parity"
    dump.mkdir(parents=True, exist_ok=True)
    item = lambda b: {"task": {"name": "parity-dump", "kind": "parity", "version": 1},  # noqa: E731
                      "text": task["items"][0]["text"], "n_tokens": args.tokens,
                      "out_path": str(dump / f"{b}.npy")}
    session.jobs = [plan.Job(index=i, model_id=model.spec.id, backend=b,
                             threads=device.resolve_threads(), n_ctx=n_ctx,
                             items=(item(b),), scenario="parity")
                    for i, b in enumerate(names)]
    for line in plan.describe(session.jobs):
        commands._log(line)
    dumps = {r["backend"]["name"]: r for r in session.execute()}
    failed = [b for b, r in dumps.items() if r["status"] != "ok"]
    for b in failed:
        commands._log(f"parity: {b} failed: {dumps[b]['error']['message']}")
    rows = _pairwise(dumps, reference, names, dump, session, task["task"], make_record,
                     Measurement, write_json)
    _print(rows, args.format)
    for p in dump.glob("*.npy"):
        p.unlink()  # large; the per-position samples in the records are the evidence
    return 1 if failed else 0


def _pairwise(dumps, reference, names, dump, session, task, make_record, Measurement,
              write_json) -> list[dict]:
    import numpy as np

    if dumps.get(reference, {}).get("status") != "ok":
        return []
    ref = dumps[reference]
    a = np.load(dump / f"{reference}.npy")
    rows = []
    for b in names:
        if b == reference or dumps[b]["status"] != "ok":
            continue
        ids_a, ids_b = ref["details"]["ids"], dumps[b]["details"]["ids"]
        if ids_a != ids_b:
            k = next((i for i, (x, y) in enumerate(zip(ids_a, ids_b)) if x != y),
                     min(len(ids_a), len(ids_b)))
            raise BenchError(f"parity: {reference} and {b} tokenize the text differently "
                             f"(first difference at position {k})")
        m = compare(a, np.load(dump / f"{b}.npy"), ids_a)
        rec = make_record(
            run_id=session.run_id, seq=len(rows), started_at=ref["started_at"],
            model=ref["model"], backend={"name": f"{reference}~{b}", "info": {
                reference: ref["backend"]["info"], b: dumps[b]["backend"]["info"]}},
            device=ref["device"], task={"name": "parity", "kind": "parity", "version": 1,
                                        "text_task": task["name"],
                                        "data_sha256": task["data_sha256"]},
            params={"tokens": len(ids_a), "reference": reference,
                    "artifacts": {reference: ref["model"]["artifact"],
                                  b: dumps[b]["model"]["artifact"]}},
            env=ref["env"], measurements=[
                Measurement("ppl_diff_pct", "%", False, (m["ppl_diff_pct"],)),
                Measurement("top1_agreement", "fraction", True, tuple(m["agree"])),
                Measurement("mean_kl", "nats", False, tuple(m["kl"])),
                Measurement("reference_perplexity", "", False, (m["ppl_a"],)),
                Measurement("perplexity", "", False, (m["ppl_b"],))])
        write_json(session.run_dir / "records" / f"parity-{reference}-{b}.json", rec)
        rows.append({"reference": reference, "backend": b, "ppl_reference": m["ppl_a"],
                     "ppl": m["ppl_b"], "ppl_diff_pct": m["ppl_diff_pct"],
                     "top1_agreement": float(np.mean(m["agree"])),
                     "mean_kl": float(np.mean(m["kl"]))})
    return rows


def _print(rows: list[dict], fmt: str) -> None:
    import json

    if fmt == "json":
        print(json.dumps(rows, indent=1))
        return
    print("| reference | backend | ppl (ref) | ppl | ppl diff % | top-1 agreement | mean KL |\n"
          "|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['reference']} | {r['backend']} | {r['ppl_reference']:.3f} | {r['ppl']:.3f} | "
              f"{r['ppl_diff_pct']:+.2f} | {r['top1_agreement']:.3f} | {r['mean_kl']:.4f} |")
    sys.stdout.flush()
