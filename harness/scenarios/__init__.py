"""Scenarios: what a worker measures (see base.py for the interface).

  speed        synthetic prompts, timed generation (speed.py)
  quality      perplexity, multiple choice, exact match (quality.py dispatches)
  reliability  determinism and soak (reliability.py)
  parity       next-token distributions of one text, compared across backends (parity.py)
  lmeval       lm-evaluation-harness requests for the [lmeval] front end (lmeval.py)

A new scenario is one module with a harness.scenarios.base.Scenario subclass and an
entry here: the planner asks every registered scenario for its work (in this order),
and the spawned worker imports the scenario by its "module:Class" reference.
"""

from __future__ import annotations

import importlib

#: name -> (module, class); planned, and their jobs run, in this order
REGISTRY = {"speed": ("harness.scenarios.speed", "SpeedScenario"),
            "quality": ("harness.scenarios.quality", "QualityScenario"),
            "reliability": ("harness.scenarios.reliability", "ReliabilityScenario"),
            "parity": ("harness.scenarios.parity", "ParityScenario"),
            "lmeval": ("harness.scenarios.lmeval", "LmEvalScenario")}


def names() -> list[str]:
    return list(REGISTRY)


def ref(name: str) -> str:
    """"module:Class" of the scenario called `name` (what a spawned worker imports: an
    entry added at run time is not in the worker's registry)."""
    if name not in REGISTRY:
        raise ValueError(f"unknown scenario {name!r} (known: {', '.join(REGISTRY)})")
    return ":".join(REGISTRY[name])


def get(name: str):
    """The scenario called `name`, or given as "module:Class" (an instance of a
    harness.scenarios.base.Scenario)."""
    module, cls = ref(name).split(":") if ":" not in name else name.split(":", 1)
    return getattr(importlib.import_module(module), cls)()
