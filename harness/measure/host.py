"""Host fingerprint: what machine a measurement was taken on.

The fingerprint id is a short hash of the fields that change speed (CPU model, core
counts, memory, OS, architecture, CPU features); two results with the same id come from
comparable hosts. The host name is not recorded, only a hash of it.
"""

from __future__ import annotations

import hashlib
import platform
from functools import lru_cache

_FLAGS = ("avx", "avx2", "avx512f", "avx512_vnni", "avx_vnni", "fma", "f16c", "amx_tile",
          "neon", "asimd", "sve", "dotprod", "i8mm")


def _cpuinfo() -> tuple[str, list[str]]:
    model, flags = "", []
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                if key in ("model name", "hardware", "cpu model") and not model:
                    model = value.strip()
                elif key in ("flags", "features") and not flags:
                    flags = value.split()
    except OSError:
        pass
    if not model:
        from harness.measure.oscompat import cpu_model

        model = cpu_model()
    return model, flags


@lru_cache(maxsize=1)
def fingerprint() -> dict:
    """CPU model, logical/physical cores, memory, OS and CPU features of this host."""
    import psutil

    model, flags = _cpuinfo()
    from harness.measure.oscompat import allowed_cpus

    allowed = len(allowed_cpus())
    info = {
        "cpu_model": model,
        "cores_logical": psutil.cpu_count(logical=True),
        "cores_physical": psutil.cpu_count(logical=False),
        "cores_allowed": allowed,
        "memory_bytes": psutil.virtual_memory().total,
        "os": platform.system(),
        "os_release": platform.release(),
        "machine": platform.machine(),
        "cpu_features": sorted(f for f in flags if f in _FLAGS),
        "hostname_sha256": hashlib.sha256(platform.node().encode()).hexdigest()[:12],
    }
    stable = {k: info[k] for k in ("cpu_model", "cores_logical", "cores_physical", "os",
                                    "machine", "cpu_features")}
    stable["memory_gib"] = round(info["memory_bytes"] / 2**30)
    info["id"] = hashlib.sha256(repr(sorted(stable.items())).encode()).hexdigest()[:16]
    return info
