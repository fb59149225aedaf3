"""Measurement: one metric's raw samples and its direction; summaries are derived."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Measurement:
    """One metric's raw samples, its unit and its direction (higher_is_better).

    `summary` is derived from the samples when the measurement is written (see
    harness.measure.stats.summarize); a measurement read from a record carries the stored
    one, so readers never recompute a bootstrap.
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
                "summary": dict(self.summary) if self.summary is not None
                else summarize(self.samples)}

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

    def stat(self, name: str = "median") -> float | None:
        """A summary statistic, or None when absent or not a number."""
        v = (self.summary or {}).get(name)
        return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None
