"""A device profile's quality floor on more items: a budget's `limit` sets how many items
of its task the plan measures (unless --limit says otherwise)."""

from __future__ import annotations

import json

from conftest import write


def setup(project, *, limit_line="limit: 5"):
    rows = [{"query": f"q{i}", "choices": ["a", "b"], "gold": i % 2} for i in range(12)]
    write(project / "tasks" / "data" / "many.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    write(project / "tasks" / "many.yaml", "name: many\nversion: 1\nkind: multiple_choice\n"
          "language: en\ndata: {path: data/many.jsonl, format: mc_jsonl}\n")
    write(project / "tasks" / "other.yaml", "name: other\nversion: 1\nkind: multiple_choice\n"
          "language: en\ndata: {path: data/many.jsonl, format: mc_jsonl}\n")
    write(project / "devices" / "floor.yaml", f"""
        name: floor
        threads: 1
        cores: 1
        budgets:
          - {{metric: acc, min: 0.1, task: many, {limit_line}}}
          - {{metric: acc, min: 0.1, task: many, limit: 3}}
        """)


def planned_items(request) -> dict[str, int]:
    from harness import api
    from harness.scenarios.quality import QualityItem

    plan = api.plan(request)
    return {t.task["name"]: t.task["n_items"] for j in plan.jobs for t in j.items
            if isinstance(t, QualityItem)}


def test_verify_plan_takes_the_budget_limit_per_task(project):
    from harness import api

    setup(project)
    request = api.verify_request("floor", backends=("fake",), soak_seconds=0)
    assert request.tasks == ("many",)
    assert planned_items(request) == {"many": 5}  # the largest limit of its budgets


def test_explicit_limit_wins_and_other_tasks_are_whole(project):
    from harness import api

    setup(project)
    assert planned_items(api.verify_request("floor", backends=("fake",), soak_seconds=0,
                                            limit=2)) == {"many": 2}
    run = api.RunRequest(backends=("fake",), device="floor", speed=False,
                         tasks=("many", "other"))
    assert planned_items(run) == {"many": 5, "other": 12}


def test_limit_above_the_items_takes_them_all(project):
    from harness import api

    setup(project, limit_line="limit: 500")
    assert planned_items(api.verify_request("floor", backends=("fake",),
                                            soak_seconds=0)) == {"many": 12}
