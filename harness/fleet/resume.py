"""`fleet run --resume OUT`: what an earlier fleet run asked (out/fleet.json) and, per
device, its run folders (the coordinator reads the records there and checks each against
the device's plan before telling the device what to skip: Fleet._verified), the last
folder's run id kept so the new records land in the same folder."""

from __future__ import annotations

from pathlib import Path

from harness.errors import DataError


def state(out: Path) -> tuple[str, dict, dict, bool]:
    from pydantic import ValidationError

    from harness.engine.request import RunRequest
    from harness.records import read_json_bounded

    path = out / "fleet.json"
    if not path.is_file():
        raise DataError("not a fleet run folder (no fleet.json)", path=out)
    data = read_json_bounded(path)
    try:
        kind = data["kind"]
        requests = {d: RunRequest(**r) for d, r in data["requests"].items()}
        devices = data["devices"]
    except (KeyError, TypeError, ValidationError) as e:
        raise DataError(f"fleet.json is not a fleet manifest ({str(e).splitlines()[0]})",
                        path=path) from None
    resume = {}
    for d in requests:
        dirs = (devices.get(d) or {}).get("run_dirs") or []
        if not isinstance(dirs, list) or not all(
                isinstance(n, str) and n and Path(n).name == n for n in dirs):
            raise DataError(f"fleet.json: run_dirs of {d!r} are not folder names", path=path)
        if dirs and (out / d / dirs[-1]).is_dir():
            resume[d] = {"run_id": dirs[-1], "run_dirs": dirs}
    return kind, requests, resume, bool(data.get("shard"))
