"""Backend registry. Nothing here imports an inference library: `available()` only asks
whether the library could be imported.
"""

from __future__ import annotations

import importlib
import importlib.util
import os

from harness.errors import BackendUnavailable

# name -> (module, class, importable modules it needs, pip extra that installs them)
_REGISTRY: dict[str, tuple[str, str, tuple[str, ...], str]] = {
    "llama_cpp": ("harness.backends.llama_cpp", "LlamaCppBackend", ("llama_cpp",), "llama_cpp"),
    "onnxruntime": ("harness.backends.onnxruntime", "OnnxRuntimeBackend",
                    ("onnxruntime", "tokenizers"), "onnx"),
    "ort_genai": ("harness.backends.ort_genai", "OrtGenaiBackend", ("onnxruntime_genai",), "onnx"),
    "transformers": ("harness.backends.transformers", "TransformersBackend",
                     ("transformers", "torch", "gguf"), "transformers"),
}
#: the fake backend is for the test suite; it is listed only when this variable is set
TEST_BACKENDS_ENV = "SLLM_BENCH_TEST_BACKENDS"
_FAKE = ("harness.backends.fake", "FakeBackend", (), "test")

#: backends `run` uses when none are named (transformers is the reference: ask for it)
DEFAULT_BACKENDS = ("llama_cpp", "onnxruntime", "ort_genai")


def _registry() -> dict[str, tuple[str, str, tuple[str, ...], str]]:
    reg = dict(_REGISTRY)
    if os.environ.get(TEST_BACKENDS_ENV):
        reg["fake"] = _FAKE
    return reg


def names() -> list[str]:
    return list(_registry())


def missing_modules(name: str) -> list[str]:
    _, _, needs, _ = _lookup(name)
    return [m for m in needs if importlib.util.find_spec(m) is None]


def available(name: str) -> bool:
    return not missing_modules(name)


def _lookup(name: str):
    reg = _registry()
    if name not in reg:
        raise BackendUnavailable(f"unknown backend {name!r} (known: {', '.join(reg)})")
    return reg[name]


def backend_class(name: str):
    """Import and return the backend class; a missing library is a one-line error."""
    module, cls, _, extra = _lookup(name)
    missing = missing_modules(name)
    if missing:
        raise BackendUnavailable(f"backend {name!r} needs {', '.join(missing)}: "
                                 f"pip install 'sllm-bench[{extra}]'")
    return getattr(importlib.import_module(module), cls)


def artifact_kind(name: str) -> str:
    """"gguf" or "onnx", read from the class without importing its library."""
    module, cls, _, _ = _lookup(name)
    return getattr(importlib.import_module(module), cls).artifact
