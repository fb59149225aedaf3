"""The file or folder a backend reads: the catalogue's GGUF, or its ONNX port (prepared on
first use and cached by content and precision).

Preparation is a function call (harness.prepare.prepare_onnx) made in a freshly spawned
process, so the conversion libraries (torch, transformers) and their memory never stay
in the harness's own process.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from harness.engine.resolve import ResolvedModel, folder_size
from harness.precision import AS_SUPPLIED


def artifact(model: ResolvedModel, backend: str, precision: str,
             log: Callable[[str], None]) -> tuple[Path, dict]:
    """(path the backend loads, the record's artifact description)."""
    from harness import backends as registry

    if registry.artifact_kind(backend) == "gguf":
        return model.path, {"kind": "gguf"}
    if model.spec.format == "onnx":
        return model.path, {"kind": "onnx", "precision": AS_SUPPLIED,
                            "path": str(model.path), "size_bytes": folder_size(model.path)}
    from harness import prepare
    from harness.models import check_onnx_folder

    precision = prepare.canonical_precision(precision)  # "int4" -> "int4-rtn"
    if not prepare.is_prepared(model.sha256, precision):
        log(f"preparing ONNX ({precision}) for {model.spec.id}: first use, "
            "this takes a minute or more and is cached")
        folder = _in_child(model.path, model.sha256, precision)
    else:
        folder = prepare.onnx_dir(model.sha256, precision)
    check_onnx_folder(folder)  # a damaged cache entry fails here, with its path
    return folder, {"kind": "onnx", "precision": precision, "recipe": prepare.recipe(precision),
                    "path": str(folder), "size_bytes": folder_size(folder)}


def _prepare(path: Path, sha256: str, precision: str) -> Path:
    from harness import prepare

    from harness.engine import log_stderr

    return prepare.prepare_onnx(path, sha256, precision, log=log_stderr)


def _in_child(path: Path, sha256: str, precision: str) -> Path:
    """prepare_onnx in a spawned process; its errors are raised here."""
    import multiprocessing

    pool = multiprocessing.get_context("spawn").Pool(1)
    try:
        folder = pool.apply(_prepare, (path, sha256, precision))
        # let the child exit on its own: terminated, it skips its finalizers and the
        # multiprocessing lock tqdm made in it (transformers' progress bar) is reported
        # as a leaked semaphore when the harness exits
        pool.close()
        pool.join()
        return folder
    finally:
        pool.terminate()
