"""Memory bandwidth of this host, for reading decode speed against the physical limit.

The probe copies 256 MiB buffers with numpy (which releases the GIL) from `threads`
threads at once and counts bytes read plus bytes written; the best of 5 passes is the
bandwidth in GB/s (10^9 bytes). It runs once per host fingerprint and thread count and is
cached in <cache root>/bandwidth.json.

Decode efficiency = decode tokens/s x bytes read per token / bandwidth, where bytes read
per token is taken as the size of the model's weights (every weight is read once per
decoded token; KV-cache reads are ignored, so this slightly understates the traffic).
An efficiency near 1 means decode is at the memory roofline.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

BUFFER_BYTES = 256 * 2**20
PASSES = 5


def cache_file() -> Path:
    root = Path(os.environ.get("SLLM_BENCH_CACHE") or Path.home() / ".cache" / "sllm-bench")
    return root / "bandwidth.json"


def probe(threads: int = 1, buffer_bytes: int = BUFFER_BYTES, passes: int = PASSES) -> float:
    """Measured copy bandwidth in GB/s (read + write), best of `passes`."""
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    per = max(buffer_bytes // threads, 2**20) // 8
    src = [np.ones(per, dtype=np.float64) for _ in range(threads)]
    dst = [np.empty_like(s) for s in src]
    best = 0.0
    with ThreadPoolExecutor(threads) as pool:
        for _ in range(passes):
            t0 = time.perf_counter()
            list(pool.map(lambda i: np.copyto(dst[i], src[i]), range(threads)))
            dt = time.perf_counter() - t0
            best = max(best, 2 * per * 8 * threads / dt / 1e9)
    return best


def bandwidth_gbps(threads: int, *, refresh: bool = False) -> dict:
    """{"gbps", "threads", "host_id", "method"} from the cache, probing on first use."""
    from harness.measure.host import fingerprint

    host = fingerprint()["id"]
    key = f"{host}:{threads}"
    path = cache_file()
    try:
        cache = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        cache = {}
    if refresh or key not in cache:
        cache[key] = {"gbps": round(probe(threads), 2), "threads": threads, "host_id": host,
                      "method": f"numpy copy, {threads} thread(s), best of {PASSES}"}
        from harness.errors import WriteError
        from harness.records import write_json

        try:
            write_json(path, cache)
        except WriteError:
            pass  # a cache that cannot be kept (an unwritable HOME): probe again next time
    return cache[key]


def decode_efficiency(decode_tps: float, weight_bytes: int, gbps: float) -> float:
    """Fraction of the memory roofline reached (see the module docstring)."""
    return decode_tps * weight_bytes / (gbps * 1e9)
