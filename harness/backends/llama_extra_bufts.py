"""Whether llama.cpp's extra weight buffers (AMX tiles, repacked blocks) run on this CPU.

llama.cpp moves weights into "extra buffer types" by default: on a CPU that reports Intel
AMX (amx_int8 in /proc/cpuinfo) its AMX kernels compute every multi-token batch. Some
virtual machines report AMX without supporting it, and the first prompt of more than one
token then kills the process with a segmentation fault (seen on a 2-core Firecracker VM:
a one-token decode works, a five-token prompt crashes; with use_extra_bufts off it runs).

So on a CPU that reports AMX the harness checks once, in a child process, that a short
prompt decodes with extra buffers on; the answer is cached per llama-cpp-python version,
CPU flags and model file in <cache>/llama-extra-bufts.json. Elsewhere nothing is probed
and llama.cpp's default (on) stands. The option `extra_bufts` (auto | on | off) overrides
the probe; the backend records which was used and why.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

PROBE = r"""
import sys
from llama_cpp import llama_cpp as C
from llama_cpp._internals import LlamaContext, LlamaModel
C.llama_log_set(C.llama_log_callback(lambda *a: None), None)
C.llama_backend_init()
mp = C.llama_model_default_params()
mp.n_gpu_layers = 0
model = LlamaModel(path_model=sys.argv[1], params=mp, verbose=False)
cp = C.llama_context_default_params()
cp.n_ctx, cp.n_threads, cp.n_threads_batch = 64, 1, 1
ctx = LlamaContext(model=model, params=cp, verbose=False)
ids = (C.llama_token * 16)(*([1] * 16))
sys.exit(0 if C.llama_decode(ctx.ctx, C.llama_batch_get_one(ids, 16)) == 0 else 3)
"""
TIMEOUT_S = 120


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags as Linux reports them (empty elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[-1].split())
    return frozenset()


def _cache_file() -> Path:
    root = os.environ.get("SLLM_BENCH_CACHE") or Path.home() / ".cache" / "sllm-bench"
    return Path(root) / "llama-extra-bufts.json"


def _key(model_path: str, flags: frozenset[str]) -> str:
    from importlib.metadata import version

    st = os.stat(model_path)
    parts = [version("llama-cpp-python"), " ".join(sorted(flags)),
             os.path.realpath(model_path), str(st.st_size), str(int(st.st_mtime))]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


def decide(model_path: str, choice: str = "auto") -> tuple[bool, str]:
    """(use extra buffers?, why) for one model file (module docstring)."""
    if choice in ("on", "off"):
        return choice == "on", "set by the extra_bufts option"
    flags = cpu_flags()
    if not flags & {"amx_int8", "amx_tile"}:
        return True, "llama.cpp's default"
    key = _key(model_path, flags)
    cache = _cache_file()
    try:
        known = json.loads(cache.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        known = {}
    if not isinstance(known, dict):
        known = {}
    if key not in known:
        try:
            rc = subprocess.run([sys.executable, "-c", PROBE, model_path], timeout=TIMEOUT_S,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
        except subprocess.TimeoutExpired:
            rc = "timeout"
        known[key] = rc == 0
        _save(cache, known)
    if known[key]:
        return True, "llama.cpp's default (AMX probe passed)"
    return False, ("off: this CPU reports AMX but llama.cpp's AMX path crashed in a probe "
                   "(a virtual machine without AMX support?)")


def _save(path: Path, data: dict) -> None:
    """Best effort: a cache that cannot be written only means probing again next time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass


def reference_llama(model_path, **kwargs):
    """llama_cpp.Llama (a reference in tests and benchmarks) with the extra-buffer choice
    the harness's backend makes for the same file, so both run on this CPU."""
    import llama_cpp
    from llama_cpp import llama_cpp as C

    extra, _ = decide(str(model_path))
    original = C.llama_model_default_params

    def params():
        p = original()
        p.use_extra_bufts = extra
        return p

    C.llama_model_default_params = params
    try:
        return llama_cpp.Llama(str(model_path), **kwargs)
    finally:
        C.llama_model_default_params = original
