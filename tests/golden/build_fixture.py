"""Re-create the fixed fake-backend records under tests/golden/records/ (run once, by hand).

The golden-file test (tests/test_golden.py) reads these records and checks that every
consumer (printers, verdict, compare, leaderboard, report) still prints what it printed
when they were made. Re-running this script changes the records (timings differ), so the
expected outputs must then be regenerated too: SLLM_BENCH_UPDATE_GOLDEN=1 pytest
tests/test_golden.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
MODELS = """default: fake-ok
models:
  - id: fake-ok
    format: fake
    source: {kind: path, path: fake.bin}
    options: {decode_ms_per_token: DECODE}
"""
PROFILE = """name: fake-laptop
threads: 1
cores: 1
memory_budget_mb: 2048
budgets:
  - {metric: decode_tps, min: 1, prompt_tokens: 16}
  - {metric: ttft_ms, max: 10000, prompt_tokens: 16}
  - {metric: itl_p99_ms, max: 1000, prompt_tokens: 16}
  - {metric: peak_rss_mb, max: 2048}
  - {metric: determinism, min: 1}
  - {metric: rss_slope_mb_per_min, max: 1000}
  - {metric: acc, min: 0.01, task: mc_en}
"""


def cli(project: Path, *args: str) -> None:
    env = {**os.environ, "SLLM_BENCH_HOME": str(project), "SLLM_BENCH_TEST_BACKENDS": "1"}
    r = subprocess.run([sys.executable, "-m", "harness", *args], cwd=project, env=env,
                       capture_output=True, text=True)
    if r.returncode not in (0, 1):
        raise SystemExit(f"{args}: exit {r.returncode}\n{r.stderr}")


def main() -> None:
    out = HERE / "records"
    shutil.rmtree(out, ignore_errors=True)
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        (project / "fake.bin").write_bytes(b"fake model weights\n")
        (project / "devices").mkdir()
        (project / "devices" / "fake-laptop.yaml").write_text(PROFILE)
        (project / "devices" / "host.yaml").write_text("name: host\nthreads: 1\ncores: all\n")
        shutil.copytree(ROOT / "tasks", project / "tasks")
        for side, decode in (("base", 0.5), ("current", 2.0)):
            (project / "models.yaml").write_text(MODELS.replace("DECODE", str(decode)))
            cli(project, "run", "-b", "fake", "-p", "8,16", "-n", "8", "-r", "5",
                "--tasks", "mc_en,qa_en,prose_en", "--limit", "6", "--no-progress",
                "--out", str(project / side))
        (project / "models.yaml").write_text(MODELS.replace("DECODE", "0.5"))
        cli(project, "verify", "-d", "fake-laptop", "-b", "fake", "-r", "4", "--limit", "6",
            "--soak-seconds", "1", "--no-report", "--no-progress", "--out",
            str(project / "verify"))
        for side in ("base", "current", "verify"):
            (run_dir,) = (project / side).iterdir()
            shutil.copytree(run_dir, out / side, ignore=shutil.ignore_patterns("run.json"))
        shutil.copy(project / "devices" / "fake-laptop.yaml", out / "fake-laptop.yaml")


if __name__ == "__main__":
    main()
