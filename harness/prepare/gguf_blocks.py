"""GGUF quantized tensors as integer blocks, without re-quantization.

Every supported GGML type is written as one "block form" (BlockForm): for a weight
matrix W of N rows (output features) and K columns (input features, the axis GGML blocks
run along),

    W[n, k] = scale[n, b] * (q[n, k] - zero[n, b]) + offset[n, b],   b = k // block

with q and zero unsigned integers of `bits` bits, scale and offset float32 (offset absent
= 0). The forms, each exact (the float32 products d*sc below are exact: an fp16 times an
integer of at most 8 bits fits float32's 24-bit mantissa), and bit-for-bit equal to
gguf.quants.dequantize:

    Q4_0  w = d (q - 8)                  bits 4, block 32, zero 8
    Q4_1  w = d q + m                    bits 4, block 32, zero 0, offset m
    Q8_0  w = d q, q int8                bits 8, block 32, q + 128, zero 128
    Q5_0  w = d (q - 16)                 bits 8 (q < 32), block 32, zero 16
    Q5_1  w = d q + m                    bits 8 (q < 32), block 32, zero 0, offset m
    Q4_K  w = (d sc) q - (dmin mn)       bits 4, block 32 (8 per 256), zero 0, offset
    Q5_K  w = (d sc) q - (dmin mn)       bits 8 (q < 32), block 32, zero 0, offset
    Q6_K  w = (d sc) (q - 32)            bits 8 (q < 64), block 16, zero 32

Other types (F32, F16, BF16, Q2_K, Q3_K, ...) are not block forms here; the
caller dequantizes them (gguf.quants.dequantize) and says so in its report.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: GGML type name -> (bits, block) of the block form it becomes
EXACT_TYPES = {"Q4_0": (4, 32), "Q4_1": (4, 32), "Q8_0": (8, 32), "Q5_0": (8, 32),
               "Q5_1": (8, 32), "Q4_K": (4, 32),
               "Q5_K": (8, 32), "Q6_K": (8, 16)}


@dataclass
class BlockForm:
    """W = scale * (q - zero) + offset, per block of `block` columns (module docstring).
    q: uint8 [N, K]; scale float32 [N, K/block]; zero uint8 [N, K/block];
    offset float32 [N, K/block] or None."""

    bits: int
    block: int
    q: np.ndarray
    scale: np.ndarray
    zero: np.ndarray
    offset: np.ndarray | None
    ggml_type: str

    @property
    def shape(self) -> tuple[int, int]:
        return self.q.shape

    def dequantize(self) -> np.ndarray:
        """float32 [N, K], evaluated in the same order as gguf.quants.dequantize."""
        n, k = self.q.shape
        q = self.q.reshape(n, k // self.block, self.block).astype(np.float32)
        w = self.scale[..., None] * (q - self.zero[..., None].astype(np.float32))
        if self.offset is not None:
            w = w + self.offset[..., None]
        return w.reshape(n, k).astype(np.float32)

    def take_rows(self, rows: np.ndarray) -> "BlockForm":
        """The same form with its rows reordered (a row permutation is exact)."""
        return BlockForm(self.bits, self.block, self.q[rows], self.scale[rows],
                         self.zero[rows], None if self.offset is None else self.offset[rows],
                         self.ggml_type)


def widen(form: BlockForm, bits: int, block: int) -> BlockForm:
    """The same values with more bits (q and zero unchanged: they fit) and/or smaller
    blocks (each block's scale, zero and offset repeated): exact."""
    if bits < form.bits or block > form.block or form.block % block:
        raise ValueError(f"cannot widen {form.bits}-bit/{form.block} to {bits}-bit/{block}")
    r = form.block // block
    rep = (lambda a: a if a is None or r == 1 else np.repeat(a, r, axis=1))
    return BlockForm(bits, block, form.q, rep(form.scale), rep(form.zero), rep(form.offset),
                     form.ggml_type)


def concat_rows(forms: list[BlockForm]) -> BlockForm:
    """Stack forms along N (fused q/k/v or gate/up weights), first widened to the most bits
    and the smallest block among them; a missing offset becomes 0 when others have one."""
    bits, block = max(f.bits for f in forms), min(f.block for f in forms)
    forms = [widen(f, bits, block) for f in forms]
    offsets = None
    if any(f.offset is not None for f in forms):
        offsets = np.concatenate([f.offset if f.offset is not None
                                  else np.zeros_like(f.scale) for f in forms])
    types = sorted({f.ggml_type for f in forms})
    return BlockForm(bits, block, np.concatenate([f.q for f in forms]),
                     np.concatenate([f.scale for f in forms]),
                     np.concatenate([f.zero for f in forms]), offsets, "+".join(types))


def _f16(raw: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(raw).view(np.float16).astype(np.float32)[..., 0]


def _nibbles(qs: np.ndarray, width: int) -> np.ndarray:
    """GGML 4-bit layout: byte j of a group of `width` bytes holds element j (low nibble)
    and element j + width (high nibble)."""
    lo, hi = qs & 0x0F, qs >> 4
    return np.concatenate([lo.reshape(*qs.shape[:-1], -1, width),
                           hi.reshape(*qs.shape[:-1], -1, width)], axis=-1)


def block_form(ggml_type: str, raw: np.ndarray, n: int, k: int) -> BlockForm:
    """The block form of one quantized tensor: raw = its bytes, uint8 [n, bytes per row]
    (gguf's ReaderTensor.data), n rows of k values. ValueError for other types."""
    raw = np.ascontiguousarray(raw, dtype=np.uint8).reshape(n, -1)
    if ggml_type in ("Q4_0", "Q4_1", "Q8_0"):
        head = 4 if ggml_type == "Q4_1" else 2
        b = raw.reshape(n, k // 32, -1)
        d = _f16(b[..., 0:2])
        if ggml_type == "Q8_0":
            q = (b[..., 2:].view(np.int8).astype(np.int16) + 128).astype(np.uint8)
            zero = np.full(d.shape, 128, np.uint8)
            return BlockForm(8, 32, q.reshape(n, k), d, zero, None, ggml_type)
        q = _nibbles(b[..., head:], 16).reshape(n, k)
        if ggml_type == "Q4_0":
            return BlockForm(4, 32, q, d, np.full(d.shape, 8, np.uint8), None, ggml_type)
        return BlockForm(4, 32, q, d, np.zeros(d.shape, np.uint8), _f16(b[..., 2:4]), ggml_type)
    if ggml_type in ("Q5_0", "Q5_1"):
        head = 4 if ggml_type == "Q5_1" else 2
        b = raw.reshape(n, k // 32, -1)
        d = _f16(b[..., 0:2])
        qh = np.ascontiguousarray(b[..., head:head + 4]).view(np.uint32)   # [n, kb, 1]
        high = ((qh >> np.arange(32, dtype=np.uint32)) & 1).astype(np.uint8)
        q = (_nibbles(b[..., head + 4:], 16).reshape(n, k // 32, 32) | (high << 4)).reshape(n, k)
        if ggml_type == "Q5_0":
            return BlockForm(8, 32, q, d, np.full(d.shape, 16, np.uint8), None, ggml_type)
        return BlockForm(8, 32, q, d, np.zeros(d.shape, np.uint8), _f16(b[..., 2:4]), ggml_type)
    if ggml_type in ("Q4_K", "Q5_K"):
        from gguf.quants import Q4_K

        b = raw.reshape(n * (k // 256), -1)
        d, dmin = _f16(b[:, 0:2]), _f16(b[:, 2:4])
        sc, mn = Q4_K.get_scale_min(b[:, 4:16])
        scale = (d[:, None] * sc.astype(np.float32)).reshape(n, k // 32)
        offset = -(dmin[:, None] * mn.astype(np.float32)).reshape(n, k // 32)
        zero = np.zeros(scale.shape, np.uint8)
        if ggml_type == "Q4_K":
            q = _nibbles(b[:, 16:].reshape(-1, 4, 32), 32).reshape(n, k)
            return BlockForm(4, 32, q, scale, zero, offset, ggml_type)
        qh, qs = b[:, 16:48], b[:, 48:]
        ql = _nibbles(qs.reshape(-1, 4, 32), 32).reshape(-1, 8, 32)
        high = (qh[:, None, :] >> np.arange(8, dtype=np.uint8)[None, :, None]) & 1
        q = (ql | (high << 4)).astype(np.uint8).reshape(n, k)
        return BlockForm(8, 32, q, scale, zero, offset, ggml_type)
    if ggml_type == "Q6_K":
        b = raw.reshape(n * (k // 256), -1)
        ql, qh, sc, d = b[:, :128], b[:, 128:192], b[:, 192:208], _f16(b[:, 208:210])
        lo = _nibbles(ql.reshape(-1, 2, 64), 64).reshape(-1, 2, 4, 32)   # [.., half, 4, 32]
        hi = (qh.reshape(-1, 2, 1, 32) >> np.array([0, 2, 4, 6], np.uint8)[None, None, :, None]) & 3
        q = (lo | (hi << 4)).astype(np.uint8).reshape(n, k)
        scale = (d[:, None] * sc.view(np.int8).astype(np.float32)).reshape(n, k // 16)
        return BlockForm(8, 16, q, scale, np.full(scale.shape, 32, np.uint8), None, ggml_type)
    raise ValueError(f"no exact block form for GGML type {ggml_type}")


@dataclass
class GGUFTensor:
    """One weight of the file: its GGML type, N x K shape and raw bytes."""

    name: str
    ggml_type: str
    n: int
    k: int
    raw: np.ndarray

    @property
    def exact(self) -> bool:
        return self.ggml_type in EXACT_TYPES

    def form(self) -> BlockForm:
        return block_form(self.ggml_type, self.raw, self.n, self.k)

    def dequantize(self) -> np.ndarray:
        """float32 [N, K] (gguf.quants.dequantize; any type gguf knows)."""
        from gguf import GGMLQuantizationType
        from gguf.quants import dequantize

        out = dequantize(self.raw, GGMLQuantizationType[self.ggml_type])
        return np.asarray(out, dtype=np.float32).reshape(self.n, self.k)


def read_gguf(path: str | Path) -> tuple[dict, dict[str, GGUFTensor]]:
    """(metadata {key: value} for scalar and string fields, {tensor name: GGUFTensor}) of
    a GGUF file; only 2-D tensors (the weights) are listed."""
    from gguf import GGUFReader

    reader = GGUFReader(str(path))
    meta = {}
    for name, field in reader.fields.items():
        if len(field.types) == 1 and field.data:
            value = field.parts[field.data[0]]
            meta[name] = (bytes(value).decode("utf-8", "replace")
                          if field.types[0].name == "STRING" else value.tolist()[0]
                          if value.size == 1 else value.tolist())
    tensors = {}
    for t in reader.tensors:
        if len(t.shape) != 2:
            continue
        k, n = (int(x) for x in t.shape)
        tensors[t.name] = GGUFTensor(t.name, t.tensor_type.name, n, k, np.asarray(t.data))
    return meta, tensors
