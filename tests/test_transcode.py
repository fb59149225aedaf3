"""The faithful port's weight transcoding (harness/prepare/gguf_blocks.py, transcode.py).

A small GGUF written here with gguf's own writer (Q4_0, Q4_1, Q8_0 tensors) is read back
as blocks; the ONNX weights made from them must dequantize to exactly the GGUF's values,
and MatMulNBits (+ the offset term) / GatherBlockQuantized graphs built from them must
give x @ W^T and W's rows as numpy does on the dequantized W. K-quants and Q5_0/Q5_1 are
checked on random blocks (gguf can dequantize but not write them)."""

from __future__ import annotations

import numpy as np
import pytest

gguf = pytest.importorskip("gguf")
ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

from gguf import GGMLQuantizationType as G  # noqa: E402
from gguf.quants import dequantize, quantize  # noqa: E402

from harness.prepare.gguf_blocks import (BlockForm, block_form, concat_rows,  # noqa: E402
                                         read_gguf)
from harness.prepare.transcode import (embedding_nodes, linear_nodes, node_accuracy_level,  # noqa: E402
                                       matmulnbits_weight, source_weight)

SHAPES = {"blk.0.attn_q.weight": ("Q4_0", 64, 96), "blk.0.attn_k.weight": ("Q4_1", 32, 96),
          "blk.0.attn_v.weight": ("Q8_0", 32, 96), "blk.0.ffn_down.weight": ("Q4_1", 48, 64),
          "token_embd.weight": ("Q8_0", 40, 64)}


@pytest.fixture(scope="module")
def small_gguf(tmp_path_factory):
    """(path, {name: float32 weights dequantized by gguf}) of a GGUF written here."""
    rng = np.random.default_rng(7)
    path = tmp_path_factory.mktemp("gguf") / "small.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_uint32("llama.attention.head_count", 4)
    writer.add_uint32("llama.attention.head_count_kv", 2)
    expected = {}
    for name, (kind, n, k) in SHAPES.items():
        raw = quantize(rng.standard_normal((n, k)).astype(np.float32), G[kind])
        writer.add_tensor(name, raw, raw_dtype=G[kind])
        expected[name] = dequantize(raw, G[kind]).reshape(n, k)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path, expected


def _session(nodes, inits, inputs, output):
    from onnx import TensorProto, helper

    graph = helper.make_graph(nodes, "t", inputs,
                              [helper.make_tensor_value_info(output, TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21),
                                                    helper.make_opsetid("com.microsoft", 1)])
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def _onnx_weight(nodes, inits) -> np.ndarray:
    """W as the ONNX initializers of linear_nodes() define it: MatMulNBits' q, scales and
    zero points, plus the offsets of the block-sum term."""
    from onnx import numpy_helper

    by_name = {i.name: i for i in inits}
    (mnb,) = [n for n in nodes if n.op_type == "MatMulNBits"]
    w = matmulnbits_weight(mnb, by_name)
    offsets = [i for i in inits if i.name.endswith(".offsets_t")]
    if offsets:
        o = numpy_helper.to_array(offsets[0]).T  # [N, K/block]
        w = (w.reshape(o.shape[0], o.shape[1], -1) + o[..., None]).reshape(w.shape)
    return w


def test_read_back_blocks_equal_gguf_values(small_gguf):
    path, expected = small_gguf
    meta, tensors = read_gguf(path)
    assert meta["general.architecture"] == "llama"
    for name, (kind, n, k) in SHAPES.items():
        t = tensors[name]
        assert (t.ggml_type, t.n, t.k) == (kind, n, k)
        assert np.array_equal(t.form().dequantize(), expected[name])  # bit for bit


@pytest.mark.parametrize("name", list(SHAPES))
@pytest.mark.parametrize("level", [0, 4])
def test_onnx_weights_and_matmul_are_the_gguf_ones(small_gguf, name, level):
    from onnx import TensorProto, helper

    path, expected = small_gguf
    form = read_gguf(path)[1][name].form()
    nodes, inits = linear_nodes("x", "y", form, "/t/gguf", level)
    w = expected[name]
    # the stored weights: exact (the offset term's fp32 sum may round in the last bit)
    assert np.allclose(_onnx_weight(nodes, inits), w, rtol=0, atol=1e-6 * np.abs(w).max())
    if form.offset is None:
        assert np.array_equal(_onnx_weight(nodes, inits), w)
    n, k = w.shape
    x = np.random.default_rng(1).standard_normal((2, 3, k)).astype(np.float32)
    sess = _session(nodes, inits, [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                 [2, 3, k])], "y")
    (y,) = sess.run(None, {"x": x})
    ref = x.astype(np.float64) @ w.T.astype(np.float64)
    # level 4: int8 activations; 8-bit weights always run at level 4 (node_accuracy_level)
    tol = 1e-5 if node_accuracy_level(form.bits, level) == 0 else 2e-2
    assert np.abs(y - ref).max() <= tol * np.abs(ref).max()


def test_q4_1_offset_term_algebra():
    """sum_k x_k (d q_k + m) == MatMulNBits(x; q, d, zero 0) + (block sums of x) @ m^T."""
    rng = np.random.default_rng(3)
    n, k = 8, 64
    raw = quantize(rng.standard_normal((n, k)).astype(np.float32), G.Q4_1)
    f = block_form("Q4_1", raw, n, k)
    x = rng.standard_normal(k)
    q = f.q.reshape(n, 2, 32).astype(np.float64)
    main = np.einsum("nb,nbj,bj->n", f.scale, q, x.reshape(2, 32))  # zero point 0
    offset_term = x.reshape(2, 32).sum(axis=1) @ f.offset.T.astype(np.float64)
    assert np.allclose(main + offset_term, dequantize(raw, G.Q4_1).reshape(n, k) @ x, rtol=1e-10)


@pytest.mark.parametrize("name", ["token_embd.weight", "blk.0.attn_k.weight"])
@pytest.mark.parametrize("tied", [False, True])
def test_embedding_rows_are_the_gguf_ones(small_gguf, name, tied):
    from onnx import TensorProto, helper

    path, expected = small_gguf
    form = read_gguf(path)[1][name].form()
    nodes, inits = [], []
    if tied:  # reuse a linear's q and scales, as for a tied lm_head
        lin_nodes, lin_inits = linear_nodes("x", "unused", form, "/lm/gguf", 0)
        inits += [i for i in lin_inits if i.name.endswith((".q", ".scales"))]
    more_nodes, more_inits = embedding_nodes("ids", "rows", form, "/emb/gguf",
                                             "/lm/gguf" if tied else None)
    nodes += more_nodes
    inits += more_inits
    ids = np.array([[0, 5, form.shape[0] - 1]], np.int64)
    sess = _session(nodes, inits, [helper.make_tensor_value_info("ids", TensorProto.INT64,
                                                                 [1, 3])], "rows")
    (rows,) = sess.run(None, {"ids": ids})
    w = expected[name]
    assert np.allclose(rows, w[ids], rtol=0, atol=1e-6 * np.abs(w).max())


def _random_blocks(kind: str, n: int, k: int, rng) -> np.ndarray:
    block, size = gguf.GGML_QUANT_SIZES[G[kind]]
    raw = rng.integers(0, 256, (n, k // block, size), dtype=np.uint8)
    scale = lambda: (rng.random((n, k // block)) * 0.01).astype(np.float16).view(np.uint8)  # noqa: E731
    d_at = 208 if kind == "Q6_K" else 0
    raw[..., d_at:d_at + 2] = scale().reshape(n, k // block, 2)
    if kind in ("Q4_K", "Q5_K", "Q5_1"):
        raw[..., 2:4] = scale().reshape(n, k // block, 2)
    return raw.reshape(n, -1)


@pytest.mark.parametrize("kind", ["Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K"])
def test_other_exact_types_match_gguf_dequantize(kind):
    rng = np.random.default_rng(11)
    raw = _random_blocks(kind, 6, 512, rng)
    f = block_form(kind, raw, 6, 512)
    assert np.array_equal(f.dequantize(), dequantize(raw, G[kind]).reshape(6, 512))
    nodes, inits = linear_nodes("x", "y", f, "/k/gguf", 0)
    w = dequantize(raw, G[kind]).reshape(6, 512)
    assert np.allclose(_onnx_weight(nodes, inits), w, rtol=0, atol=1e-6 * np.abs(w).max())


def test_mixed_rows_fuse_exactly():
    rng = np.random.default_rng(5)
    raws = {"Q4_1": quantize(rng.standard_normal((4, 256)).astype(np.float32), G.Q4_1),
            "Q8_0": quantize(rng.standard_normal((4, 256)).astype(np.float32), G.Q8_0),
            "Q6_K": _random_blocks("Q6_K", 4, 256, rng)}
    forms = [block_form(kind, raw, 4, 256) for kind, raw in raws.items()]
    fused = concat_rows(forms)
    assert (fused.bits, fused.block) == (8, 16)
    want = np.concatenate([dequantize(r, G[kind]).reshape(4, 256) for kind, r in raws.items()])
    assert np.allclose(fused.dequantize(), want, rtol=0, atol=1e-7 * np.abs(want).max())


def test_llama_q_and_k_rows_are_unpermuted_like_transformers(small_gguf):
    path, expected = small_gguf
    meta, tensors = read_gguf(path)
    for name, heads in (("blk.0.attn_q.weight", 4), ("blk.0.attn_k.weight", 2)):
        form, rows = source_weight([name], tensors, meta)
        assert isinstance(form, BlockForm) and rows[0]["rope_unpermuted"]
        w = expected[name]
        hf = w.reshape(heads, w.shape[0] // heads // 2, 2, -1).swapaxes(2, 1).reshape(w.shape)
        assert np.array_equal(form.dequantize(), hf)
    form, rows = source_weight(["blk.0.attn_v.weight"], tensors, meta)
    assert not rows[0]["rope_unpermuted"]
    assert np.array_equal(form.dequantize(), expected["blk.0.attn_v.weight"])
