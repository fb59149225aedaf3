"""Provenance recorded with every result: harness version and commit, runtimes, host."""

from __future__ import annotations

import platform
import subprocess
from functools import lru_cache
from pathlib import Path

import harness

RUNTIME_PACKAGES = ("llama-cpp-python", "onnxruntime", "onnxruntime-genai", "transformers",
                    "torch", "numpy", "tokenizers")


@lru_cache(maxsize=1)
def git_commit() -> str | None:
    """Commit of the harness source tree ("+dirty" when it has uncommitted changes)."""
    src = Path(harness.__file__).resolve().parent.parent
    try:
        sha = subprocess.run(["git", "-C", str(src), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(src), "status", "--porcelain",
                                "--untracked-files=no", "--", "harness"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def runtime_versions() -> dict[str, str | None]:
    """Installed versions of the runtime libraries, read without importing them."""
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in RUNTIME_PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def environment() -> dict:
    from harness.measure.host import fingerprint
    from harness.measure.oscompat import capabilities

    return {
        "harness_version": harness.__version__,
        "git_commit": git_commit(),
        "runtimes": runtime_versions(),
        "host": fingerprint(),
        # how this OS pins, measures peak memory and reads conditions, or "not measured:
        # <reason>" (harness/measure/oscompat.py)
        "platform": capabilities(),
    }
