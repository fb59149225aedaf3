"""GGUF -> ONNX for the onnxruntime and ort_genai backends, cached by content.

Steps: transformers loads the GGUF file and dequantizes it (AutoModelForCausalLM and
AutoTokenizer with gguf_file=...), saves a float32 safetensors folder, and the
onnxruntime-genai model builder (its Python API) turns that folder into model.onnx
(+ model.onnx.data), genai_config.json and tokenizer files for the CPU execution
provider. The builder's direct GGUF input takes only fp16/fp32 GGUF, hence the detour
through transformers. Precisions (recipes):

  gguf      the default: the builder's int4 graph with every weight replaced by the GGUF's
            own quantized blocks, not re-quantized (harness/prepare/transcode.py); the
            per-tensor report (exact or dequantized) goes to prepared.json. Activations at
            MatMulNBits accuracy_level GGUF_ACCURACY_LEVEL.
  int4-rtn  the builder's own recipe: the dequantized weights re-quantized (RTN,
            symmetric int4, block 32, accuracy_level 4 = int8 activations); a different
            model from the GGUF's. "int4" is accepted as its old name.
  fp32      the dequantized weights in float32.

Cache: <root>/onnx/<sha256[:16]>-<recipe>-genai<version>/, root = $SLLM_BENCH_CACHE or
~/.cache/sllm-bench. A build goes to a temporary sibling folder that is renamed into place
when complete, so a crash never leaves a half-built entry. prepared.json in the folder
records the GGUF sha256, the precision, the library versions and the build time; the
builder's console output is kept in build.log (and next to the cache entry on failure).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from harness.errors import BackendUnavailable, ModelError
from harness.precision import ALIASES, NAMES, Precision, canonical  # noqa: F401 (ALIASES)
from harness.precision import DEFAULT as DEFAULT_PRECISION

PRECISIONS = NAMES  # the recipes (harness/precision.py); ALIASES: old names still accepted
#: MatMulNBits accuracy_level of the gguf recipe (0: float32 activations, 4: int8
#: activations per block, as llama.cpp's q8_0/q8_1 dot products); chosen by parity
#: figures, see docs/faithful-port.md. Part of the cache key.
GGUF_ACCURACY_LEVEL = 0
CACHE_ENV = "SLLM_BENCH_CACHE"
PREPARED_JSON = "prepared.json"
BUILD_LOG = "build.log"
#: extra options for the model builder: none, i.e. its default int4 recipe for CPU (RTN,
#: symmetric, block 32, accuracy_level 4 = int8 activations). Changing them must change
#: the cache key too, or old entries would be taken for new ones.
BUILDER_OPTIONS: dict[str, str] = {}
#: importable modules the conversion needs (pip install 'sllm-bench[onnx]')
_NEEDS = ("transformers", "torch", "accelerate", "gguf", "onnx", "onnx_ir", "onnxruntime",
          "onnxruntime_genai")


def cache_root() -> Path:
    """$SLLM_BENCH_CACHE, else ~/.cache/sllm-bench."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "sllm-bench"


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def canonical_precision(precision: str) -> str:
    """The recipe name for a precision or its alias; ModelError for unknown ones."""
    name = canonical(precision)
    if name is None:
        raise ModelError(f"unknown ONNX precision {precision!r} (choose from {', '.join(PRECISIONS)})")
    return name


def recipe(precision: str) -> str:
    """The cache-key form of a precision: its name, plus the accuracy level for gguf."""
    precision = canonical_precision(precision)
    # "-q8acc4": 8-bit weights always run at accuracy_level 4 (transcode.node_accuracy_level)
    return f"gguf-acc{GGUF_ACCURACY_LEVEL}-q8acc4" if precision == Precision.GGUF else precision


def onnx_dir(sha256: str, precision: str) -> Path:
    """The cache folder of one GGUF file (by sha256) at one precision, for the installed
    onnxruntime-genai version (a new builder version gets a new entry)."""
    key = recipe(precision)
    if not re.fullmatch(r"[0-9a-fA-F]{16,64}", sha256 or ""):
        raise ModelError(f"not a sha256 digest: {sha256!r}")
    genai = _version("onnxruntime-genai")
    if genai is None:
        raise BackendUnavailable("ONNX models need onnxruntime-genai: pip install 'sllm-bench[onnx]'")
    return cache_root() / "onnx" / f"{sha256[:16].lower()}-{key}-genai{genai}"


def is_prepared(sha256: str, precision: str) -> bool:
    """True when the cache entry is complete (it has prepared.json and genai_config.json)."""
    folder = onnx_dir(sha256, precision)
    return (folder / PREPARED_JSON).is_file() and (folder / "genai_config.json").is_file()


def prepare_onnx(gguf_path: Path, sha256: str, precision: str, *,
                 log: Callable[[str], None] = lambda msg: None) -> Path:
    """Return the ONNX folder for this GGUF file and precision, building it if missing.

    Raises ModelError on a bad precision or digest, a missing file or a failed
    conversion, BackendUnavailable when a conversion library is not installed."""
    precision = canonical_precision(precision)
    final = onnx_dir(sha256, precision)
    if is_prepared(sha256, precision):
        return final
    gguf_path = Path(gguf_path)
    if not gguf_path.is_file():
        raise ModelError("GGUF file not found", path=gguf_path)
    missing = [m for m in _NEEDS if importlib.util.find_spec(m) is None]
    if missing:
        raise BackendUnavailable(f"preparing ONNX needs {', '.join(missing)}: "
                                 "pip install 'sllm-bench[onnx]'")
    final.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    try:
        out = work / "onnx"
        out.mkdir()
        build_log = out / BUILD_LOG
        started = time.time()
        try:
            log(f"prepare: dequantizing {gguf_path.name} with transformers")
            with _captured(build_log):
                _gguf_to_safetensors(gguf_path, work / "hf")
            log(f"prepare: building {precision} ONNX with the onnxruntime-genai model builder")
            with _captured(build_log):
                _build_onnx(work / "hf", out, "fp32" if precision == Precision.FP32 else "int4",
                            work / "builder-cache")
            if precision == Precision.GGUF:
                from harness.prepare.transcode import transcode

                log("prepare: replacing the builder's weights with the GGUF's own blocks")
                with _captured(build_log):
                    tensors = transcode(out, gguf_path, accuracy_level=GGUF_ACCURACY_LEVEL)
        except Exception as e:  # any library failure becomes one line, with the log kept
            kept = final.parent / f"{final.name}.failed.log"
            if build_log.is_file():
                shutil.copyfile(build_log, kept)
            raise ModelError(f"cannot convert {gguf_path.name} to ONNX {precision}: "
                             f"{type(e).__name__}: {_first_line(e)} (log: {kept})") from None
        _write_prepared(out, sha256, precision, gguf_path, time.time() - started,
                        tensors if precision == Precision.GGUF else None)
        try:
            _follow_umask(out)  # onnx writes model.onnx.data 0600; its neighbours 0644
            os.rename(out, final)
        except OSError:
            if not is_prepared(sha256, precision):  # not a concurrent build that won the race
                raise
        (final.parent / f"{final.name}.failed.log").unlink(missing_ok=True)
        log(f"prepare: {final} ({time.time() - started:.0f} s)")
        return final
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else "(no message)"


def _gguf_to_safetensors(gguf_path: Path, out: Path) -> None:
    """Dequantize the GGUF file to a float32 transformers checkpoint in `out`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    folder, name = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(
        folder, gguf_file=name, dtype=torch.float32,
        quantization_config=GgufConfig(dequantize=True))  # plain tensors: serializable
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    del model


def _build_onnx(hf_dir: Path, out: Path, precision: str, cache_dir: Path) -> None:
    """Run the onnxruntime-genai model builder on a transformers folder (CPU provider)."""
    from onnxruntime_genai.models import builder

    args = (None, str(hf_dir), str(out), precision, "cpu", str(cache_dir))
    options = builder.parse_extra_options(*args, [f"{k}={v}" for k, v in BUILDER_OPTIONS.items()])
    flatten_layered_rope(options["hf_details"]["hf_config"])
    builder.create_model(*args, **options)


def flatten_layered_rope(config) -> None:
    """Gemma 3 configs from transformers 5 keep RoPE per layer type
    ({"full_attention": {...}, "sliding_attention": {...}}); this builder's Gemma 3 reads
    the older flat form (rope_theta, rope_local_base_freq), so give it that."""
    rope = getattr(config, "rope_parameters", None)
    if not (isinstance(rope, dict) and "rope_type" not in rope and "full_attention" in rope):
        return
    config.rope_theta = rope["full_attention"]["rope_theta"]
    if "sliding_attention" in rope:
        config.rope_local_base_freq = rope["sliding_attention"]["rope_theta"]
    config.rope_parameters = dict(rope["full_attention"])


def _write_prepared(out: Path, sha256: str, precision: str, gguf_path: Path,
                    seconds: float, tensors: list[dict] | None) -> None:
    record = {
        "gguf_sha256": sha256.lower(),
        "gguf_file": gguf_path.name,
        "precision": precision,
        "recipe": recipe(precision),
        "execution_provider": "cpu",
        "builder_options": BUILDER_OPTIONS,
        "versions": {d: _version(d) for d in ("transformers", "onnxruntime-genai", "torch",
                                              "onnxruntime")},
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "build_seconds": round(seconds, 1),
    }
    if tensors is not None:
        record["accuracy_level"] = GGUF_ACCURACY_LEVEL
        record["tensors_exact"] = sum(t["how"] == "exact" for t in tensors)
        record["tensors_dequantized"] = sum(t["how"] != "exact" for t in tensors)
        record["tensors"] = tensors
    (out / PREPARED_JSON).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


@contextlib.contextmanager
def _captured(log_file: Path) -> Iterator[None]:
    """Send stdout/stderr (Python and native) to log_file, and undo any root-logger
    handlers the libraries install meanwhile (onnxruntime's quantizer calls basicConfig)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log_file, "ab") as f:
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
        try:
            with contextlib.redirect_stdout(sys.__stdout__), contextlib.redirect_stderr(sys.__stderr__):
                yield
        finally:
            for stream in (sys.__stdout__, sys.__stderr__):
                if stream is not None:
                    stream.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            root.handlers[:] = handlers
            root.setLevel(level)


def _follow_umask(folder: Path) -> None:
    """Give every file of a prepared folder the mode the umask gives new files."""
    from harness.records.files import current_umask

    mode = 0o666 & ~current_umask()
    for f in Path(folder).rglob("*"):
        if f.is_file():
            os.chmod(f, mode)
