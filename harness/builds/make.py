"""Making the builds: the reference's checks, the quantizations (cached, atomic), the ONNX
ports of one of them (harness.prepare), and the F16/F32 reference dequantized from a
quantized file. The library calls are harness.api's (dequantize_model, make_builds).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from harness.errors import BenchError
from harness.precision import DEFAULT as DEFAULT_PRECISION

Log = Callable[[str], None]


@dataclass
class Build:
    """One build to measure: a GGUF file through llama_cpp, or an ONNX port of one
    (backend onnxruntime at `precision`); `reference` for the full-precision source."""

    name: str
    path: Path | None
    backend: str = "llama_cpp"
    precision: str = DEFAULT_PRECISION
    size_bytes: int = 0
    reference: bool = False
    #: what a RunRequest names (a catalogue id when the build is one); default the path
    model_name: str | None = None

    @property
    def model(self) -> str:
        return self.model_name or str(self.path)


@dataclass
class BuildSet:
    reference: Build
    builds: list[Build]
    #: "F16 (model.gguf)", or "F16 dequantized from Q4_1 (model.gguf)"
    reference_label: str
    warnings: list[str]


def builds_source(model: str, models_file: str | None = None) -> tuple[Path, str]:
    """(path, sha256) of a catalogue id or a .gguf path, checked like any model."""
    from harness.engine import resolve
    from harness.models import resolve as resolve_file

    cat, cat_path = resolve.catalogue(models_file)
    spec = resolve.model_spec(cat, model)
    if spec.format != "gguf":
        raise BenchError(f"model {spec.id!r} is {spec.format}; builds start from a GGUF file")
    return resolve_file(spec, cat_path.parent)


def catalogue_builds(model: str, models_file: str | None = None):
    """The catalogue entry's `builds` (harness.specs.BuildsSpec), or None (a path, or an
    entry without them)."""
    from harness.engine import resolve

    cat, _ = resolve.catalogue(models_file)
    try:
        return cat.get(model).builds
    except KeyError:
        return None


def dequantize_model(model: str, dtype: str = "F16", *, models_file: str | None = None,
                     log: Log = lambda msg: None) -> Path:
    """An F16/F32 GGUF dequantized from a quantized one (harness.builds.dequantize), cached
    by the source's sha256; returns its path."""
    from harness.builds import cache, dequantize, quantize

    path, digest = builds_source(model, models_file)
    final = cache.builds_dir() / f"{digest[:16]}-{dtype}-dequantized.gguf"
    if final.is_file():
        log(f"builds: {final} (cached)")
        return final
    source_type = quantize.type_name(quantize.file_type(path))
    log(f"builds: dequantizing {path.name} ({source_type}) to {dtype}")
    try:
        with cache.atomic_output(final) as tmp:
            dequantize.dequantize(path, tmp, dtype, source_type=source_type)
    except OSError as e:
        raise quantize.BuildFailed(f"cannot write the {dtype} file: {e.strerror or e}",
                                   path=final.parent) from None
    return final


def reference_label(path: Path) -> str:
    """How tables name the reference: its type, and its origin when it was dequantized."""
    from harness.builds import dequantize, quantize

    kind = quantize.type_name(quantize.file_type(path))
    origin = dequantize.dequantized_from(path)
    return f"{kind} dequantized from {origin} ({path.name})" if origin else f"{kind} ({path.name})"


def make_builds(model: str, quants: Iterable[str], *, onnx: Iterable[str] = (),
                onnx_of: str | None = None, imatrix: str | None = None,
                allow_requantize: bool = False, models_file: str | None = None,
                log: Log = lambda msg: None, on_build: Callable[[str], None] | None = None) -> BuildSet:
    """Every quantization of `quants` from the full-precision GGUF `model` with llama.cpp's
    quantizer, and the ONNX ports (`onnx` precisions) of the build `onnx_of` (default
    Q4_K_M when built, else the first), all cached by content. Inputs are checked first:
    an unknown type, a quantized source without allow_requantize, an imatrix for another
    model are BenchErrors before anything is written."""
    from harness import prepare as prep
    from harness.builds import cache, quantize
    from harness.models import sha256_file

    quants = [q.upper() for q in quants]
    for q in quants:
        quantize.check_type(q)
    onnx = [prep.canonical_precision(p) for p in onnx]
    path, digest = builds_source(model, models_file)
    ftype, warning = quantize.check_source(path, allow_requantize)
    warnings = [warning] if warning else []
    matrix, imatrix_sha = None, None
    if imatrix:
        imatrix_path = Path(imatrix)
        matrix = quantize.load_imatrix(imatrix_path)
        quantize.check_imatrix(matrix, path, imatrix_path)
        imatrix_sha = sha256_file(imatrix_path)
    port_of = (onnx_of or ("Q4_K_M" if "Q4_K_M" in quants else quants[0] if quants else "")).upper()
    if onnx and port_of not in quants:
        raise BenchError(f"--onnx-of: {port_of or 'a build'} is not among --quant")
    ref = Build(quantize.type_name(ftype) + " (reference)", path,
                size_bytes=path.stat().st_size, reference=True)
    out: list[Build] = []
    for i, q in enumerate(quants):
        final = cache.build_path(digest, q, imatrix_sha)
        if final.is_file():
            log(f"builds: [{i + 1}/{len(quants)}] {q}: {final} (cached)")
        else:
            log(f"builds: [{i + 1}/{len(quants)}] {q}: quantizing with llama_model_quantize")
            try:
                with cache.atomic_output(final) as tmp:
                    quantize.quantize(path, tmp, q, allow_requantize=allow_requantize
                                      or ftype == quantize.Q8_0, imatrix=matrix)
            except OSError as e:  # the cache folder cannot be written
                raise quantize.BuildFailed(f"cannot write the {q} build: {e.strerror or e}",
                                           path=final.parent) from None
        out.append(Build(q, final, size_bytes=final.stat().st_size))
        if on_build:  # one build done (a progress bar's step)
            on_build(q)
        if q == port_of:
            for p in onnx:
                folder = prep.prepare_onnx(final, sha256_file(final), p, log=log)
                size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
                out.append(Build(f"{q} ONNX {p}", final, "onnxruntime", p, size))
    return BuildSet(ref, out, reference_label(path), warnings)
