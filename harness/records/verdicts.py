"""A verdict document checked against itself: its statuses are recomputed, never trusted.

Each budget that says pass or fail is judged again from its own numbers (the one-sided
bound where the verdict gave one, else the measured value, against its min and max), its
measured value must be possible for the metric (harness.metrics bounds: no negative
speed), and the overall verdict must follow from the budgets (fail if any fails,
incomplete if any is not measured or not valid, or there are none; else pass). A budget
that is not measured or not valid cannot be re-judged (that takes the records), and it
can never make a verdict pass. Any disagreement is a DataError naming the file and field.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from harness import metrics
from harness.errors import DataError


def _num(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def judged(b: Mapping) -> str | None:
    """pass or fail from the budget's own numbers; None when they do not decide it."""
    measured, bound = b.get("measured"), b.get("bound")
    if not _num(measured):
        return None
    if isinstance(bound, list) and len(bound) == 2 and all(map(_num, bound)):
        lower, upper = bound
    elif _num(bound):
        lower = upper = bound
    else:
        lower = upper = measured
    lo, hi = b.get("min"), b.get("max")
    ok = (hi is None or upper <= hi) and (lo is None or lower >= lo)
    return "pass" if ok else "fail"


def overall(statuses: list[str]) -> str:
    """The verdict a list of budget statuses gives (module docstring)."""
    states = set(statuses)
    if "fail" in states:
        return "fail"
    return "incomplete" if states & {"not_measured", "not_valid"} or not states else "pass"


def check_verdict(doc: Mapping, path: Path) -> None:
    """Refuse a verdict whose statuses do not follow from its numbers."""
    budgets = doc.get("budgets") or []
    for i, b in enumerate(budgets):
        where = f"budgets/{i} ({b.get('metric')})"
        v = b.get("measured")  # (a statistical bound may stray past it: an older
        # verdict's normal approximation gave accuracies negative lower bounds)
        why = metrics.out_of_bounds(str(b.get("metric")), str(b.get("unit") or ""),
                                    float(v)) if _num(v) else None
        if why:
            raise DataError(f"field {where}/measured holds {v}: {why}", path=path)
        if b.get("status") in ("pass", "fail"):
            again = judged(b)
            if again is None:
                raise DataError(f"field {where}/status says {b['status']} but no measured "
                                "value supports it", path=path)
            if again != b["status"]:
                raise DataError(f"field {where}/status says {b['status']} but its measured "
                                f"value and bound give {again}", path=path)
    want = overall([str(b.get("status")) for b in budgets])
    if doc.get("verdict") != want:
        raise DataError(f"field verdict says {doc.get('verdict')} but its budgets give "
                        f"{want}", path=path)
