"""The metric registry: one entry per metric, and the only module that spells a unit.

A metric defined only here (registered for the test) reaches the flat rows, the printed
table and the gate's decision with no other module touched.
"""

from __future__ import annotations

import ast
import io
from pathlib import Path

import pytest

from harness import metrics, numbers
from harness.cli import printers
from harness.gate.compare import metric_rows
from harness.gate.config import GateConfig
from harness.records import Measurement, flat_row
from helpers import record

PKG = Path(__file__).resolve().parent.parent / "harness"
#: words that are units of some metric but also ordinary keys and words in code
GENERIC = {"tokens", "words", "bytes", "chars", "count", "ratio", "s", "%"}
#: (file, string): a unit's spelling used as something else
ALLOWED = {("harness/cli/parity.py", "ppl")}  # a column label of the parity table


def _units() -> set[str]:
    out = set()
    for m in metrics.all_metrics():
        out |= {u for u in (m.unit, m.budget_unit, m.report_unit) if u}
    return out


def _keys(tree: ast.AST) -> set[int]:
    """ids of string constants used as a dict key or a subscript (names, not units)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            out |= {id(k) for k in node.keys if k is not None}
        elif isinstance(node, ast.Subscript):
            out.add(id(node.slice))
        elif isinstance(node, ast.Compare):
            out |= {id(c) for c in [node.left, *node.comparators]}
    return out


def test_no_module_but_the_registry_spells_a_unit():
    units = _units() - GENERIC
    found = []
    for path in sorted(PKG.rglob("*.py")):
        if path == PKG / "metrics.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        keys = _keys(tree)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and node.value in units and id(node) not in keys
                    and (str(path.relative_to(PKG.parent)), node.value) not in ALLOWED):
                found.append(f"{path.relative_to(PKG.parent)}:{node.lineno} {node.value!r}")
            # a Measurement built with a literal unit, generic ones included
            if (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Measurement"
                    and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant)):
                found.append(f"{path.relative_to(PKG.parent)}:{node.lineno} Measurement unit")
    assert not found, "units spelled outside harness/metrics.py: " + ", ".join(found)


def test_the_checker_sees_a_spelled_unit(tmp_path):
    tree = ast.parse('x = Measurement("decode_tps", "tokens/s", True, ())\ny = {"ms": 1}')
    consts = [n for n in ast.walk(tree) if isinstance(n, ast.Constant)
              and n.value in _units() - GENERIC and id(n) not in _keys(tree)]
    assert [c.value for c in consts] == ["tokens/s"]


def test_every_entry_is_consistent():
    for m in metrics.all_metrics():
        assert m.definition, m.name
        if m.source:
            assert metrics.get(m.source) is not None, m.name
        assert m.aggregate in ("median", "mean", "ratio", "single", "max", "pooled",
                               "p50", "p90", "p99"), m.name
        if m.replaces:
            assert metrics.get(m.replaces) is not None
    budget_metrics = ("ttft_ms", "prefill_tps", "decode_tps", "itl_p50_ms", "itl_p90_ms",
                      "itl_p99_ms", "load_s", "peak_rss_mb", "perplexity", "acc", "acc_norm",
                      "determinism", "rss_slope_mb_per_min", "sustained_ratio")
    for name in budget_metrics:
        assert metrics.entry(name).title, name


def test_measurement_of_takes_unit_and_direction_from_the_registry():
    m = Measurement.of("decode_tps", (1.0, 2.0))
    assert (m.unit, m.higher_is_better) == (metrics.TPS, True)
    with pytest.raises(KeyError, match="not in the registry"):
        Measurement.of("no_such_metric", (1.0,))


def test_bounds_refuse_impossible_values():
    assert metrics.out_of_bounds("decode_tps", "", -5.0) == "a tokens/s value cannot be negative"
    assert metrics.out_of_bounds("decode_tps", "", 5.0) is None
    assert "above the highest possible decode_tps" in metrics.out_of_bounds(
        "decode_tps", "", 2e7)
    assert metrics.out_of_bounds("acc", "", 1.5) is not None
    assert metrics.out_of_bounds("ppl_diff_pct", "%", -5.0) is None  # can be negative
    assert metrics.out_of_bounds("unknown", "ms", -1.0) is not None  # by the recorded unit
    assert metrics.out_of_bounds("unknown", "odd", -1.0) is None
    assert metrics.out_of_bounds("decode_tps", "", float("nan")) == "not a possible measurement"


def test_the_one_formatter():
    assert numbers.fmt(None) == "-" and numbers.fmt(1234.5) == "1234"
    assert numbers.fmt(12.345) == "12.3" and numbers.fmt([1.5, 2.5]) == "1.50 .. 2.50"
    assert numbers.fmt(0.0123, "sig4") == "0.0123" and numbers.fmt([1, 2], "sig4") == "1 .. 2"
    assert numbers.fmt(12.34, "gate") == "12.3" and numbers.fmt(0.5, "gate") == "0.5"
    assert numbers.fmt(0.015, "pct") == "+1.5%" and numbers.fmt(1e-5, "p") == "<0.0001"
    assert numbers.fmt(3.14159, "fixed", 2) == "3.14" and numbers.pm(12.5, 0.5) == "12.5 ± 0.5"


WIDGET = metrics.Metric("widget_tps", metrics.TPS, True, "widgets per second (test only)",
                        label="widget tok/s", digits=1, flat="speed",
                        table=metrics.SPEED_TABLE)


def _with_widget(values):
    base = record()
    data = base.to_dict()
    data["measurements"] = data["measurements"] + [
        Measurement("widget_tps", "tokens/s", True, tuple(values)).to_dict()]
    from harness.records import Record

    return Record(data)


def test_a_metric_defined_only_here_reaches_flat_rows_table_and_gate():
    with metrics.registered(WIDGET):
        fast, slow = _with_widget([100.0, 101.0, 99.0, 100.5, 99.5, 100.2, 99.8, 100.1]), \
            _with_widget([50.0, 51.0, 49.0, 50.5, 49.5, 50.2, 49.8, 50.1])
        row = flat_row(fast)
        assert row["widget_tps"] == pytest.approx(100.05)
        assert "widget_tps" in printers.columns()
        out = io.StringIO()
        p = printers.make("markdown", out)
        p.header()
        p.record(fast)
        p.footer()
        head, _, line = out.getvalue().strip().splitlines()[-3:]
        assert "widget tok/s" in head and "| 100.0 |" in line + " |"
        rows = {r["metric"]: r for r in metric_rows(fast, slow, GateConfig())}
        assert rows["widget_tps"]["decision"] == "regression"
        assert rows["widget_tps"]["unit"] == metrics.TPS
    assert "widget_tps" not in printers.columns()
    assert metrics.get("widget_tps") is None


def test_the_docs_list_of_report_only_metrics_is_the_registrys():
    text = (PKG.parent / "docs" / "gate.md").read_text(encoding="utf-8")
    part = text.split("<!-- report-only: begin -->")[1].split("<!-- report-only: end -->")[0]
    import re

    listed = set(re.findall(r"^\| `([a-z0-9_]+)` \|", part, flags=re.M))
    assert listed == {m.name for m in metrics.all_metrics() if not m.gated}


def test_one_gated_metric_per_measurement():
    for name in ("energy_j_per_token", "tokens_per_j", "text_decode_chars_per_s",
                 "window_nll", "target_perplexity", "soak_t_s", "soak_decode_tps",
                 "soak_rss_mb", "prefill_tps", "e2e_ms"):
        assert not metrics.entry(name).gated, name
    for name in ("ttft_ms", "decode_tps", "itl_ms", "text_decode_tps", "target_logprob",
                 "token_perplexity", "acc", "peak_rss_mb"):
        assert metrics.entry(name).gated, name
