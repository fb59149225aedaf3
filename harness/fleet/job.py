"""A job that can travel: a RunRequest as a versioned JSON document (job.json).

The document (harness/schemas/job.schema.json) names every file the run needs by its
sha256: the device profile's YAML (devices/<name>.yaml), the task YAMLs (tasks/<name>.yaml)
and their data files (data/<file name>), all relative to the job's own folder, and the
model by catalogue id and sha256 (its catalogue entry travels too). The job folder is a
project of its own (models.yaml is written there on arrival), so the request inside names
things only, never a path of the coordinator's machine.

On the device, `unpack` refuses a document that fails the schema, a file path that
leaves the job folder, a shipped file whose sha256 or size differs, or a request field
that names a path; the model is found in the device's cache (by sha256), else through the
device's own catalogue, else fetched with `fetch(offset, size)` in chunks into the cache
and checked by sha256 before use.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from harness.errors import BenchError, DataError

JOB_SCHEMA = "sllm-bench/job"
JOB_VERSION = 1
CHUNK = 8 << 20
MAX_JOB_BYTES = 4 << 20
#: the folders of a job folder a shipped file may live in
FOLDERS = ("devices", "tasks", "data")


def sha256_file(path: Path) -> str:
    from harness.models import sha256_file as sha

    return sha(Path(path))


def _entry(rel: str, path: Path) -> dict:
    return {"path": rel, "sha256": sha256_file(path), "size": path.stat().st_size}


# ================================================================== coordinator side
def build(request, *, kind: str = "run", skip=(), run_id: str | None = None,
          shard: dict | None = None) -> tuple[dict, dict[str, Path]]:
    """(the job document of `request`, its relative path -> the local file to ship).

    Checked as a local plan would be: the device profile, tasks, data files and models
    must exist here. `kind` is "run" or "verify"; `skip` names records already finished
    (resume); `shard` ({"index": i, "count": n}) runs every n-th item of each task."""
    from harness.config import devices_dir, load_device
    from harness.data.tasks import data_files, default_tasks, load_task
    from harness.engine import resolve

    sources: dict[str, Path] = {}
    p = Path(request.device)
    dev_path = p if (p.suffix in (".yaml", ".yml") or p.parent != Path(".")) else \
        devices_dir() / f"{request.device}.yaml"
    profile = load_device(request.device)
    sources[f"devices/{profile.name}.yaml"] = dev_path
    names = list(request.tasks)
    if names == ["default"]:
        names = default_tasks()
    extra = [request.prompt_source[5:]] if request.prompt_source.startswith("text:") else []
    extra += [request.parity_task] if request.parity_task else []
    data_dir = Path(request.data_dir) if request.data_dir else None
    task_names = []
    for name in dict.fromkeys(names + extra):
        spec = load_task(name)
        sources[f"tasks/{spec.name}.yaml"] = spec.source
        if name in names:
            task_names.append(spec.name)
        for _, f in data_files(spec, data_dir):
            if not f.is_file():
                raise DataError(f"data file of task {spec.name!r} not found", path=f)
            rel = f"data/{f.name}"
            if rel in sources and sources[rel].resolve() != f.resolve() \
                    and sha256_file(sources[rel]) != sha256_file(f):
                raise BenchError(f"two different data files are named {f.name!r}: a job "
                                 "ships data files by name")
            sources[rel] = f
    cat, cat_path = resolve.catalogue(request.models_file)
    models = []
    for mid, m in resolve.models(request.models, cat, cat_path).items():
        if m.path.is_dir():
            raise BenchError(f"model {mid!r} is a folder: a fleet job ships single-file "
                             "models only (GGUF)")
        spec = m.spec.model_dump(mode="json", exclude_none=True)
        spec["sha256"] = m.sha256
        models.append({"id": mid, "sha256": m.sha256, "size": m.size_bytes,
                       "file": m.path.name, "spec": spec, "source": str(m.path)})
    fields = request.model_dump(mode="json")
    fields.update(device=profile.name, tasks=task_names,
                  models=[m["id"] for m in models], models_file=None,
                  data_dir="data" if any(k.startswith("data/") for k in sources) else None)
    doc = {"schema": JOB_SCHEMA, "version": JOB_VERSION, "kind": kind, "request": fields,
           "files": [_entry(rel, path) for rel, path in sorted(sources.items())],
           "models": [{k: v for k, v in m.items() if k != "source"} for m in models],
           "skip": sorted(skip)}
    if run_id:
        doc["run_id"] = run_id
    if shard:
        doc["shard"] = shard
    model_sources = {f"model:{m['sha256']}": Path(m["source"]) for m in models}
    return doc, {**sources, **model_sources}


def write(request, folder: str | Path, *, kind: str = "run") -> Path:
    """Write `request` as a job folder (job.json and the files it names) that
    `sllm-bench run --request FOLDER/job.json` runs on any machine; returns job.json.
    The model is not copied: the other machine has it (catalogue or cache) or is sent it."""
    from harness.records import atomic_write_text

    doc, sources = build(request, kind=kind)
    folder = Path(folder)
    for rel, src in sources.items():
        if rel.startswith("model:"):
            continue
        dest = folder / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
    atomic_write_text(folder / "job.json", json.dumps(doc, indent=1) + "\n")
    return folder / "job.json"


# ================================================================== device side
def read(path: str | Path) -> dict:
    """job.json, size-bounded, parsed and schema-checked (one-line DataError)."""
    from harness.records import read_json_bounded

    path = Path(path)
    if not path.is_file():
        raise DataError("job file not found", path=path)
    doc = read_json_bounded(path, MAX_JOB_BYTES)
    check(doc, path)
    return doc


def check(doc: dict, where: Path | str = "job") -> None:
    """Schema, version and paths of a job document (nothing is read from disk)."""
    from harness.records import load_schema, validate_json

    validate_json(doc, load_schema("job"), Path(where), "job document")
    for f in doc["files"]:
        safe_relative(f["path"], where)
    req = doc["request"]
    if req.get("models_file") is not None or req.get("data_dir") not in (None, "data"):
        raise DataError("a job's request may not name a models file or a data folder "
                        "(files travel in the job folder)", path=where)
    names = {f["path"] for f in doc["files"]}
    if f"devices/{req['device']}.yaml" not in names:
        raise DataError(f"the job does not ship the profile of device {req['device']!r}",
                        path=where)
    for t in req.get("tasks", []):
        if f"tasks/{t}.yaml" not in names:
            raise DataError(f"the job does not ship task {t!r}", path=where)
    if sorted(req.get("models", [])) != sorted(m["id"] for m in doc["models"]):
        raise DataError("the request's models differ from the job's models", path=where)


def safe_relative(rel: str, where: Path | str = "job") -> PurePosixPath:
    """A shipped file's path: relative, inside one of FOLDERS, no '..' or odd parts."""
    p = PurePosixPath(rel)
    if (p.is_absolute() or "\\" in rel or ":" in rel or len(p.parts) != 2
            or p.parts[0] not in FOLDERS or p.parts[1] in ("", ".", "..")
            or p.parts[1].startswith(".")):
        raise DataError(f"file path {rel!r} leaves the job folder or is not one of "
                        f"{', '.join(f + '/NAME' for f in FOLDERS)}", path=where)
    return p


def place(folder: Path, doc: dict, blobs: dict[str, bytes]) -> None:
    """Write the shipped files (`blobs`: sha256 -> bytes) into the job folder."""
    for f in doc["files"]:
        data = blobs.get(f["sha256"])
        if data is None:
            continue
        dest = folder / safe_relative(f["path"])
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)


def unpack(doc: dict, folder: Path, *, fetch: Callable[[str, int, int], bytes] | None = None,
           log: Callable[[str], None] = lambda s: None):
    """Check the job folder against `doc` and make it a project (models.yaml pointing at
    the model files, found or fetched): returns the RunRequest to run with
    SLLM_BENCH_HOME=folder. `fetch(sha256, offset, size)` reads a model's bytes."""
    import yaml

    from harness.engine.request import RunRequest

    folder = Path(folder).resolve()
    check(doc, folder / "job.json")
    for f in doc["files"]:
        path = (folder / safe_relative(f["path"])).resolve()
        if folder not in path.parents or path.is_symlink() or not path.is_file():
            raise DataError(f"shipped file {f['path']} is missing or not a plain file "
                            "inside the job folder", path=path)
        if path.stat().st_size != f["size"] or sha256_file(path) != f["sha256"]:
            raise DataError(f"shipped file {f['path']}: sha256 or size differs from the "
                            "job document", path=path)
    specs = []
    for m in doc["models"]:
        path = model_file(m, fetch=fetch, log=log)
        specs.append({**m["spec"], "id": m["id"], "sha256": m["sha256"],
                      "source": {"kind": "path", "path": str(path)}})
    catalogue = {"default": doc["models"][0]["id"], "models": specs}
    (folder / "models.yaml").write_text(yaml.safe_dump(catalogue, sort_keys=False),
                                        encoding="utf-8")
    fields = dict(doc["request"])
    if fields.get("data_dir"):
        fields["data_dir"] = str(folder / "data")
    try:
        return RunRequest(**fields)
    except Exception as e:
        raise DataError(f"invalid request in the job document: {str(e).splitlines()[0]}",
                        path=folder / "job.json") from None


def cache_dir() -> Path:
    """Models received by this device: <cache root>/models/<sha256>/<file name> (the cache
    root of harness/prepare/onnx.py: $SLLM_BENCH_CACHE, else ~/.cache/sllm-bench)."""
    from harness.prepare.onnx import cache_root

    return cache_root() / "models"


def model_file(m: dict, *, fetch=None, log=lambda s: None) -> Path:
    """The model `m` (a job's models entry) on this machine: the cache by sha256, else
    this machine's own catalogue when it has the id with the same sha256, else fetched
    (chunked, checked) into the cache. A DataError when none works."""
    name = Path(m["file"]).name
    if name in ("", ".", "..") or name != m["file"]:
        raise DataError(f"model {m['id']!r}: file name {m['file']!r} is not a plain name")
    cached = cache_dir() / m["sha256"] / name
    if cached.is_file() and cached.stat().st_size == m["size"]:
        return cached
    local = _from_catalogue(m)
    if local is not None:
        return local
    if fetch is None:
        raise DataError(f"model {m['id']!r} (sha256 {m['sha256'][:12]}...) is not on this "
                        f"machine: put it in {cached} or add it to models.yaml")
    log(f"receiving model {m['id']} ({m['size'] / 2**20:.1f} MiB)")
    return receive(m, cached, fetch)


def _from_catalogue(m: dict) -> Path | None:
    from harness.engine import resolve

    try:
        cat, cat_path = resolve.catalogue(os.environ.get("SLLM_BENCH_DEVICE_MODELS"))
        spec = cat.get(m["id"])
    except (BenchError, KeyError):
        return None
    if spec.sha256 != m["sha256"]:
        return None
    try:
        from harness.models import resolve as resolve_file

        path, digest = resolve_file(spec, cat_path.parent)
    except BenchError:
        return None
    return path if digest == m["sha256"] and path.is_file() else None


def receive(m: dict, dest: Path, fetch: Callable[[str, int, int], bytes]) -> Path:
    """Stream a model into `dest` chunk by chunk (never whole in memory), hashing as it
    comes; renamed into place only when size and sha256 match."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.part")
    h = hashlib.sha256()
    try:
        with open(tmp, "wb") as f:
            offset = 0
            while offset < m["size"]:
                chunk = fetch(m["sha256"], offset, min(CHUNK, m["size"] - offset))
                if not chunk:
                    raise DataError(f"model {m['id']!r}: the coordinator sent nothing at "
                                    f"byte {offset} of {m['size']}")
                h.update(chunk)
                f.write(chunk)
                offset += len(chunk)
        if offset != m["size"] or h.hexdigest() != m["sha256"]:
            raise DataError(f"model {m['id']!r}: received file's sha256 or size differs "
                            "(corrupt transfer)", path=dest)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def read_range(path: Path, offset: int, size: int) -> bytes:
    """Bytes [offset, offset+size) of a file (the coordinator's side of `fetch`)."""
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(min(size, CHUNK))
