"""A bounded walk over a GGUF file's key-value header, before any library parses it.

gguf-py's reader iterates every element of a metadata array in Python, so a header that
claims an array of 2^61 token types hangs it for ever. This walk reads only lengths and
counts: every string, array and the whole key-value section must fit in the file's bytes
(an array of n elements of at least k bytes each needs n x k bytes), nesting is bounded,
and each value type must be one GGUF defines. It costs one pass over the header (tens of
milliseconds for a 50,000-token vocabulary).
"""

from __future__ import annotations

import struct
from pathlib import Path

from harness.errors import ModelError, printable

#: GGUF value types: fixed sizes; 8 string, 9 array
SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
STRING, ARRAY = 8, 9
MAX_DEPTH = 4


class _Reader:
    def __init__(self, f, size: int, path: Path):
        self.f, self.size, self.path = f, size, path

    def left(self) -> int:
        return self.size - self.f.tell()

    def take(self, n: int, what: str) -> bytes:
        if n > self.left():
            raise ModelError(f"corrupt GGUF header: {what} claims {n} bytes, only "
                             f"{self.left()} left in the file", path=self.path)
        return self.f.read(n)

    def u32(self, what: str) -> int:
        return struct.unpack("<I", self.take(4, what))[0]

    def u64(self, what: str) -> int:
        return struct.unpack("<Q", self.take(8, what))[0]

    def skip_string(self, what: str) -> None:
        n = self.u64(f"{what} length")
        self.take(n, what) if n <= 4096 else self._seek(n, what)

    def _seek(self, n: int, what: str) -> None:
        if n > self.left():
            self.take(n, what)  # raises
        self.f.seek(n, 1)

    def skip_value(self, vtype: int, key: str, depth: int = 0) -> None:
        if vtype in SIZES:
            self._seek(SIZES[vtype], key)
        elif vtype == STRING:
            self.skip_string(f"string of {key}")
        elif vtype == ARRAY:
            if depth >= MAX_DEPTH:
                raise ModelError(f"corrupt GGUF header: {key} nests arrays more than "
                                 f"{MAX_DEPTH} deep", path=self.path)
            etype = self.u32(f"array type of {key}")
            count = self.u64(f"array length of {key}")
            least = SIZES.get(etype, 8 if etype == STRING else 12)
            if etype not in SIZES and etype not in (STRING, ARRAY):
                raise ModelError(f"corrupt GGUF header: {key} has element type {etype}",
                                 path=self.path)
            if count * least > self.left():
                raise ModelError(f"corrupt GGUF header: {key} claims {count} elements, more "
                                 f"than the {self.left()} bytes left in the file hold",
                                 path=self.path)
            if etype in SIZES:
                self._seek(count * SIZES[etype], key)
            else:
                for _ in range(count):
                    self.skip_value(etype, key, depth + 1)
        else:
            raise ModelError(f"corrupt GGUF header: {key} has value type {vtype}",
                             path=self.path)


def scan(path: Path) -> None:
    """Walk the key-value section (module docstring); a ModelError names what is wrong."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        r = _Reader(f, size, path)
        r.take(8, "header")  # magic and version (check_gguf_header checked them)
        r.u64("tensor count")
        n_kv = r.u64("key count")
        for i in range(n_kv):
            n = r.u64(f"key {i} length")
            if n > 65535:
                raise ModelError(f"corrupt GGUF header: key {i} claims a {n}-byte name",
                                 path=path)
            key = printable(r.take(n, f"key {i}").decode("utf-8", errors="replace")) or "''"
            r.skip_value(r.u32(f"type of {key}"), key)
