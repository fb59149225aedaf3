"""Quantize a GGUF with llama.cpp's own quantizer: llama_model_quantize, the function
behind the llama-quantize tool, called through llama-cpp-python (no binary of ours, no
re-implementation). Parameters: llama_model_quantize_default_params() (what llama-quantize
starts from), ftype from the type name (LLAMA_FTYPE_MOSTLY_<TYPE>), allow_requantize, and an
importance matrix when given (llama.cpp's GGUF imatrix or its legacy .dat).

Sources: a full-precision GGUF (F32, F16, BF16); a Q8_0 source is accepted with a warning
(it is not a full-precision reference); any other quantized source only with
allow_requantize (quantizing a quantized file compounds the errors).
"""

from __future__ import annotations

import ctypes
from pathlib import Path

from harness.errors import BenchError, ModelError

#: llama_ftype values of full-precision files, by name
FULL_PRECISION = {0: "F32", 1: "F16", 32: "BF16"}
Q8_0 = 7


class BuildFailed(BenchError):
    """The quantizer or a write failed on good input (a full disk, ...): exit code 1."""

    exit_code = 1


def ftypes() -> dict[str, int]:
    """Type name (Q8_0, Q4_K_M, IQ4_NL, F16, ...) -> llama_ftype, from llama-cpp-python's
    LLAMA_FTYPE_* constants."""
    from llama_cpp import llama_cpp as C

    out = {"F32": C.LLAMA_FTYPE_ALL_F32}
    prefix = "LLAMA_FTYPE_MOSTLY_"
    out.update({k[len(prefix):]: getattr(C, k) for k in dir(C) if k.startswith(prefix)})
    return out


def type_name(ftype: int | None) -> str:
    """The name of a llama_ftype value ('?' when unknown or absent)."""
    if ftype is None:
        return "?"
    return next((k for k, v in ftypes().items() if v == ftype), f"ftype {ftype}")


def check_type(name: str) -> int:
    """The llama_ftype of a type name; BenchError naming the known ones otherwise."""
    known = ftypes()
    if name.upper() not in known:
        raise BenchError(f"--quant: unknown type {name!r} (known: {', '.join(sorted(known))})")
    return known[name.upper()]


def file_type(path: Path) -> int | None:
    """general.file_type of a GGUF file (a llama_ftype), None when the file has none."""
    from gguf import GGUFReader

    try:
        reader = GGUFReader(str(path))
    except Exception as e:  # not a GGUF file, truncated
        raise ModelError(f"not a readable GGUF file ({type(e).__name__}: {e})", path=path) from None
    field = reader.fields.get("general.file_type")
    return None if field is None else int(field.parts[field.data[0]][0])


def check_source(path: Path, allow_requantize: bool) -> tuple[int | None, str | None]:
    """(the source's llama_ftype, a warning or None); BenchError for a quantized source
    without allow_requantize."""
    ft = file_type(path)
    if ft in FULL_PRECISION:
        return ft, None
    if ft == Q8_0:
        return ft, (f"{path.name} is Q8_0, not a full-precision reference: every build and "
                    "KL is relative to it")
    if not allow_requantize:
        raise BenchError(f"the source is already quantized ({type_name(ft)}); builds start "
                         "from a full-precision GGUF (F32, F16, BF16). Make one with "
                         "--dequantize, or pass --allow-requantize", path=path)
    return ft, f"{path.name} is {type_name(ft)}: builds re-quantize a quantized file"


def load_imatrix(path: Path) -> dict[str, list[float]]:
    """An importance matrix: tensor name -> mean squared activation per input column, as
    llama-quantize reads it (GGUF: <name>.in_sum2 / <name>.counts; legacy .dat: the sums
    divided by the call count)."""
    import numpy as np

    data = path.read_bytes()[:4] if path.is_file() else b""
    if not data:
        raise BenchError("imatrix file not found or empty", path=path)
    if data == b"GGUF":
        from gguf import GGUFReader

        tensors = {t.name: np.asarray(t.data, dtype=np.float32).reshape(-1)
                   for t in GGUFReader(str(path)).tensors}
        out = {}
        for name, sums in tensors.items():
            if name.endswith(".in_sum2") and name[:-8] + ".counts" in tensors:
                counts = tensors[name[:-8] + ".counts"]
                per = sums.reshape(len(counts), -1)
                vals = np.where(counts[:, None] > 0, per / np.maximum(counts, 1)[:, None], 1.0)
                out[name[:-8]] = vals.reshape(-1).astype(np.float32).tolist()
        return out
    return _legacy_imatrix(path)


def _legacy_imatrix(path: Path) -> dict[str, list[float]]:
    import struct

    raw = path.read_bytes()
    out, pos = {}, 0
    try:
        (n,) = struct.unpack_from("<i", raw, pos)
        pos += 4
        for _ in range(n):
            (ln,) = struct.unpack_from("<i", raw, pos)
            name = raw[pos + 4:pos + 4 + ln].decode()
            pos += 4 + ln
            ncall, nval = struct.unpack_from("<ii", raw, pos)
            pos += 8
            vals = struct.unpack_from(f"<{nval}f", raw, pos)
            pos += 4 * nval
            out[name] = [v / ncall for v in vals] if ncall > 0 else list(vals)
    except (struct.error, UnicodeDecodeError, MemoryError):
        raise BenchError("not an importance matrix (GGUF imatrix or legacy .dat)",
                         path=path) from None
    return out


def check_imatrix(imatrix: dict[str, list[float]], source: Path, where: Path) -> None:
    """The matrix must be this model's: its names among the model's weights, each with one
    value per input column (a multiple for expert tensors)."""
    from harness.prepare.gguf_blocks import read_gguf

    _, tensors = read_gguf(source)
    common = [n for n in imatrix if n in tensors]
    if not common:
        raise BenchError("the importance matrix names none of this model's weights (made "
                         "for another model?)", path=where)
    for name in common:
        k, size = tensors[name].k, len(imatrix[name])
        if size == 0 or size % k:
            raise BenchError(f"the importance matrix has {size} values for {name}, which "
                             f"has {k} columns (made for another model?)", path=where)


def quantize(source: Path, out: Path, type_name_: str, *, allow_requantize: bool = False,
             imatrix: dict[str, list[float]] | None = None, threads: int = 0) -> None:
    """llama_model_quantize(source -> out) at `type_name_`; BuildFailed with llama.cpp's own
    error line when it returns non-zero (out may then hold a partial file: the caller
    writes to a temporary name)."""
    from llama_cpp import llama_cpp as C

    params = C.llama_model_quantize_default_params()
    params.ftype = check_type(type_name_)
    params.nthread = threads
    params.allow_requantize = allow_requantize
    keep = []
    if imatrix:
        entries = (C.llama_model_imatrix_data * (len(imatrix) + 1))()  # zeroed terminator
        for i, (name, vals) in enumerate(sorted(imatrix.items())):
            arr = (ctypes.c_float * len(vals))(*vals)
            key = name.encode()
            keep += [arr, key]
            entries[i].name, entries[i].size = key, len(vals)
            entries[i].data = ctypes.cast(arr, ctypes.POINTER(ctypes.c_float))
        keep.append(entries)
        params.imatrix = ctypes.cast(entries, ctypes.POINTER(C.llama_model_imatrix_data))
    lines: list[str] = []

    @C.llama_log_callback
    def collect(level, text, user_data):  # llama.cpp's log, kept for the error message
        lines.append(text.decode("utf-8", "replace"))

    C.llama_log_set(collect, ctypes.c_void_p(0))
    try:
        rc = C.llama_model_quantize(str(source).encode(), str(out).encode(),
                                    ctypes.byref(params))
    finally:
        from llama_cpp import _logger

        C.llama_log_set(_logger.llama_log_callback, ctypes.c_void_p(0))
    if rc != 0:
        text = "".join(lines)
        errors = [ln.strip() for ln in text.splitlines() if "error" in ln.lower()
                  or "failed" in ln.lower()]
        raise BuildFailed(f"llama_model_quantize failed for {type_name_}: "
                          f"{errors[-1] if errors else 'return code ' + str(rc)}", path=source)
