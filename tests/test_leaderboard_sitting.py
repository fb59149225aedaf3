"""benchmarks/leaderboard_sitting.sh, run in seconds on the fake backend (TINY=1): every
step runs, the leaderboard and its page are written, and the log lists each row's rank
or the reason it has none. The real sitting (catalogue models, three backends, two
profiles) is run by hand on a quiet machine."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "leaderboard_sitting.sh"


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_sitting_script_runs_every_step_and_folds_the_page(project, tmp_path):
    shutil.copytree(ROOT / "tasks", project / "tasks")
    env = {**os.environ, "SLLM": f"{sys.executable} -m harness", "TINY": "1",
           "MODELS": "fake-ok", "GGUF_BACKENDS": "fake", "PORT_BACKENDS": "",
           "SCORE_BACKEND": "", "PRECISIONS": "", "PROFILES": "host tiny",
           "QUALITY_TASKS": "mc_en", "PYTHON": sys.executable}
    out, site = tmp_path / "out", tmp_path / "site"
    r = subprocess.run(["bash", str(SCRIPT), str(out), str(site)], cwd=project, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    doc = json.loads((out / "leaderboard.json").read_text())
    assert {row["device"] for row in doc["rows"]} == {"host", "tiny"}
    assert all(row["quality"] for row in doc["rows"])  # quality ran once, on host
    assert (site / "index.html").is_file() and (site / "leaderboard.json").is_file()
    log = (out / "sitting.log").read_text()
    assert "0 step(s) failed" in log and "## host" in log and "## tiny" in log
    assert "fake-ok fake: decode" in log
    if shutil.which("chromium"):  # the page's screenshot, for the closing note
        assert (out / "leaderboard.png").stat().st_size > 10_000


def test_sitting_script_needs_two_paths():
    r = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True)
    assert r.returncode == 2 and "usage" in r.stderr
