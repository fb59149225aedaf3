"""The gate config: per-metric rules, overridable per device profile and per task.

A rule is resolved for (metric, unit, device, task) in this order, each layer changing
only the keys it sets: the built-in DEFAULT_RULE, the file's `default` (for every metric),
the metric registry's built-in rule (harness.metrics: its unit's layer, then the metric's
own keys, e.g. report-only for derived metrics), the file's `metrics`
entry, then every `overrides` entry whose `device` and `task` (each optional) match, in
file order. The project's file is
results/baselines/gate.yaml (used when present; `--config PATH` picks another). Unknown
keys are errors naming the file and the key.

    alpha: 0.05                 # family-wise significance level of one compare
    holm: true                  # Holm's correction across the gated metrics (false: per metric)
    confidence: 0.95            # bootstrap interval shown in the table
    ignore_params: [repetitions, memory_bandwidth]    # params left out of the match key
    default: {threshold: 0.05}  # for every metric (warm_up: false keeps warm-up repetitions)
    metrics:
      peak_rss_mb: {tolerance: 0.05, abs_tolerance: 8}
    overrides:
      - device: laptop-2c-4g
        metrics: {decode_tps: {threshold: 0.08}}
      - task: hellaswag
        metrics: {acc: {rule: tolerance, abs_tolerance: 0.0}}   # exact
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from harness import metrics
from harness.gate.stats import Rule

CONFIG_NAME = "gate.yaml"

#: every metric starts from Rule's defaults: gated, auto, median, 5% threshold and tolerance
DEFAULT_RULE = Rule()


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MetricRule(Strict):
    """Keys of a per-metric rule; unset keys keep the value of the layer below."""

    gate: bool | None = Field(None, description="false: report the metric, never fail on it")
    rule: Literal["auto", "statistical", "tolerance"] | None = Field(
        None, description="auto: tolerance when a side has one sample, else statistical")
    center: Literal["median", "mean"] | None = None
    threshold: float | None = Field(None, ge=0, description="statistical: relative change")
    abs_threshold: float | None = Field(None, ge=0, description="statistical: in the unit")
    tolerance: float | None = Field(None, ge=0, description="tolerance: relative change")
    abs_tolerance: float | None = Field(None, ge=0, description="tolerance: in the unit")
    warm_up: bool | None = Field(
        None, description="drop a run's leading repetitions that show warm-up "
        "(harness.measure.warmup); false: compare every repetition")

    def apply(self, rule: Rule) -> Rule:
        return replace(rule, **self.model_dump(exclude_none=True))


class Override(Strict):
    """Rules for runs of one device profile and/or one task (both optional)."""

    device: str | None = None
    task: str | None = None
    metrics: dict[str, MetricRule] = Field(default_factory=dict)


class GateFile(Strict):
    alpha: float = Field(0.05, gt=0, lt=0.5)
    holm: bool = True
    confidence: float = Field(0.95, gt=0, lt=1)
    # repetitions: a sample count, not a setting; memory_bandwidth: measured, not chosen
    ignore_params: list[str] = Field(
        default_factory=lambda: ["repetitions", "memory_bandwidth"])
    default: MetricRule = MetricRule()
    metrics: dict[str, MetricRule] = Field(default_factory=dict)
    overrides: list[Override] = Field(default_factory=list)


@dataclass(frozen=True)
class GateConfig:
    """A loaded gate config; `source` is the file it came from (None: built-in only)."""

    file: GateFile = field(default_factory=GateFile)
    source: Path | None = None

    @property
    def alpha(self) -> float:
        return self.file.alpha

    @property
    def holm(self) -> bool:
        return self.file.holm

    @property
    def confidence(self) -> float:
        return self.file.confidence

    @property
    def ignore_params(self) -> tuple[str, ...]:
        return tuple(self.file.ignore_params)

    def rule(self, metric: str, unit: str, device: str, task: str) -> Rule:
        """The resolved rule for one metric of one run (module docstring: the layers)."""
        layers = [self.file.default, MetricRule(**metrics.gate_layer(metric, unit)),
                  self.file.metrics.get(metric)]
        layers += [o.metrics.get(metric) for o in self.file.overrides
                   if o.device in (None, device) and o.task in (None, task)]
        rule = DEFAULT_RULE
        for layer in layers:
            if layer is not None:
                rule = layer.apply(rule)
        return rule if rule.gate else replace(rule, why=metrics.why_not_gated(metric))



def default_path() -> Path | None:
    """results/baselines/gate.yaml in the project, when the project root is found."""
    from harness.config import project_root
    from harness.errors import ConfigError

    try:
        return project_root() / "results" / "baselines" / CONFIG_NAME
    except ConfigError:
        return None


def load(path: str | Path | None = None) -> GateConfig:
    """The given file, else the project's results/baselines/gate.yaml, else built-ins."""
    from harness.config import read_yaml, validate

    if path is None:
        found = default_path()
        if found is None or not found.is_file():
            return GateConfig()
        path = found
    path = Path(path)
    data = read_yaml(path)
    return GateConfig(validate(GateFile, {} if data is None else data, path), path)
