"""Process memory readings."""

import ctypes
import sys

import pytest

from harness.measure.memory import current_rss_bytes, release_free_heap

MB = 2**20


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_release_free_heap_gives_back_freed_blocks_but_not_live_ones():
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim
    except (OSError, AttributeError):
        pytest.skip("no glibc")
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    # 64 MB of small blocks (heap, not mmap), touched; the last one stays allocated so
    # free() cannot shrink the heap from its top by itself
    blocks = [libc.malloc(4096) for _ in range(16384)]
    for p in blocks:
        ctypes.memset(p, 1, 4096)
    before = current_rss_bytes()
    for p in blocks[:-1]:
        libc.free(p)
    kept = current_rss_bytes()
    assert kept > before - 16 * MB  # freed, yet still resident: what the soak used to see
    assert release_free_heap() is True
    assert current_rss_bytes() < kept - 32 * MB
    libc.free(blocks[-1])
