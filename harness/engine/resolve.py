"""From names to things: the model catalogue, model files, backends, host warnings.

Everything here is checked before a worker starts: an unknown model or backend, a
missing or corrupt file or a wrong checksum is a one-line BenchError.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.errors import BenchError, ConfigError
from harness.specs import ModelSpec


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


@dataclass
class ResolvedModel:
    """A catalogue entry (or ad-hoc path) with its file found and its sha256 checked."""

    spec: ModelSpec
    path: Path
    sha256: str

    @property
    def size_bytes(self) -> int:
        return folder_size(self.path) if self.path.is_dir() else self.path.stat().st_size


def catalogue(models_file: str | None):
    """(catalogue, its resolved path): models_file, else models.yaml in the project."""
    from harness.config import load_catalogue, project_root

    path = Path(models_file) if models_file else project_root() / "models.yaml"
    return load_catalogue(path), path.resolve()


def model_spec(cat, name: str) -> ModelSpec:
    """A catalogue id, or a path to a model file outside the catalogue."""
    from harness.models import adhoc_spec

    try:
        return cat.get(name)
    except KeyError as e:
        if name.endswith(".gguf") or Path(name).exists():
            return adhoc_spec(name)
        raise ConfigError(e.args[0]) from None


def models(names: list[str] | tuple[str, ...], cat, cat_path: Path,
           options: dict | None = None) -> dict[str, ResolvedModel]:
    """Resolve and checksum every named model (default: the catalogue's default); `options`
    override the catalogue's model options."""
    from harness.models import resolve

    out = {}
    for name in names or [cat.default]:
        spec = model_spec(cat, name)
        if options:
            spec = spec.model_copy(update={"options": {**spec.options, **options}})
        path, digest = resolve(spec, cat_path.parent)
        if spec.id in out and out[spec.id].path.resolve() != path.resolve():
            # two different files with one name (a/model.gguf, b/model.gguf): both kept
            import hashlib

            tag = hashlib.sha256(str(path.resolve()).encode("utf-8", "surrogateescape"))
            spec = spec.model_copy(update={"id": f"{spec.id}-{tag.hexdigest()[:8]}"})
        out[spec.id] = ResolvedModel(spec, path, digest)
    return out


def backends(names: list[str] | tuple[str, ...]) -> list[str]:
    """The named backends (each installed), or every installed on-device backend."""
    from harness import backends as reg

    if not names:
        names = [b for b in reg.DEFAULT_BACKENDS if reg.available(b)]
        if not names:
            raise BenchError("no backend library is installed: pip install 'sllm-bench[all]'")
        return names
    for b in names:
        reg.backend_class(b)  # unknown or not installed -> BenchError
    return list(dict.fromkeys(names))


def host_warnings(device) -> list[str]:
    """Ways this host falls short of the device profile (results would understate it)."""
    from harness.measure.host import fingerprint

    host = fingerprint()
    warn = []
    if device.core_count() > host["cores_allowed"]:
        warn.append(f"this host allows {host['cores_allowed']} core(s), fewer than the "
                    f"{device.core_count()} of profile {device.name!r}: results understate it")
    if device.memory_mb and device.memory_mb * 2**20 > host["memory_bytes"]:
        warn.append(f"this host has less memory than profile {device.name!r} "
                    f"({device.memory_mb} MB)")
    return warn
