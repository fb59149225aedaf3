"""YAML files -> validated specs. Every error is one line naming the file and the key.

Files: models.yaml (the catalogue), devices/<name>.yaml (one profile each). The project
root is found from the current directory upwards (a folder with models.yaml and devices/),
or set with SLLM_BENCH_HOME.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar

from harness.errors import ConfigError, printable

T = TypeVar("T")
MAX_CONFIG_BYTES = 1 << 20


def project_root() -> Path:
    """Folder holding models.yaml and devices/ (SLLM_BENCH_HOME, else search upwards)."""
    env = os.environ.get("SLLM_BENCH_HOME")
    if env:
        return Path(env).resolve()
    here = Path.cwd().resolve()
    for d in (here, *here.parents):
        if (d / "models.yaml").is_file() and (d / "devices").is_dir():
            return d
    # Installed non-editable: fall back to the source checkout this package came from.
    pkg_root = Path(__file__).resolve().parent.parent
    if (pkg_root / "models.yaml").is_file():
        return pkg_root
    raise ConfigError("cannot find models.yaml and devices/ in this folder or above; "
                      "run from the project folder or set SLLM_BENCH_HOME")


def _unique_keys_loader():
    """yaml's SafeLoader, except that a key given twice in one mapping is an error (the
    plain loader silently keeps the last value)."""
    import yaml

    class UniqueKeys(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            seen = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if isinstance(key, (str, int, float, bool)) and key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r}", key_node.start_mark)
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return UniqueKeys


def read_yaml(path: Path) -> Any:
    """Parse a YAML file safely; syntax errors name the line and column."""
    import yaml

    path = Path(path)
    if not path.is_file():
        from harness.models import what_is

        raise ConfigError(what_is(path), path=path)
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise ConfigError(f"file is larger than {MAX_CONFIG_BYTES} bytes", path=path)
    try:
        with open(path, encoding="utf-8") as f:
            return yaml.load(f, Loader=_unique_keys_loader())  # noqa: S506 (a SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(f"YAML syntax error at {where}{e.problem or e}", path=path) from None
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot parse YAML: {e}".splitlines()[0], path=path) from None


def validate(cls: type[T], data: Any, path: Path) -> T:
    """Build a pydantic spec; the first problem becomes a one-line ConfigError."""
    from pydantic import ValidationError

    if not isinstance(data, dict):
        raise ConfigError(f"expected a mapping at the top level, got {type(data).__name__}",
                          path=path)
    try:
        return cls.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(printable(p) for p in err["loc"] if not _is_union_tag(p))
        if err["type"] == "extra_forbidden":
            msg = f"unknown key '{loc}'"
        elif err["type"] == "missing":
            msg = f"missing key '{loc}'"
        else:
            msg = f"key '{loc}': {err['msg']}" if loc else err["msg"]
        more = len(e.errors()) - 1
        raise ConfigError(msg + (f" (and {more} more problem(s))" if more else ""),
                          path=path) from None


def _is_union_tag(part: Any) -> bool:
    # pydantic adds the chosen union member ("package", "int", "literal['all']") to loc.
    return isinstance(part, str) and (part in {"package", "path", "hub"}
                                      or part.startswith(("literal[", "list[")) or part in {"int", "str"})


def load_catalogue(path: Path | None = None):
    from harness.specs import Catalogue

    path = Path(path) if path else project_root() / "models.yaml"
    cat = validate(Catalogue, read_yaml(path), path)
    try:
        cat.get(cat.default)
    except KeyError as e:
        raise ConfigError(f"key 'default': {e.args[0]}", path=path) from None
    return cat


def devices_dir() -> Path:
    return project_root() / "devices"


def load_device(name_or_path: str):
    """A device profile by name (devices/<name>.yaml) or by path to a YAML file."""
    from harness.specs import DeviceProfile

    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.parent != Path("."):
        path = p
    else:
        path = devices_dir() / f"{name_or_path}.yaml"
        if not path.is_file():
            known = ", ".join(list_devices()) or "none"
            raise ConfigError(f"unknown device profile {name_or_path!r} (known: {known})",
                              path=path)
    profile = validate(DeviceProfile, read_yaml(path), path)
    if path.stem != profile.name:
        raise ConfigError(f"key 'name': {profile.name!r} does not match the file name "
                          f"{path.stem!r}", path=path)
    return profile


def list_devices() -> list[str]:
    d = devices_dir()
    return sorted(p.stem for p in d.glob("*.yaml")) if d.is_dir() else []
