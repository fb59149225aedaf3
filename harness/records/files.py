"""Files of results: atomic writes, size-bounded reads, schema validation, discovery.

Every results file the harness writes goes through atomic_write_text (temporary file in
the same folder, fsync, rename), so a reader never sees half a file. Every file it reads
that someone else may have written goes through read_json_bounded and validate_json, so
a bad file is one DataError naming the file and the field.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.errors import DataError, WriteError

MAX_RECORD_BYTES = 32 * 2**20
VERDICT_PREFIX = "verdict"


def atomic_write_text(path: Path, text: str) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over `path`. A
    failure (a folder in the way, no space, no permission, a name too long) is a
    WriteError naming the file, and nothing is left half-written."""
    path = Path(path)
    if path.is_dir():
        raise WriteError("cannot write: a folder of that name is in the way", path=path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:64]}.", suffix=".tmp",
                                   dir=path.parent)
    except OSError as e:
        raise WriteError(f"cannot write: {e.strerror or e}", path=path) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fchmod(f.fileno(), 0o666 & ~current_umask())  # mkstemp made it 0600
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(e, OSError):
            raise WriteError(f"cannot write: {e.strerror or e}", path=path) from None
        raise


def check_output_file(path: Path, what: str) -> Path:
    """A file the harness will write: not a folder, a name the file system takes, in a
    folder it can create files in. Checked before any work starts."""
    from harness.errors import BenchError

    path = Path(path).expanduser()
    if any(len(os.fsencode(part)) > 255 for part in path.parts):
        raise BenchError(f"{what}: a name in the path is longer than 255 bytes", path=path)
    if path.is_dir():
        raise BenchError(f"{what}: a folder of that name is in the way", path=path)
    check_writable_dir(path.parent, what)
    return path


def current_umask() -> int:
    """The process umask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def check_writable_dir(path: Path, what: str) -> Path:
    """A folder the harness will write into: it (or its nearest existing ancestor) must be
    a folder we can create files in. Checked before anything is written; a probe file is
    created and removed at once. Any problem is a BenchError naming `what` and the path."""
    from harness.errors import BenchError

    path = Path(path).expanduser()
    probe = path
    while not os.path.lexists(probe) and probe.parent != probe:
        probe = probe.parent
    if not probe.is_dir():
        raise BenchError(f"{what}: not a folder" + (f" ({probe} is a file)" if probe != path
                                                    else ""), path=path)
    try:
        with tempfile.TemporaryFile(dir=probe, prefix=".sllm-bench-probe-"):
            pass
    except OSError as e:
        raise BenchError(f"{what}: cannot write here ({e.strerror})", path=path) from None
    return path


def to_json(data: Any) -> str:
    """The harness's JSON layout for results files (NaN and inf refused)."""
    return json.dumps(data, indent=1, ensure_ascii=False, allow_nan=False,
                      default=json_default) + "\n"


def write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, to_json(data))


def json_default(o: Any):
    """Paths, pydantic models, read-only mappings and tuples as JSON."""
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "model_dump"):
        return o.model_dump(mode="json")
    if hasattr(o, "to_dict"):
        return o.to_dict()
    if isinstance(o, Mapping):
        return dict(o)
    raise TypeError(f"cannot serialise {type(o).__name__}")


def read_json_bounded(path: Path, max_bytes: int = MAX_RECORD_BYTES):
    """Parse a JSON file written by someone else: size-bounded, UTF-8, one-line errors."""
    path = Path(path)
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):  # a FIFO would block the read for ever
            raise DataError("not a regular file", path=path)
        size = st.st_size
        if size > max_bytes:
            raise DataError(f"file is {size} bytes, more than the {max_bytes} allowed", path=path)
        data = json.loads(path.read_text(encoding="utf-8"))
    except RecursionError:
        raise DataError(f"JSON nested more than {MAX_NESTING} levels deep", path=path) from None
    except OSError as e:
        raise DataError(f"cannot read: {e.strerror}", path=path) from None
    except json.JSONDecodeError as e:
        raise DataError(f"not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})",
                        path=path) from None
    except UnicodeDecodeError:
        raise DataError("not UTF-8 text", path=path) from None
    if _depth(data) > MAX_NESTING:
        raise DataError(f"JSON nested more than {MAX_NESTING} levels deep", path=path)
    return data


#: deeper than any file the harness writes (records reach about 6): refused before any
#: recursive consumer (schema validation, freezing, rendering) sees it
MAX_NESTING = 64


def _depth(data) -> int:
    """Nesting depth of parsed JSON, without recursion."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        x, d = stack.pop()
        deepest = max(deepest, d)
        if d > MAX_NESTING:
            return d
        if isinstance(x, dict):
            stack.extend((v, d + 1) for v in x.values())
        elif isinstance(x, list):
            stack.extend((v, d + 1) for v in x)
    return deepest


def validate_json(data, schema: dict, path: Path, what: str) -> None:
    """jsonschema validation whose failure is a DataError naming the file and the field."""
    import jsonschema

    try:
        jsonschema.validate(data, schema)
    except jsonschema.ValidationError as e:
        where = "/".join(str(p) for p in e.absolute_path) or "top level"
        raise DataError(f"invalid {what} at {where}: {e.message}", path=path) from None


def load_schema(name: str) -> dict:
    """A JSON schema shipped in harness/schemas/ (e.g. "run-record", "verdict")."""
    from importlib.resources import files

    return json.loads(files("harness.schemas").joinpath(f"{name}.schema.json").read_text())


def is_verdict_file(path: Path) -> bool:
    """verify writes verdict.json, or verdict-<backend>.json when it checks several."""
    path = Path(path)
    return path.name == f"{VERDICT_PREFIX}.json" or (
        path.name.startswith(f"{VERDICT_PREFIX}-") and path.suffix == ".json")


def verdict_filename(backend: str, n_backends: int) -> str:
    return f"{VERDICT_PREFIX}.json" if n_backends == 1 else f"{VERDICT_PREFIX}-{backend}.json"


def read_verdict(path: Path) -> dict:
    """Read and validate one verdict file (harness/schemas/verdict.schema.json); its
    statuses must follow from its numbers (harness.records.verdicts)."""
    from harness.records.verdicts import check_verdict

    data = read_json_bounded(path)
    validate_json(data, load_schema("verdict"), path, "verdict")
    check_verdict(data, Path(path))
    return data


def record_files(paths: list[str | Path]) -> list[Path]:
    """Expand files and folders (recursively, *.json) into results paths, sorted."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*.json")
                              if q.name not in ("run.json", "fleet.json")
                              and not q.name.startswith(".")))
        elif p.exists():
            out.append(p)
        else:
            raise DataError("no such file or folder", path=p)
    return out
