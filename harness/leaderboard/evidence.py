"""What a leaderboard row says about the model it timed: quality, parity and floors.

Quality and parity describe the weights a backend runs, so they are joined by artifact:
the model file (id and sha256) and, for an ONNX port, its precision recipe. Two backends
that read the same ONNX folder (onnxruntime and ort_genai) share them: a backend that
cannot score (ort_genai) takes the figures another backend measured on the same artifact,
and the row says which backend measured them (`measured_by`). A GGUF read by a backend
is its own artifact (llama_cpp's quantized kernels and transformers' fp32 dequantization
are different numerics), so GGUF rows only take their own backend's results. Among
candidates the same backend wins, then the same device profile, then the latest.

Quality (per task): every QUALITY_METRICS mean, and a headline metric with its standard
error: acc / acc_norm / exact_match (mean of per-item 0/1 samples, SE = sample sd /
sqrt(n), lm-evaluation-harness's stderr) or token perplexity (its SE by the delta method
from the per-window negative log-likelihoods when the record kept them: ppl x SE of
log-ppl; none for a single reading).

Parity (ONNX ports of a GGUF only): the latest `sllm-bench parity` record comparing that
port with the GGUF itself (a reference backend that reads the GGUF file): mean KL (nats),
top-1 agreement, perplexity difference and greedy continuations, judged against the
tolerance (TOLERANCE, or the --max-kl / --min-top1 flags).

Floors: a device profile's quality budgets (acc, acc_norm, perplexity with a task), as the
speed record carried its profile; the point estimate is compared with the floor.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from harness import metrics
from harness.precision import AS_SUPPLIED, canonical
from harness.records import Record

QUALITY_METRICS = ("acc", "acc_norm", "acc_per_token", "exact_match", "token_perplexity",
                   "word_perplexity", "byte_perplexity", "bits_per_byte")
#: headline metric per task kind (the first one present is used)
HEADLINE = {"multiple_choice": ("acc", "acc_norm", "acc_per_token"),
            "exact_match": ("exact_match",), "partial_choice": ("acc",), "last_word": ("acc",),
            "perplexity": ("token_perplexity", "word_perplexity", "byte_perplexity")}
#: a ported row ranks only if its parity against the GGUF is within these
TOLERANCE = {"max_mean_kl": 0.05, "min_top1_agreement": 0.9}
#: budgets that are quality floors (each reads the registry entry's `of` metric)
FLOOR_METRICS = ("acc", "acc_norm", "perplexity")


# ------------------------------------------------------------------ artifacts
def artifact_key(backend: str, artifact) -> tuple:
    """What identifies the weights a backend ran (module docstring)."""
    art = artifact if isinstance(artifact, Mapping) else {}
    if art.get("kind") == "onnx" and art.get("precision") not in (None, AS_SUPPLIED):
        precision = str(art["precision"])
        return ("onnx", canonical(precision) or precision, as_str(art.get("recipe")))
    return ("backend", backend)


def same_artifact(a: tuple, b: tuple) -> bool:
    """Equal keys; an ONNX recipe missing on one side (older records) is not a mismatch."""
    if a[:2] != b[:2]:
        return False
    return a[0] != "onnx" or a[2] is None or b[2] is None or a[2] == b[2]


def is_port(r: Record) -> bool:
    """A GGUF model run from an ONNX folder prepared from it (a port needing parity)."""
    return r.model.get("format") == "gguf" and artifact_key(r.backend, r.model.get(
        "artifact"))[0] == "onnx"


def _pick(candidates: list[Record], backend: str, device: str) -> Record | None:
    return max(candidates, key=lambda r: (r.backend == backend, r.device == device, r.when()),
               default=None)


# ------------------------------------------------------------------ quality
class Evidence:
    """Quality and parity records indexed for joining to speed rows."""

    def __init__(self, quality: list[Record], parity: list[Record]):
        self.quality: dict[tuple, list[Record]] = {}
        for r in quality:
            self.quality.setdefault((r.model_id, r.model.get("sha256")), []).append(r)
        self.parity: dict[tuple, list[tuple[tuple, Record]]] = {}
        for r in parity:
            port = _parity_port(r)
            if port is not None:
                self.parity.setdefault((r.model_id, r.model.get("sha256")), []).append(
                    (port, r))

    def quality_of(self, speed: Record) -> list[dict]:
        """The row's quality: per task, the best candidate (module docstring)."""
        key = artifact_key(speed.backend, speed.model.get("artifact"))
        by_task: dict[str, list[Record]] = {}
        for r in self.quality.get((speed.model_id, speed.model.get("sha256")), ()):
            if same_artifact(artifact_key(r.backend, r.model.get("artifact")), key):
                by_task.setdefault(r.task_name, []).append(r)
        return [quality_entry(_pick(rs, speed.backend, speed.device))
                for _, rs in sorted(by_task.items())]

    def parity_of(self, speed: Record, tolerance: Mapping) -> dict | None:
        """None for a row that is not a port; else its parity and the judgement."""
        if not is_port(speed):
            return None
        key = artifact_key(speed.backend, speed.model.get("artifact"))
        found = [r for port, r in self.parity.get((speed.model_id, speed.model.get("sha256")),
                                                  ()) if same_artifact(port, key)]
        # the port's own backend first (a parity record's backend is "reference~port")
        best = max(found, key=lambda r: (_port_backend(r) == speed.backend,
                                         r.device == speed.device, r.when()), default=None)
        if best is None:
            return {"status": "not measured", "reference": None, "measured_by": None,
                    "mean_kl": None, "top1_agreement": None, "ppl_diff_pct": None,
                    "greedy_identical": None, "greedy_prompts": None, "tokens": None,
                    "run_id": None, "date": None}
        s = best.details.get("summary") if isinstance(best.details.get("summary"),
                                                      Mapping) else {}

        def fig(name):
            v = s.get(name)
            return as_num(v) if v is not None else as_num(best.stat(name, "mean"))

        kl, top1 = fig("mean_kl"), fig("top1_agreement")
        ok = (kl is not None and top1 is not None and kl <= tolerance["max_mean_kl"]
              and top1 >= tolerance["min_top1_agreement"])
        return {"status": "pass" if ok else "fail",
                "reference": as_str(best.params.get("reference")),
                "measured_by": _port_backend(best), "mean_kl": kl, "top1_agreement": top1,
                "ppl_diff_pct": fig("ppl_diff_pct"),
                "greedy_identical": as_int(s.get("greedy_identical")),
                "greedy_prompts": as_int(s.get("greedy_prompts")),
                "tokens": as_int(best.params.get("tokens")), "run_id": best.run_id,
                "date": str(best["finished_at"])}


def _port_backend(r: Record) -> str:
    return r.backend.split("~", 1)[-1]


def _parity_port(r: Record) -> tuple | None:
    """The artifact key of the port a parity record measured, when its reference is the
    GGUF file itself; None otherwise."""
    port_backend = _port_backend(r)
    arts = r.params.get("artifacts") if isinstance(r.params.get("artifacts"), Mapping) else {}
    port = r.details.get("artifact") or arts.get(port_backend)
    ref = r.details.get("reference_artifact") or arts.get(str(r.params.get("reference")))
    if not isinstance(ref, Mapping) or ref.get("kind") != "gguf":
        return None
    key = artifact_key(port_backend, port)
    return key if key[0] == "onnx" else None


def quality_entry(r: Record) -> dict:
    """One task's result (module docstring)."""
    kept = [name for name in r.metrics() if name in QUALITY_METRICS]
    kind = r.task.get("kind")
    n = max((len(r.samples(name)) for name in kept), default=None)
    headline = next((m for m in HEADLINE.get(kind, ()) if m in kept), kept[0] if kept else None)
    return {"task": r.task_name, "kind": kind, "version": r.task["version"],
            "metrics": {name: as_num(r.stat(name, "mean")) for name in kept},
            "headline": None if headline is None else {
                "metric": headline, "value": as_num(r.stat(headline, "mean")),
                "se": _se(r, headline),
                "higher_is_better": metrics.entry(headline).higher_is_better},
            "n": None if kind == "perplexity" else n,
            "measured_by": r.backend, "device": r.device,
            "run_id": r.run_id, "date": str(r["finished_at"])}


def _se(r: Record, metric: str) -> float | None:
    if metric != "token_perplexity":
        return as_num(r.stat(metric, "sem")) if len(r.samples(metric)) > 1 else None
    from harness.measure.windows import log_perplexity_se

    nll, tok = r.samples("window_nll"), r.samples("window_tokens")
    se = log_perplexity_se(nll, tok, r.samples("window_document") or None)
    # the delta method: SE of perplexity = perplexity x SE of its log
    return None if se is None else as_num(math.exp(sum(nll) / sum(tok)) * se)


# ------------------------------------------------------------------ floors
def floors(speed: Record, quality: list[dict]) -> list[dict]:
    """The profile's quality floors, each with the row's value and pass/fail/not measured."""
    budgets = speed["device"].get("budgets") if isinstance(speed["device"], Mapping) else None
    out = []
    for b in budgets if isinstance(budgets, (list, tuple)) else ():
        if not isinstance(b, Mapping) or b.get("metric") not in FLOOR_METRICS or not b.get("task"):
            continue
        metric = metrics.entry(b["metric"]).of
        entry = next((q for q in quality if q["task"] == b["task"]), None)
        value = None if entry is None else entry["metrics"].get(metric)
        lo, hi = as_num(b.get("min")), as_num(b.get("max"))
        status = "not measured" if value is None else "fail" if (
            (lo is not None and value < lo) or (hi is not None and value > hi)) else "pass"
        out.append({"task": str(b["task"]), "metric": metric, "min": lo, "max": hi,
                    "value": value, "status": status})
    return out


# ------------------------------------------------------------------ coercion
# (record fields as JSON-safe values: a bool is not a number, inf/NaN become None)
def as_num(x) -> float | None:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    return float(x) if math.isfinite(x) else None


def as_int(x) -> int | None:
    return x if isinstance(x, int) and not isinstance(x, bool) else None


def as_str(x) -> str | None:
    return None if x is None else str(x)
