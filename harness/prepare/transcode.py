"""Carry a GGUF file's quantized blocks into a builder-made ONNX model, unchanged.

The onnxruntime-genai builder makes the graph (genai_config.json, attention, norms, I/O);
this module swaps its re-quantized weights for the GGUF's own blocks (gguf_blocks.py):

  linear (MatMulNBits)  y = x W^T with W = scale (q - zero) + offset per block:
      MatMulNBits(x; q, scale, zero)            bits 4 or 8, block 32 or 16, uint8 zero
                                                points (omitted when all equal the
                                                kernel's default 2^(bits-1))
    + (block sums of x) @ offset^T              only when the form has an offset (Q4_1,
                                                Q5_1, K-quants): Reshape x to
                                                [.., K/block, block], ReduceSum the last
                                                axis, MatMul with offset^T [K/block, N]
      since sum_k x_k (s_b (q_k - z_b) + o_b) = sum_b s_b sum_{k in b} x_k (q_k - z_b)
                                               + sum_b o_b (sum_{k in b} x_k).
  embedding (GatherBlockQuantized)  rows = scale (q - zero) per block, plus the gathered
      offsets added per block when the form has them.
  other GGML types  dequantized to float32: a plain MatMul / Gather (said in the report).

Names: the builder's "model.layers.<i>.attn.qkv_proj" is GGUF blk.<i>.attn_q, attn_k,
attn_v stacked by rows (q_proj/k_proj/v_proj when unfused), o_proj attn_output,
mlp.gate_proj/up_proj/down_proj ffn_gate/ffn_up/ffn_down (gate_up_proj both), lm_head
output.weight or, when tied, token_embd.weight, and the GatherBlockQuantized embedding
token_embd.weight. For llama-architecture files the q and k rows are un-permuted as
transformers' GGUF loader does (GGUF keeps them in llama.cpp's RoPE order); a row
permutation of quantized rows is exact. Each weight is checked against the builder's own
(re-quantized) weight before it is replaced: a relative difference over MAX_REL_DIFF
means a wrong mapping and fails the conversion.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from harness.errors import ModelError
from harness.prepare.gguf_blocks import BlockForm, GGUFTensor, concat_rows, read_gguf

#: above this ||W_gguf - W_builder|| / ||W_gguf|| the mapping is taken to be wrong (4-bit
#: RTN of the same weights differs by ~0.1; a wrong row order or tensor by ~1.4)
MAX_REL_DIFF = 0.5
_PROJ = {"qkv_proj": ("attn_q", "attn_k", "attn_v"), "q_proj": ("attn_q",),
         "k_proj": ("attn_k",), "v_proj": ("attn_v",), "o_proj": ("attn_output",),
         "gate_proj": ("ffn_gate",), "up_proj": ("ffn_up",), "down_proj": ("ffn_down",),
         "gate_up_proj": ("ffn_gate", "ffn_up")}


def pack(q: np.ndarray, bits: int) -> np.ndarray:
    """uint8 values [.., M] -> MatMulNBits bytes: 8-bit as is, 4-bit two per byte (even
    index in the low nibble); an odd M is padded with a zero nibble."""
    if bits == 8:
        return np.ascontiguousarray(q, dtype=np.uint8)
    if q.shape[-1] % 2:
        q = np.concatenate([q, np.zeros((*q.shape[:-1], 1), np.uint8)], axis=-1)
    return (q[..., 0::2] | (q[..., 1::2] << 4)).astype(np.uint8)


#: onnxruntime 1.32's CPU MatMulNBits has no fast path for 8-bit weights with float
#: activations (accuracy_level 0): 86 ms per call for SmolLM2's 49152 x 576 lm_head against
#: 0.93 ms at level 4. Level 4 quantizes the activations to int8 per block, which is what
#: llama.cpp's own Q8_0 dot product does (vec_dot_q8_0_q8_0), so 8-bit weights always take it.
EIGHT_BIT_ACCURACY_LEVEL = 4


def node_accuracy_level(bits: int, accuracy_level: int) -> int:
    """The accuracy_level a MatMulNBits node of `bits`-bit weights gets in the gguf recipe."""
    return EIGHT_BIT_ACCURACY_LEVEL if bits == 8 else accuracy_level


def linear_nodes(x: str, out: str, form: BlockForm, prefix: str, accuracy_level: int):
    """(nodes, initializers) computing out = x @ W^T for x [batch, seq, K] (module
    docstring); names start with `prefix`."""
    from onnx import helper, numpy_helper

    n, k = form.shape
    nb = k // form.block
    w = pack(form.q.reshape(n, nb, form.block), form.bits)
    inits = [numpy_helper.from_array(w, f"{prefix}.q"),
             numpy_helper.from_array(form.scale.astype(np.float32).reshape(-1), f"{prefix}.scales")]
    inputs = [x, f"{prefix}.q", f"{prefix}.scales"]
    if np.any(form.zero != 2 ** (form.bits - 1)):
        inits.append(numpy_helper.from_array(pack(form.zero, form.bits).reshape(-1),
                                             f"{prefix}.zero_points"))
        inputs.append(f"{prefix}.zero_points")
    mnb_out = out if form.offset is None else f"{prefix}/MatMulNBits/output_0"
    nodes = [helper.make_node("MatMulNBits", inputs, [mnb_out], name=f"{prefix}/MatMulNBits",
                              domain="com.microsoft", K=k, N=n, bits=form.bits,
                              block_size=form.block,
                              accuracy_level=node_accuracy_level(form.bits, accuracy_level))]
    if form.offset is not None:
        inits += [numpy_helper.from_array(np.array([0, 0, nb, form.block], np.int64),
                                          f"{prefix}.block_shape"),
                  numpy_helper.from_array(np.array([-1], np.int64), f"{prefix}.last_axis"),
                  numpy_helper.from_array(np.ascontiguousarray(form.offset.T, np.float32),
                                          f"{prefix}.offsets_t")]
        nodes += [
            helper.make_node("Reshape", [x, f"{prefix}.block_shape"], [f"{prefix}/xb"],
                             name=f"{prefix}/Reshape"),
            helper.make_node("ReduceSum", [f"{prefix}/xb", f"{prefix}.last_axis"],
                             [f"{prefix}/block_sums"], name=f"{prefix}/ReduceSum", keepdims=0),
            helper.make_node("MatMul", [f"{prefix}/block_sums", f"{prefix}.offsets_t"],
                             [f"{prefix}/offset_term"], name=f"{prefix}/MatMul_offsets"),
            helper.make_node("Add", [mnb_out, f"{prefix}/offset_term"], [out],
                             name=f"{prefix}/Add")]
    return nodes, inits


def embedding_nodes(ids: str, out: str, form: BlockForm, prefix: str,
                    shared: str | None = None):
    """(nodes, initializers) gathering rows of W [V, K] for int64 ids [batch, seq].
    `shared`: the prefix of linear_nodes() made for the same form (a tied lm_head), whose
    q and scales are then reshaped and reused instead of stored twice."""
    from onnx import helper, numpy_helper

    v, k = form.shape
    nb = k // form.block
    inits = [numpy_helper.from_array(pack(form.zero, form.bits), f"{prefix}.zero_points")]
    nodes = []
    data, scales = f"{prefix}.q", f"{prefix}.scales"
    if shared:
        data, scales = f"{prefix}/q", f"{prefix}/scales"
        inits += [numpy_helper.from_array(np.array([v, -1], np.int64), f"{prefix}.table_shape")]
        nodes += [helper.make_node("Reshape", [f"{shared}.q", f"{prefix}.table_shape"], [data],
                                   name=f"{prefix}/Reshape_q"),
                  helper.make_node("Reshape", [f"{shared}.scales", f"{prefix}.table_shape"],
                                   [scales], name=f"{prefix}/Reshape_scales")]
    else:
        inits += [numpy_helper.from_array(pack(form.q, form.bits), data),
                  numpy_helper.from_array(form.scale.astype(np.float32), scales)]
    gbq_out = out if form.offset is None else f"{prefix}/GatherBlockQuantized/output_0"
    nodes += [helper.make_node(
        "GatherBlockQuantized", [data, ids, scales, f"{prefix}.zero_points"],
        [gbq_out], name=f"{prefix}/GatherBlockQuantized", domain="com.microsoft",
        bits=form.bits, block_size=form.block, gather_axis=0, quantize_axis=1)]
    if form.offset is not None:
        inits += [numpy_helper.from_array(form.offset.astype(np.float32), f"{prefix}.offsets"),
                  numpy_helper.from_array(np.array([0, 0, nb, form.block], np.int64),
                                          f"{prefix}.block_shape"),
                  numpy_helper.from_array(np.array([0, 0, k], np.int64), f"{prefix}.row_shape"),
                  numpy_helper.from_array(np.array([-1], np.int64), f"{prefix}.last_axis")]
        p = prefix
        nodes += [
            helper.make_node("Gather", [f"{p}.offsets", ids], [f"{p}/off"], name=f"{p}/Gather"),
            helper.make_node("Unsqueeze", [f"{p}/off", f"{p}.last_axis"], [f"{p}/off1"],
                             name=f"{p}/Unsqueeze"),
            helper.make_node("Reshape", [gbq_out, f"{p}.block_shape"], [f"{p}/rows_b"],
                             name=f"{p}/Reshape"),
            helper.make_node("Add", [f"{p}/rows_b", f"{p}/off1"], [f"{p}/rows_o"], name=f"{p}/Add"),
            helper.make_node("Reshape", [f"{p}/rows_o", f"{p}.row_shape"], [out],
                             name=f"{p}/Reshape_out")]
    return nodes, inits


def gguf_sources(weight_name: str, tensors: dict) -> list[str]:
    """GGUF tensor names behind one builder weight name (module docstring)."""
    if weight_name.startswith("lm_head."):
        return ["output.weight" if "output.weight" in tensors else "token_embd.weight"]
    m = re.match(r"model\.layers\.(\d+)\.(?:attn|self_attn|mlp)\.(\w+)\.MatMul", weight_name)
    if not m or m.group(2) not in _PROJ:
        raise ModelError(f"faithful port: no GGUF tensor known for ONNX weight {weight_name!r}")
    return [f"blk.{m.group(1)}.{p}.weight" for p in _PROJ[m.group(2)]]


def _rope_rows(t: GGUFTensor, meta: dict) -> np.ndarray | None:
    """Row order turning llama.cpp's q/k rows into transformers' (None: no change)."""
    arch = meta.get("general.architecture")
    if arch != "llama" or not re.search(r"\.attn_(q|k)\.", t.name):
        return None
    heads = int(meta[f"{arch}.attention.head_count"])
    if ".attn_k." in t.name:
        heads = int(meta.get(f"{arch}.attention.head_count_kv", heads))
    return np.arange(t.n).reshape(heads, t.n // heads // 2, 2).transpose(0, 2, 1).reshape(-1)


def source_weight(names: list[str], tensors: dict, meta: dict):
    """(BlockForm or float32 [N, K] array, per-tensor report rows) for stacked tensors."""
    parts, rows = [], []
    exact = all(tensors[n].exact for n in names)
    for name in names:
        t = tensors[name]
        perm = _rope_rows(t, meta)
        if exact:
            f = t.form()
            parts.append(f if perm is None else f.take_rows(perm))
        else:
            w = t.dequantize()
            parts.append(w if perm is None else w[perm])
        rows.append({"gguf": name, "ggml_type": t.ggml_type, "shape": [t.n, t.k],
                     "rope_unpermuted": perm is not None})
    return (concat_rows(parts) if exact else np.concatenate(parts)), rows


def matmulnbits_weight(node, inits: dict) -> np.ndarray:
    """A MatMulNBits node's weight, dequantized (float32 [N, K]; inits: name -> TensorProto)."""
    from onnx import numpy_helper

    a = {x.name: x for x in node.attribute}
    n, k, bits, bs = (a[x].i for x in ("N", "K", "bits", "block_size"))
    raw = numpy_helper.to_array(inits[node.input[1]]).reshape(n, -1)
    if bits == 4:
        raw = np.stack([raw & 0x0F, raw >> 4], axis=-1).reshape(n, -1)
    nb = -(-k // bs)
    q = raw[:, :nb * bs].reshape(n, nb, bs).astype(np.float32)
    s = numpy_helper.to_array(inits[node.input[2]]).reshape(n, nb, 1)
    zero = 2 ** (bits - 1)
    if len(node.input) > 3 and node.input[3]:
        z = numpy_helper.to_array(inits[node.input[3]]).reshape(n, -1)
        if bits == 4:
            z = np.stack([z & 0x0F, z >> 4], axis=-1).reshape(n, -1)
        zero = z[:, :nb].reshape(n, nb, 1).astype(np.float32)
    return (s * (q - zero)).reshape(n, nb * bs)[:, :k]


def transcode(folder: Path, gguf_path: Path, *, accuracy_level: int) -> list[dict]:
    """Rewrite folder/model.onnx (+ .data) with the GGUF's weights; returns the
    per-tensor report (one row per GGUF tensor: exact or dequantized, and how)."""
    import onnx
    from onnx import helper, numpy_helper

    meta, tensors = read_gguf(gguf_path)
    path = Path(folder) / "model.onnx"
    model = onnx.load(str(path))
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    report: list[dict] = []
    new_nodes, new_inits = [], []
    lm_head = None  # (prefix, GGUF name) of an exact lm_head, for a tied embedding
    for node in graph.node:
        if node.op_type == "MatMulNBits" and node.input[1] in inits:
            names = gguf_sources(node.input[1], tensors)
            w, rows = source_weight(names, tensors, meta)
            dense = w.dequantize() if isinstance(w, BlockForm) else w
            mine = matmulnbits_weight(node, inits)
            if mine.shape != dense.shape:
                raise ModelError(f"faithful port: {node.input[1]} is {list(mine.shape)} in "
                                 f"the builder's model, {list(dense.shape)} from {names}")
            rel = float(np.linalg.norm(dense - mine) / max(np.linalg.norm(dense), 1e-30))
            if rel > MAX_REL_DIFF:
                raise ModelError(f"faithful port: {node.input[1]} differs from {names} by "
                                 f"{rel:.2f} (relative): wrong tensor mapping")
            prefix = node.name.rsplit("/", 1)[0] + "/gguf"
            if isinstance(w, BlockForm):
                nodes, extra = linear_nodes(node.input[0], node.output[0], w, prefix,
                                            accuracy_level)
                how = {"how": "exact", "bits": w.bits, "block": w.block,
                       "offset_term": w.offset is not None,
                       "accuracy_level": node_accuracy_level(w.bits, accuracy_level)}
                if node.input[1].startswith("lm_head."):
                    lm_head = (prefix, names[0])
            else:
                extra = [numpy_helper.from_array(np.ascontiguousarray(w.T), f"{prefix}.weight_t")]
                nodes = [helper.make_node("MatMul", [node.input[0], f"{prefix}.weight_t"],
                                          [node.output[0]], name=f"{prefix}/MatMul")]
                how = {"how": "dequantized to float32"}
            new_nodes += nodes
            new_inits += extra
            for r in rows:
                report.append({"onnx": node.input[1].rsplit(".MatMul", 1)[0], **r, **how,
                               "builder_rel_diff": round(rel, 4)})
        elif node.op_type == "GatherBlockQuantized":
            new_nodes.append(node)  # replaced below, once a tied lm_head is known
        else:
            new_nodes.append(node)
    for i, node in enumerate(new_nodes):
        if node.op_type == "GatherBlockQuantized" and not node.name.endswith("/gguf/GatherBlockQuantized"):
            t = tensors["token_embd.weight"]
            prefix = "/model/embed_tokens/gguf"
            if t.exact:
                f = t.form()
                tied = lm_head[0] if lm_head and lm_head[1] == t.name else None
                nodes, extra = embedding_nodes(node.input[1], node.output[0], f, prefix, tied)
                how = {"how": "exact", "bits": f.bits, "block": f.block,
                       "offset_term": f.offset is not None}
            else:
                extra = [numpy_helper.from_array(t.dequantize(), f"{prefix}.weight")]
                nodes = [helper.make_node("Gather", [f"{prefix}.weight", node.input[1]],
                                          [node.output[0]], name=f"{prefix}/Gather")]
                how = {"how": "dequantized to float32"}
            new_nodes[i:i + 1] = nodes
            new_inits += extra
            report.append({"onnx": "embed_tokens", "gguf": t.name, "ggml_type": t.ggml_type,
                           "shape": [t.n, t.k], "rope_unpermuted": False, **how})
            break
    del graph.node[:]
    graph.node.extend(_prune(new_nodes, graph))
    used = {i for n in graph.node for i in n.input}
    keep = [i for i in graph.initializer if i.name in used] + new_inits
    del graph.initializer[:]
    graph.initializer.extend(keep)
    (Path(folder) / "model.onnx.data").unlink(missing_ok=True)
    onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="model.onnx.data", size_threshold=1024)
    return report


def _prune(nodes: list, graph) -> list:
    """Drop nodes whose outputs nothing reads (the builder's embedding Reshape)."""
    outputs = {o.name for o in graph.output}
    while True:
        used = {i for n in nodes for i in n.input} | outputs
        kept = [n for n in nodes if any(o in used for o in n.output)]
        if len(kept) == len(nodes):
            return kept
        nodes = kept
