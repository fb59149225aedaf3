"""Measurement: one metric's raw samples and its direction; summaries are derived."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property


@dataclass(frozen=True)
class Measurement:
    """One metric's raw samples, its unit and its direction (higher_is_better).

    Every statistic is derived from the samples when asked (stat(); the bootstrap interval
    only when ci_low or ci_high is asked for). `summary` is what a record file stored:
    a cache written for people and other tools, never read back as evidence
    (harness.records.record.check_summaries refuses a file whose summary disagrees).
    """

    metric: str
    unit: str
    higher_is_better: bool
    samples: tuple[float, ...]
    summary: Mapping | None = None

    def to_dict(self) -> dict:
        from harness.measure.stats import summarize

        return {"metric": self.metric, "unit": self.unit,
                "higher_is_better": self.higher_is_better,
                "samples": [float(s) for s in self.samples],
                "summary": summarize(self.samples)}

    def plain(self) -> dict:
        """The fields a worker sends to its parent (no summary: the parent derives it)."""
        return {"metric": self.metric, "unit": self.unit,
                "higher_is_better": self.higher_is_better, "samples": list(self.samples)}

    @classmethod
    def of(cls, metric: str, samples) -> Measurement:
        """A measurement of a registered metric: unit and direction from the registry."""
        from harness import metrics

        entry = metrics.entry(metric)
        return cls(metric, entry.unit, entry.higher_is_better, tuple(samples))

    @classmethod
    def from_dict(cls, d: Mapping) -> Measurement:
        return cls(str(d["metric"]), str(d.get("unit", "")), bool(d["higher_is_better"]),
                   tuple(d.get("samples", ())), d.get("summary"))

    @cached_property
    def _described(self) -> dict:
        from harness.measure.stats import describe

        return describe(self.samples)

    @cached_property
    def _interval(self) -> tuple[float, float]:
        from harness.measure.stats import bootstrap_ci

        return bootstrap_ci([x for x in self.samples if x is not None and not math.isnan(x)])

    def stat(self, name: str = "median") -> float | None:
        """A statistic of the samples (harness.measure.stats), or None when there are none
        or it is not a finite number."""
        if name in ("ci_low", "ci_high"):
            v = self._interval[name == "ci_high"] if self._described["n"] else None
        else:
            v = self._described.get(name)
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        return v if ok else None
