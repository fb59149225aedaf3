"""Scenarios: what a worker measures (see base.py for the interface).

  speed        synthetic prompts, timed generation (speed.py)
  quality      perplexity, multiple choice, exact match (quality.py dispatches)
  reliability  determinism and soak (reliability.py)
  parity       next-token distributions of one text, compared across backends (parity.py)
  lmeval       lm-evaluation-harness requests for the [lmeval] front end (lmeval.py)
"""

from __future__ import annotations

import importlib

_REGISTRY = {"speed": ("harness.scenarios.speed", "SpeedScenario"),
             "quality": ("harness.scenarios.quality", "QualityScenario"),
             "reliability": ("harness.scenarios.reliability", "ReliabilityScenario"),
             "parity": ("harness.scenarios.parity", "ParityScenario"),
             "lmeval": ("harness.scenarios.lmeval", "LmEvalScenario")}


def names() -> list[str]:
    return list(_REGISTRY)


def get(name: str):
    """The scenario called `name` (an instance of a harness.scenarios.base.Scenario)."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown scenario {name!r} (known: {', '.join(_REGISTRY)})")
    module, cls = _REGISTRY[name]
    return getattr(importlib.import_module(module), cls)()
