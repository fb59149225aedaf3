"""The one number formatter: every table, report and message shows numbers through fmt()."""

from __future__ import annotations

import math

def fmt(v, style: str = "auto", digits: int | None = None) -> str:
    """The one number formatter. Styles:

    auto    for people: about 4 significant digits, '-' when missing, a [low, high] pair
            as 'low .. high' (`digits` fixes the decimals)
    fixed   `digits` decimals (default 1), '-' when missing
    sig4    4 significant digits ('{:.4g}'), a list as 'a .. b'
    gate    one decimal from 10 to 10^7, else 3 significant digits
    pct     a signed percentage with one decimal ('+1.5%')
    p       a p-value: '<0.0001' below 10^-4, else 2 significant digits
    """
    if style == "fixed":
        return "-" if v is None else f"{v:.{1 if digits is None else digits}f}"
    if style == "sig4":
        if v is None:
            return "-"
        if isinstance(v, list):
            return " .. ".join(fmt(x, "sig4") for x in v)
        return f"{v:.4g}"
    if style == "gate":
        if v is None:
            return "-"
        return f"{v:.1f}" if 10 <= abs(v) < 1e7 else f"{v:.3g}"
    if style == "pct":
        return "-" if v is None else f"{v * 100:+.1f}%"
    if style == "p":
        if v is None:
            return "-"
        return "<0.0001" if v < 1e-4 else f"{v:.2g}"
    return _auto(v, digits)


def _auto(v, digits: int | None) -> str:
    if isinstance(v, (list, tuple)):
        return " .. ".join(_auto(x, digits) for x in v) or "-"
    if v is None or isinstance(v, bool) or not isinstance(v, (int, float)):
        return "-" if v is None else str(v)
    if isinstance(v, float) and not math.isfinite(v):
        return "-"
    if digits is not None:
        return f"{v:.{digits}f}"
    if isinstance(v, int) or float(v).is_integer() and abs(v) < 1e6:
        return str(int(v))
    return f"{v:.{decimals(v)}f}" if abs(v) >= 1 or v == 0 else f"{v:.3g}"


def decimals(v: float) -> int:
    """Decimals a number of this size is shown with (auto style)."""
    a = abs(v)
    return 0 if a >= 1000 else 1 if a >= 10 else 2 if a >= 1 else 3


def pm(value, spread) -> str:
    """'value ± spread', the spread with the value's decimals (just the value when the
    spread is 0 or unknown)."""
    if value is None:
        return "-"
    if not spread or not isinstance(spread, (int, float)) or not math.isfinite(spread):
        return fmt(value)
    d = decimals(value) if isinstance(value, float) and abs(value) >= 0.001 else 4
    return f"{fmt(value)} ± {spread:.{d}f}"
