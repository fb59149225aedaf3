"""Microbenchmark: two exact ONNX forms of one Q4_1 weight, w = d q + m per 32-block.

  split   (the gguf recipe) MatMulNBits(x; q, d, uint8 zero point 0)
          + (block sums of x) @ m^T   (transcode.linear_nodes)
  float   MatMulNBits(x; q, d, float zero point -m/d): one op, exact to float rounding,
          but onnxruntime's CPU kernel takes a slower path for float zero points
  plain   MatMulNBits(x; q, d) with the default zero point 8: not Q4_1 (no m), shown as
          the kernel's fast-path reference

For each accuracy level (0, 4) and rows M (1 = decoding, 128 = a prompt), the median
microseconds per call over `reps` calls on one thread, and float / split. Run:

    python benchmarks/zero_point_bench.py [--k 576 --n 1536 --reps 300]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def _session(nodes, inits, k: int):
    import onnxruntime as ort
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        nodes, "zp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, "m", k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21),
                                                    helper.make_opsetid("com.microsoft", 1)])
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])


def forms(k: int, n: int, level: int, seed: int = 0) -> dict:
    """{name: (session, float64 reference weight or None)} for one random Q4_1 weight."""
    from gguf import GGMLQuantizationType
    from gguf.quants import dequantize, quantize
    from onnx import helper, numpy_helper

    from harness.prepare.gguf_blocks import BlockForm, block_form
    from harness.prepare.transcode import linear_nodes, pack

    rng = np.random.default_rng(seed)
    raw = quantize(rng.standard_normal((n, k)).astype(np.float32), GGMLQuantizationType.Q4_1)
    w = dequantize(raw, GGMLQuantizationType.Q4_1).reshape(n, k)
    f = block_form("Q4_1", raw, n, k)
    out = {"split": (_session(*linear_nodes("x", "y", f, "s", level), k), w)}
    q = pack(f.q.reshape(n, k // 32, 32), 4)
    zero = (-f.offset / np.where(f.scale == 0, 1, f.scale)).astype(np.float32).reshape(-1)
    inits = [numpy_helper.from_array(q, "q"),
             numpy_helper.from_array(f.scale.reshape(-1), "s"),
             numpy_helper.from_array(zero, "z")]
    node = helper.make_node("MatMulNBits", ["x", "q", "s", "z"], ["y"], domain="com.microsoft",
                            K=k, N=n, bits=4, block_size=32, accuracy_level=level)
    out["float"] = (_session([node], inits, k), w)
    plain = BlockForm(4, 32, f.q, f.scale, np.full(f.scale.shape, 8, np.uint8), None, "Q4_0")
    out["plain"] = (_session(*linear_nodes("x", "y", plain, "p", level), k), None)
    return out


def time_call(sess, x: np.ndarray, reps: int) -> float:
    """Median microseconds of sess.run over `reps` calls (after 20 warm-up calls)."""
    for _ in range(20):
        sess.run(None, {"x": x})
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        sess.run(None, {"x": x})
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e6


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--k", type=int, default=576)
    p.add_argument("--n", type=int, default=1536)
    p.add_argument("--reps", type=int, default=300)
    a = p.parse_args(argv)
    print("| accuracy_level | M | split us | float zp us | plain us | float / split | "
          "max rel err split | max rel err float |")
    print("|---|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(1)
    for level in (0, 4):
        sessions = forms(a.k, a.n, level)
        for m in (1, 128):
            x = rng.standard_normal((1, m, a.k)).astype(np.float32)
            us = {name: time_call(s, x, a.reps) for name, (s, _) in sessions.items()}
            err = {}
            for name in ("split", "float"):
                s, w = sessions[name]
                ref = x[0].astype(np.float64) @ w.T
                err[name] = float(np.abs(s.run(None, {"x": x})[0][0] - ref).max()
                                  / np.abs(ref).max())
            print(f"| {level} | {m} | {us['split']:.1f} | {us['float']:.1f} | "
                  f"{us['plain']:.1f} | {us['float'] / us['split']:.1f}x | "
                  f"{err['split']:.1e} | {err['float']:.1e} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
