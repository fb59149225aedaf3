"""Preparing models for backends that cannot read the catalogue's file directly.

onnx.py: GGUF -> ONNX for onnxruntime and ort_genai, cached by content (see its docstring).
The public calls are re-exported here; the engine calls prepare_onnx() directly (no
subprocess, no CLI).
"""

from harness.prepare.onnx import (CACHE_ENV, PRECISIONS, cache_root, is_prepared, onnx_dir,
                                  prepare_onnx)

__all__ = ["CACHE_ENV", "PRECISIONS", "cache_root", "is_prepared", "onnx_dir", "prepare_onnx"]
