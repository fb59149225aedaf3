"""Preparing models for backends that cannot read the catalogue's file directly.

onnx.py: GGUF -> ONNX for onnxruntime and ort_genai, cached by content (see its docstring).
gguf_blocks.py: GGUF quantized tensors as integer blocks; transcode.py: those blocks put
into the builder's ONNX graph unchanged (the default "gguf" precision).
The public calls are re-exported here; the engine calls prepare_onnx() directly (no
subprocess, no CLI).
"""

from harness.prepare.onnx import (ALIASES, CACHE_ENV, DEFAULT_PRECISION, PRECISIONS,
                                  cache_root, canonical_precision, is_prepared, onnx_dir,
                                  prepare_onnx, recipe)

__all__ = ["ALIASES", "CACHE_ENV", "DEFAULT_PRECISION", "PRECISIONS", "cache_root",
           "canonical_precision", "is_prepared", "onnx_dir", "prepare_onnx", "recipe"]
