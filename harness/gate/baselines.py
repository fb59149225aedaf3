"""Saved baselines: one folder per device profile under results/baselines/.

results/baselines/<device>/records/*.json are copies of run records (successful runs
only, one record per match key); results/baselines/<device>/baseline.json is the
manifest: device, when it was saved, from which runs, and the provenance every record
shares (host fingerprint, runtime versions, harness version and git commit). Saving
replaces the device's previous baseline. Records from several hosts or runtime versions
are refused: a baseline describes one environment.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

from harness.errors import DataError
from harness.records import Record

MANIFEST = "baseline.json"
MANIFEST_SCHEMA = "sllm-bench/baseline"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def root(folder: str | Path | None = None) -> Path:
    from harness.config import project_root

    return Path(folder) if folder else project_root() / "results" / "baselines"


def record_paths(paths: list[str | Path]) -> list[Path]:
    """Record files under files and folders; a saved baseline's manifest is skipped."""
    from harness.records import record_files

    return [p for p in record_files(paths) if p.name != MANIFEST]


def resolve(name_or_path: str, folder: str | Path | None = None) -> Path:
    """An existing file or folder, else the saved baseline of that device name."""
    p = Path(name_or_path)
    if p.exists():
        return p
    if _NAME.match(name_or_path):
        saved = root(folder) / name_or_path
        if (saved / MANIFEST).is_file():
            return saved
    raise DataError("no such file or folder, nor a saved baseline of that name "
                    "(see `sllm-bench baseline show`)", path=p)


def _provenance(records: list[tuple[Path, Record]]) -> dict:
    """The environment all records share; differing hosts or runtimes are bad input."""
    first = records[0][1].env
    for path, rec in records[1:]:
        env = rec.env
        if env["host"]["id"] != first["host"]["id"]:
            raise DataError(f"host {env['host']['id']} differs from {first['host']['id']} "
                            "of the other records: save one host's results", path=path)
        if env["runtimes"] != first["runtimes"]:
            raise DataError("runtime versions differ from the other records: save one "
                            "environment's results", path=path)
    host = first["host"]
    return {"host": {k: host.get(k) for k in ("id", "cpu_model", "cores_logical",
                                              "cores_allowed", "memory_bytes", "os",
                                              "os_release", "machine")},
            "runtimes": dict(first["runtimes"]), "harness_version": first["harness_version"],
            "git_commit": first["git_commit"]}


def save(results: list[str], device: str | None = None,
         folder: str | Path | None = None,
         check: Callable[[Path], list[str]] | None = None) -> tuple[Path, list[str]]:
    """Copy records into <root>/<device>/; returns the folder and notes for the user.
    `check`, if given, reads the staged copy's records folder before the swap and returns
    more notes (once swapped, a concurrent save may already have replaced the folder)."""
    from harness.gate import config as gate_config
    from harness.records import new_run_id, now_iso, read_record, write_json

    records = [(p, read_record(p)) for p in record_paths(results)]
    if not records:
        raise DataError(f"no record files in {', '.join(results)}")
    devices = sorted({r.device for _, r in records})
    if device is None and len(devices) > 1:
        raise DataError(f"records of several device profiles ({', '.join(devices)}): "
                        "choose one with --device")
    device = device or devices[0]
    if not _NAME.match(device):
        raise DataError(f"device name {device!r} is not a plain name")
    chosen = [(p, r) for p, r in records if r.device == device]
    if not chosen:
        raise DataError(f"no record of device {device!r} (found: {', '.join(devices)})")
    notes = [f"skipped failed run {r.label()} ({p})" for p, r in chosen if not r.ok]
    ok = [(p, r) for p, r in chosen if r.ok]
    if not ok:
        raise DataError(f"no successful run of device {device!r} to save")
    ignore = set(gate_config.load().ignore_params)
    seen: dict[tuple, Path] = {}
    for p, r in ok:
        k = r.key(ignore)
        if k in seen:
            raise DataError(f"same run as {seen[k]} ({r.label()}): save one run's records",
                            path=p)
        seen[k] = p
    manifest = {"schema": MANIFEST_SCHEMA, "device": device, "saved_at": now_iso(),
                "runs": sorted({r.run_id for _, r in ok}), **_provenance(ok),
                "records": []}
    from harness.records import check_writable_dir

    base = check_writable_dir(root(folder), "--baselines-dir")
    tmp = base / f".{device}.tmp-{new_run_id()}"
    (tmp / "records").mkdir(parents=True)
    try:
        for p, r in ok:
            name = p.name if p.name not in manifest["records"] else f"{r.run_id}-{p.name}"
            shutil.copyfile(p, tmp / "records" / name)
            manifest["records"].append(name)
        write_json(tmp / MANIFEST, manifest)
        if check is not None:
            notes += check(tmp / "records")
        target = base / device
        old = base / f".{device}.old-{new_run_id()}"
        with _locked(base):  # concurrent saves swap one at a time; the last one wins
            if target.exists():
                target.rename(old)
            try:
                tmp.rename(target)
            except OSError:
                if old.exists():
                    old.rename(target)
                raise
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    notes.append(f"saved {len(ok)} record(s) of device {device!r} from host "
                 f"{manifest['host']['id']}")
    return target, notes


@contextlib.contextmanager
def _locked(base: Path):
    """An exclusive lock on the baselines folder (flock; where the platform has none, the
    swap is unguarded, as before)."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(base / ".lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def read_manifest(folder: Path) -> dict:
    path = folder / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise DataError(f"cannot read: {e.strerror}", path=path) from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise DataError("not valid JSON", path=path) from None
    if not isinstance(data, dict) or data.get("schema") != MANIFEST_SCHEMA:
        raise DataError(f"not a {MANIFEST_SCHEMA} manifest", path=path)
    return data


def saved(device: str | None = None, folder: str | Path | None = None
          ) -> tuple[Path, list[tuple[dict, list[Record]]]]:
    """The saved baselines (one device, or all under root(folder)): the root and, per
    baseline, its manifest and records."""
    from harness.records import read_record, record_files

    base = root(folder)
    if device:
        folders = [resolve(device, folder)]
    else:
        folders = sorted(d for d in base.iterdir() if (d / MANIFEST).is_file()
                         and not d.name.startswith(".")) if base.is_dir() else []
    return base, [(read_manifest(d), [read_record(p) for p in record_files([d / "records"])])
                  for d in folders]
