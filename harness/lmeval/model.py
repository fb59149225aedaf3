"""The lm-evaluation-harness model "sllm-bench" (importing this module registers it).

model_args (lm-evaluation-harness's --model_args, comma-separated key=value):
  backend     harness backend: llama_cpp (default), onnxruntime, ort_genai, transformers
  model       catalogue id or model path (default: the catalogue's default model)
  profile     device profile: threads, cores, context size, memory budget (default host)
  threads, n_ctx, precision, timeout, models_file   as `sllm-bench run`
  max_length  tokens per loglikelihood_rolling window (default: n_ctx), as a perplexity
              task's context_tokens
  add_bos     put the model's BOS before every context (default false, as
              lm-evaluation-harness's hf model and the harness's own tasks)
lm-evaluation-harness's --device (its CLI passes cuda:0 by default) and --batch_size are
not used: the device profile decides cores and threads, and each backend batches its
scoring itself.

Scores are lm-evaluation-harness's definitions computed by the harness's own code (see
harness.scenarios.lmeval), so a task run here gives the numbers `sllm-bench run` gives
on the same items. Generation is greedy only. With --apply_chat_template the model's
own chat template (from the model file) is rendered in the harness's sandbox.
"""

from __future__ import annotations

from lm_eval.api.model import LM
from lm_eval.api.registry import register_model

from harness.errors import BenchError
from harness.precision import DEFAULT as DEFAULT_PRECISION
from harness.lmeval.client import WorkerClient

def _whole(key: str, v) -> int | None:
    """A positive whole number from --model_args (lm-eval passes strings or numbers)."""
    if v is None:
        return None
    try:
        n = int(str(v))
    except ValueError:
        n = 0
    if n <= 0 or n > 1 << 24:
        raise BenchError(f"--model_args {key}: expected a positive whole number, got {v!r}")
    return n


def _seconds(key: str, v) -> float:
    import math

    try:
        x = float(v)
    except (TypeError, ValueError):
        x = math.nan
    if not math.isfinite(x) or x <= 0:  # nan disabled the silence watchdog
        raise BenchError(f"--model_args {key}: expected a positive number of seconds, "
                         f"got {v!r}")
    return x


def _flag(key: str, v) -> bool:
    if isinstance(v, bool):
        return v
    text = str(v).strip().lower()
    if text not in ("true", "false", "1", "0", "yes", "no"):
        raise BenchError(f"--model_args {key}: expected true or false, got {v!r}")
    return text in ("true", "1", "yes")


@register_model("sllm-bench")
class SllmBenchLM(LM):
    def __init__(self, backend: str = "llama_cpp", model: str | None = None,
                 profile: str = "host", threads: int | None = None, n_ctx: int | None = None,
                 max_length: int | None = None, add_bos: bool = False,
                 precision: str = DEFAULT_PRECISION, timeout: float = 600.0,
                 models_file: str | None = None, device: str | None = None,
                 batch_size=None, max_batch_size=None, **unknown) -> None:
        super().__init__()
        if unknown:
            raise BenchError(f"--model_args: unknown key(s) {', '.join(sorted(unknown))} for "
                             "model sllm-bench (known: backend, model, profile, threads, n_ctx, "
                             "max_length, add_bos, precision, timeout, models_file)")
        threads, n_ctx, max_length = (_whole(k, v) for k, v in (
            ("threads", threads), ("n_ctx", n_ctx), ("max_length", max_length)))
        self.client = WorkerClient(backend=str(backend), model=None if model is None
                                   else str(model), profile=str(profile), threads=threads,
                                   n_ctx=n_ctx, precision=str(precision),
                                   timeout=_seconds("timeout", timeout), models_file=models_file)
        self.max_length = int(max_length or self.client.n_ctx)
        self.add_bos = _flag("add_bos", add_bos)
        self.chat_applied = False
        self._template: str | None = None

    # ------------------------------------------------------------------ scoring
    def loglikelihood(self, requests, disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        pairs = [list(r.args) for r in requests]
        out = [(float(lp), bool(g)) for lp, g in
               self.client.ask("loglikelihood", pairs, add_bos=self.add_bos,
                               chat=self.chat_applied)]
        for pair, res in zip(pairs, out):
            self.cache_hook.add_partial("loglikelihood", tuple(pair), res)
        return out

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False) -> list[float]:
        texts = [[r.args[0]] for r in requests]
        out = [float(x) for x in self.client.ask("loglikelihood_rolling", texts,
                                                 max_length=self.max_length)]
        for (text,), res in zip(texts, out):
            self.cache_hook.add_partial("loglikelihood_rolling", (text,), res)
        return out

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        asks = []
        for r in requests:
            context, kwargs = r.args[0], dict(r.args[1] or {})
            if kwargs.get("do_sample") or float(kwargs.get("temperature") or 0) > 0:
                raise BenchError("sllm-bench generates greedily only (do_sample false, "
                                 "temperature 0)")
            until = kwargs.get("until") or []
            asks.append([context, [until] if isinstance(until, str) else list(until),
                         int(kwargs.get("max_gen_toks", 256))])
        out = self.client.ask("generate_until", asks, add_bos=self.add_bos,
                              chat=self.chat_applied)
        for r, res in zip(requests, out):
            self.cache_hook.add_partial("generate_until", r.args, res)
        return out

    # ------------------------------------------------------------------ chat
    @property
    def tokenizer_name(self) -> str:
        return f"sllm-bench-{self.client.resolved.spec.id}"

    def chat_template(self, chat_template=False) -> str | None:
        if not chat_template:
            return None
        if self._template is None:
            from harness.data.chat import chat_template as read

            self._template = read(self.client.model_path) or ""
        return self._template or None

    def apply_chat_template(self, chat_history, add_generation_prompt: bool = True) -> str:
        from harness.data.chat import render

        template = self.chat_template(True)
        if template is None:
            raise BenchError(f"{self.client.model_path}: the model has no chat template")
        self.chat_applied = True
        return render(template, list(chat_history), add_generation_prompt=add_generation_prompt,
                      source=self.client.model_path)
