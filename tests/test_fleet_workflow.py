"""The CI-native fleet (.github/workflows/fleet.yml), checked for structure (actionlint
is not installable offline here): a matrix over self-hosted runner labels, one per device
profile that exists, each verifying on itself and uploading its run folder; a last job
that always runs and folds them into the leaderboard and the verdict matrix."""

from __future__ import annotations

import re

import yaml

from conftest import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "fleet.yml"


def load() -> dict:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def test_matrix_over_device_runners():
    wf = load()
    assert set(wf) >= {"name", True, "jobs"}  # YAML reads the key `on` as True
    verify = wf["jobs"]["verify"]
    devices = verify["strategy"]["matrix"]["device"]
    assert devices and all((ROOT / "devices" / f"{d}.yaml").is_file() for d in devices)
    assert verify["strategy"]["fail-fast"] is False
    assert verify["runs-on"] == ["self-hosted", "${{ matrix.device }}"]
    runs = " ".join(s.get("run", "") for s in verify["steps"])
    assert re.search(r'sllm-bench verify -d "\$\{\{ matrix.device \}\}"', runs)
    upload = [s for s in verify["steps"] if s.get("uses", "").startswith("actions/upload-artifact")]
    assert upload and upload[0]["if"] == "always()"


def test_fold_job_builds_leaderboard_and_matrix():
    fold = load()["jobs"]["fold"]
    assert fold["needs"] == "verify" and fold["if"] == "always()"
    runs = "\n".join(s.get("run", "") for s in fold["steps"])
    assert "sllm-bench leaderboard fleet" in runs and "sllm-bench fleet matrix fleet" in runs


def test_every_step_is_well_formed_and_commands_parse():
    from harness.cli import build_parser

    wf = load()
    for name, job in wf["jobs"].items():
        assert "runs-on" in job and job["steps"], name
        for step in job["steps"]:
            assert ("uses" in step) != ("run" in step), (name, step)
            if "uses" in step:
                assert re.fullmatch(r"actions/[\w-]+@v\d+", step["uses"]), step["uses"]
    parser = build_parser()
    parser.parse_args(["verify", "-d", "laptop-2c-4g", "--no-progress", "--out", "fleet/x"])
    parser.parse_args(["leaderboard", "fleet", "-o", "fleet/leaderboard.json", "--html",
                       "fleet/site"])
    parser.parse_args(["fleet", "matrix", "fleet"])
