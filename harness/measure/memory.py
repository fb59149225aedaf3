"""Resident memory of the current process.

Peak memory is VmHWM ("high water mark" of resident set size) from /proc/self/status,
read inside the freshly spawned worker that ran the model, so it covers exactly that
process's life. Where /proc is unavailable, psutil's peak working set (Windows) or
ru_maxrss (macOS, BSD) of the worker itself is used.
"""

from __future__ import annotations

import functools
import os
import sys

from harness.measure.oscompat import proc_status_kb

MB = 1024 * 1024


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far, in bytes (harness.measure.oscompat:
    VmHWM, peak working set or ru_maxrss). Where the OS gives no peak, the current
    resident size: a lower bound, and the record's env.platform.peak_memory says
    "not measured: <reason>"."""
    from harness.measure.oscompat import peak_rss

    value, _ = peak_rss()
    return value if value is not None else current_rss_bytes()


def current_rss_bytes() -> int:
    kb = proc_status_kb("VmRSS")
    if kb is not None:
        return kb * 1024
    import psutil

    return int(psutil.Process(os.getpid()).memory_info().rss)


def release_free_heap() -> bool:
    """Ask the C allocator to give freed heap memory back to the OS (glibc's malloc_trim),
    so a following RSS reading counts memory still allocated, not memory freed but kept
    for reuse. False where there is no glibc (nothing is done)."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


@functools.cache
def _malloc_trim():
    """glibc's malloc_trim, looked up once; None elsewhere (musl and others lack it)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        trim = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim
