"""Builds cached by content: <cache root>/builds/<source sha256[:16]>-<TYPE>[-imatrix<sha[:8]>]
-llama<llama-cpp-python version>.gguf (the root is the ONNX cache's: $SLLM_BENCH_CACHE or
~/.cache/sllm-bench). A build is written to a temporary name in the same folder and renamed
into place when complete (os.replace), so an interrupted or failed build leaves no half file.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def builds_dir() -> Path:
    """The folder of cached builds (under the ONNX cache's root)."""
    from harness.prepare import cache_root

    return cache_root() / "builds"


def llama_version() -> str:
    try:
        return importlib.metadata.version("llama-cpp-python")
    except importlib.metadata.PackageNotFoundError:
        return "none"


def build_path(source_sha256: str, type_name: str, imatrix_sha256: str | None = None) -> Path:
    """Where the build of `type_name` from the source (by sha256) is cached; a new
    llama-cpp-python (another quantizer) gets a new entry."""
    tag = f"-imatrix{imatrix_sha256[:8]}" if imatrix_sha256 else ""
    return builds_dir() / f"{source_sha256[:16]}-{type_name}{tag}-llama{llama_version()}.gguf"


@contextlib.contextmanager
def atomic_output(final: Path) -> Iterator[Path]:
    """A temporary path beside `final`, renamed onto it when the block ends without an
    exception; removed otherwise (KeyboardInterrupt included)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
