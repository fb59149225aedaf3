"""RunRequest: everything a run needs, as one frozen, validated value.

The CLI (`run`, `verify`, `parity`), the library API and the pytest plugin all build a
RunRequest and hand it to harness.api.plan(). It is kept in the run folder's run.json,
so `run --resume` rebuilds exactly the same request (and validates it like any input).
"""

from __future__ import annotations

import math
from typing import Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator

from harness.errors import BenchError
from harness.precision import CHOICES as PRECISIONS
from harness.precision import DEFAULT as DEFAULT_PRECISION


class RunRequest(BaseModel):
    """What to measure. Empty `models` or `backends` mean the catalogue's default model and
    every installed on-device backend; `tasks` ["default"] is the offline default set and
    [] means speed only; `threads` None takes the device profile's."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    models: tuple[str, ...] = ()
    backends: tuple[str, ...] = ()
    device: str = "host"
    threads: tuple[int, ...] | None = None
    prompts: tuple[int, ...] = (128,)
    gens: tuple[int, ...] = (64,)
    #: tokens in the context before the prompt (llama-bench's -d), swept like prompts
    depths: tuple[int, ...] = (0,)
    #: "synthetic" ids, or "text:TASK": the first tokens of a perplexity task's text
    prompt_source: str = Field("synthetic", pattern=r"^(synthetic|text:[A-Za-z0-9._-]+)$")
    #: backend settings for every model (run --set KEY=VALUE), over models.yaml's options
    options: dict[str, Union[bool, int, float, str]] = Field(default_factory=dict)
    reps: int = Field(5, ge=1)
    warmup: int = Field(1, ge=0)
    timeout: float = Field(600.0, gt=0)
    #: before each worker, wait up to this many seconds for the pinned cores to be quiet
    wait_idle: float = Field(0.0, ge=0)
    #: an ONNX precision or an old name of one (harness/precision.py)
    precision: Literal[PRECISIONS] = DEFAULT_PRECISION  # type: ignore[valid-type]
    speed: bool = True
    tasks: tuple[str, ...] = ("default",)
    limit: int | None = Field(None, ge=1)
    data_dir: str | None = None
    models_file: str | None = None
    #: reliability (verify): greedy determinism in this many worker processes (0: none),
    #: and a soak run of this many seconds (0: none)
    determinism_workers: int = Field(0, ge=0, le=8)
    soak_seconds: float = Field(0.0, ge=0)
    #: parity: compare next-token distributions of this perplexity task's text, over
    #: parity_tokens positions, across `backends` (a parity request runs nothing else)
    parity_task: str | None = None
    parity_tokens: int = Field(512, ge=2)
    #: run --parity: also each ONNX port's parity against its GGUF through llama_cpp (for
    #: every GGUF model measured through an ONNX backend), in the same run folder
    parity_ports: bool = False
    #: parity_task with several models: the first model (through the first backend) is the
    #: reference, every other model is compared with it (builds against their reference)
    parity_reference_model: bool = False

    @field_validator("threads", "prompts")
    @classmethod
    def _positive(cls, v):
        if v is not None and (not v or any(x <= 0 for x in v)):
            raise ValueError("values must be positive integers")
        return v if v is None else tuple(sorted(set(v)))

    @field_validator("depths")
    @classmethod
    def _depths(cls, v):
        if not v or any(x < 0 for x in v):
            raise ValueError("depths must be 0 or more")
        return tuple(sorted(set(v)))

    @field_validator("gens")
    @classmethod
    def _two_tokens(cls, v):
        if not v or any(x < 2 for x in v):
            raise ValueError("at least 2 tokens are needed to measure decode speed")
        return tuple(sorted(set(v)))

    @field_validator("timeout", "soak_seconds", "wait_idle")
    @classmethod
    def _finite(cls, v):
        if not math.isfinite(v):
            raise ValueError("must be a finite number")
        return v


#: RunRequest field -> (the flag that sets it, the message when the request refuses its
#: value); in the order the command line reports them when several are wrong
FLAG_ERRORS = {
    "reps": ("--reps", "must be at least 1, got {input}"),
    "warmup": ("--warmup", "must be 0 or more, got {input}"),
    "timeout": ("--timeout", "must be a positive number of seconds, got {input}"),
    "wait_idle": ("--wait-idle", "must be 0 or a positive number of seconds, got {input}"),
    "soak_seconds": ("--soak-seconds", "must be 0 (no soak) or a positive number, got {input}"),
    "limit": ("--limit", "must be at least 1, got {input}"),
    "gens": ("--gen", "at least 2 tokens are needed to measure decode speed"),
    "prompt_source": ("--prompt-source", "expected synthetic or text:TASK, got {input!r}"),
}


def refusal(error) -> BenchError:
    """A RunRequest's pydantic ValidationError as one line naming the flag (exit code 2);
    a field no flag sets is named by its place in the request."""
    order = list(FLAG_ERRORS)
    errors = sorted(error.errors(), key=lambda e: order.index(e["loc"][0])
                    if e["loc"] and e["loc"][0] in FLAG_ERRORS else len(order))
    err = errors[0]
    field = err["loc"][0] if err["loc"] else None
    if field in FLAG_ERRORS:
        flag, text = FLAG_ERRORS[field]
        return BenchError(f"{flag}: " + text.format(input=err.get("input")))
    if field == "options" and len(err["loc"]) > 1:  # --set KEY=VALUE
        return BenchError(f"--set {err['loc'][1]}={err.get('input')!r}: not a usable value "
                          "(a finite number, true/false or text)")
    where = ".".join(str(p) for p in err["loc"]) or "request"
    return BenchError(f"invalid request at {where}: {err['msg']}")
