"""A new scenario is one module and one registry entry (issue 23): the planner asks it for
its work, the spawned worker imports it by reference, the session makes its records."""

from __future__ import annotations

import pickle


def test_a_load_only_scenario_needs_one_file_and_a_registry_entry(project, monkeypatch):
    from harness import api, scenarios
    from harness.engine.request import RunRequest
    from load_only_scenario import LoadItem

    monkeypatch.setitem(scenarios.REGISTRY, "load_only",
                        ("load_only_scenario", "LoadOnlyScenario"))
    plan = api.plan(RunRequest(backends=("fake",), speed=False, tasks=()))
    (job,) = plan.jobs
    assert job.items == (LoadItem(),) and job.item_key(0) == "fake-fake-ok-t1-load"
    assert pickle.loads(pickle.dumps(job.items)) == job.items  # items go to a spawned worker
    result = api.execute(plan, out_dir=project / "out")
    (rec,) = result.records
    assert rec.ok, rec.error
    assert rec.task_name == "load" and rec.params["note"] == "load only"
    assert rec.stat("load_s") >= 0 and rec.stat("peak_rss_mb") > 0
    assert rec.details["vocab_size"] > 0
    assert (result.run_dir / "records" / "fake-fake-ok-t1-load.json").is_file()


def test_every_planned_item_is_a_frozen_picklable_dataclass(project):
    import dataclasses
    import shutil

    from conftest import ROOT

    from harness import api
    from harness.engine.request import RunRequest

    shutil.copytree(ROOT / "tasks", project / "tasks")
    plan = api.plan(RunRequest(backends=("fake",), tasks=("mc_en",), limit=2,
                               determinism_workers=2, soak_seconds=1))
    items = [it for j in plan.jobs for it in j.items]
    assert {type(it).__name__ for it in items} == {"SpeedItem", "QualityItem",
                                                   "DeterminismItem", "SoakItem"}
    for it in items:
        assert dataclasses.is_dataclass(it) and type(it).__dataclass_params__.frozen
        assert pickle.loads(pickle.dumps(it)) == it
