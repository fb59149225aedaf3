"""An F16 or F32 GGUF from a quantized one: a full-precision file you can get offline.

Every 2-D weight is dequantized (harness.prepare.gguf_blocks: gguf-py's dequantize, exact)
and stored as F16 or F32; 1-D tensors (norms, biases) stay F32 as llama.cpp keeps them;
the metadata is copied (general.file_type set to the new type, and
sllm_bench.dequantized_from naming the source type). The values are the quantized source's:
its quality is the source's, not the original model's, and every table that uses it as a
reference says so ("reference: F16 dequantized from Q4_1"). What it tests is the mechanism.
"""

from __future__ import annotations

from pathlib import Path

#: metadata key naming the type a dequantized file came from
DEQUANTIZED_FROM = "sllm_bench.dequantized_from"
TYPES = {"F16": 1, "F32": 0}


def dequantized_from(path: Path) -> str | None:
    """The source type of a file this module wrote (None for any other file)."""
    from gguf import GGUFReader

    field = GGUFReader(str(path)).fields.get(DEQUANTIZED_FROM)
    return None if field is None else str(field.contents())


def dequantize(source: Path, out: Path, dtype: str = "F16", *, source_type: str = "?") -> None:
    """Write `source` dequantized to `out` (which the caller makes atomic)."""
    import gguf
    import numpy as np

    from harness.prepare.gguf_blocks import GGUFTensor

    if dtype not in TYPES:
        raise ValueError(f"dequantize to F16 or F32, not {dtype!r}")
    reader = gguf.GGUFReader(str(source))
    arch = reader.fields["general.architecture"].contents()
    writer = gguf.GGUFWriter(str(out), arch)
    for field in reader.fields.values():
        if field.name in ("general.architecture", "general.alignment", DEQUANTIZED_FROM) \
                or field.name.startswith("GGUF."):
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        value = TYPES[dtype] if field.name == "general.file_type" else field.contents()
        writer.add_key_value(field.name, value, vtype, sub_type=sub)
    if "general.file_type" not in reader.fields:
        writer.add_file_type(TYPES[dtype])
    writer.add_string(DEQUANTIZED_FROM, source_type)
    np_type = np.float16 if dtype == "F16" else np.float32
    for t in reader.tensors:
        shape = [int(x) for x in t.shape]
        if len(shape) >= 2:
            k, n = shape[0], int(np.prod(shape[1:]))
            w = GGUFTensor(t.name, t.tensor_type.name, n, k, np.asarray(t.data)).dequantize()
            w = w.reshape(*reversed(shape)).astype(np_type)
        else:
            w = np.asarray(t.data).reshape(*reversed(shape))
            if w.dtype != np.float32:
                w = GGUFTensor(t.name, t.tensor_type.name, 1, shape[0],
                               np.asarray(t.data)).dequantize().reshape(-1)
        writer.add_tensor(t.name, w)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
