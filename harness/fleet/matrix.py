"""The verdict matrix of a fleet: one row per model (and backend), one column per device,
each cell PASS, FAIL, NOT VALID (a budget measured under conditions that void it, none
failed) or INCOMPLETE (a budget not measured, or no verdict: the device was lost).

Read from the run folders under a fleet's --out (out/<device>/<run id>/verdict*.json), the
latest verdict per model, backend and device; `lost` names devices whose job never gave one.
"""

from __future__ import annotations

from pathlib import Path

CELLS = ("PASS", "FAIL", "NOT VALID", "INCOMPLETE")


def cell(doc: dict) -> str:
    """One verdict document as a matrix cell."""
    if doc["verdict"] == "pass":
        return "PASS"
    if doc["verdict"] == "fail":
        return "FAIL"
    states = {b["status"] for b in doc["budgets"]}
    return "NOT VALID" if "not_valid" in states and "not_measured" not in states \
        else "INCOMPLETE"


def collect(out: Path, devices: list[str] | None = None) -> dict[tuple[str, str], dict]:
    """(model / backend, device) -> the cell and where it came from, from `out`."""
    from harness.records import is_verdict_file, read_verdict

    found: dict[tuple[str, str], dict] = {}
    for dev_dir in sorted(p for p in Path(out).iterdir() if p.is_dir()):
        if devices is not None and dev_dir.name not in devices:
            continue
        for path in sorted(dev_dir.glob("*/*.json")):  # run ids sort by time: latest wins
            if not is_verdict_file(path):
                continue
            doc = read_verdict(path)
            row = f"{doc['model']['id']} / {doc['backend']}"
            found[(row, dev_dir.name)] = {"cell": cell(doc), "path": str(path)}
    return found


def table(found: dict[tuple[str, str], dict], devices: list[str]
          ) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the matrix; a device without a verdict is INCOMPLETE."""
    rows = sorted({r for r, _ in found}) or ["(no verdict)"]
    head = ["model / backend", *devices]
    body = [[r, *(found.get((r, d), {}).get("cell", "INCOMPLETE") for d in devices)]
            for r in rows]
    return head, body


def markdown(found: dict, devices: list[str], lost: dict[str, str] | None = None) -> str:
    from harness import markdown as md

    head, body = table(found, devices)
    lines = md.table(head, body)
    lines += [f"> {d}: {why}" for d, why in (lost or {}).items()]
    return "\n".join(lines) + "\n"
