"""Consumers recompute from samples and budgets: a forged number is refused, not shown.

A record whose stored summary disagrees with its samples, an impossible value, and a
verdict whose statuses do not follow from its own numbers are each refused by the
leaderboard, the report and the gate with one line naming the file and the field.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_cli
from harness.errors import DataError
from harness.records import read_record, read_verdict, write_json
from helpers import record, synthetic_results


def _forged_summary(folder: Path) -> Path:
    data = record(decode=(5.0, 5.2, 4.9)).to_dict()
    m = next(m for m in data["measurements"] if m["metric"] == "decode_tps")
    m["summary"]["median"] = 9999.0
    write_json(folder / "forged.json", data)
    return folder / "forged.json"


def _one_line(r) -> str:
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr
    return lines[0]


def test_a_forged_summary_is_refused_on_read(tmp_path):
    path = _forged_summary(tmp_path)
    with pytest.raises(DataError, match=r"decode_tps\)/summary/median is 9999 but its "
                                        r"samples give 5"):
        read_record(path)


@pytest.mark.parametrize("command", ["leaderboard", "report", "compare"])
def test_every_consumer_refuses_a_forged_summary(tmp_path, command):
    forged = _forged_summary(tmp_path / "forged")
    honest = tmp_path / "honest" / "r.json"
    write_json(honest, record().to_dict())
    args = {"leaderboard": [str(forged.parent), "-o", str(tmp_path / "lb.json")],
            "report": [str(forged.parent), "-o", str(tmp_path / "rep")],
            "compare": [str(honest.parent), str(forged.parent)]}[command]
    r = run_cli(command, *args)
    if command == "leaderboard":  # every unreadable file is skipped with a warning
        assert r.returncode == 2 and "Traceback" not in r.stderr
        line = r.stderr.splitlines()[0]
    else:
        line = _one_line(r)
    assert "forged.json" in line and "summary/median" in line
    assert not (tmp_path / "lb.json").exists() and not (tmp_path / "rep").exists()


def test_the_leaderboard_ranks_the_honest_row_and_names_the_forged_file(tmp_path):
    _forged_summary(tmp_path / "res")
    write_json(tmp_path / "res" / "honest.json", record(backend="onnxruntime").to_dict())
    r = run_cli("leaderboard", str(tmp_path / "res"), "-o", str(tmp_path / "lb.json"))
    assert r.returncode == 1 and "1 file(s) rejected" in r.stderr, r.stderr
    assert "rejected" in r.stderr and "forged.json" in r.stderr
    doc = json.loads((tmp_path / "lb.json").read_text())
    assert [row["speed"]["decode_tps"] for row in doc["rows"]] == [100.0]


def test_statistics_come_from_the_samples_not_the_stored_summary():
    data = record(decode=(5.0, 5.2, 4.9)).to_dict()
    m = next(m for m in data["measurements"] if m["metric"] == "decode_tps")
    del m["summary"]["median"]  # a partial cache: what is there is checked, the rest derived
    from harness.records import Record

    assert Record(data).stat("decode_tps") == 5.0


def _forge_verdict(root: Path, change) -> Path:
    run = synthetic_results(root)
    path = next(run.glob("verdict*.json"))
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))
    return path


def test_a_pass_above_failing_budgets_is_refused(tmp_path):
    def all_fail(doc):
        for b in doc["budgets"]:
            if b["status"] == "pass":
                b["status"] = "fail"
                b["max"], b["min"] = (-1.0 if b.get("max") is not None else None,
                                      1e12 if b.get("min") is not None else None)
        doc["verdict"] = "pass"
    path = _forge_verdict(tmp_path, all_fail)
    with pytest.raises(DataError, match="field verdict says pass but its budgets give fail"):
        read_verdict(path)
    line = _one_line(run_cli("report", str(path.parent), "-o", str(tmp_path / "rep")))
    assert path.name in line


def test_a_negative_speed_that_passes_is_refused(tmp_path):
    def negative(doc):
        b = next(b for b in doc["budgets"] if b["metric"] == "decode_tps")
        b.update(measured=-5.0, bound=-6.0, min=1.0, status="pass")
    path = _forge_verdict(tmp_path, negative)
    with pytest.raises(DataError, match=r"decode_tps\)/measured holds -5.0: a tokens/s "
                                        "value cannot be negative"):
        read_verdict(path)


def test_a_status_that_its_numbers_contradict_is_refused(tmp_path):
    def flipped(doc):
        b = next(b for b in doc["budgets"] if b["metric"] == "ttft_ms")
        b.update(measured=5000.0, bound=6000.0, max=1000.0, status="pass")
    path = _forge_verdict(tmp_path, flipped)
    with pytest.raises(DataError, match=r"status says pass but its measured value and "
                                        "bound give fail"):
        read_verdict(path)


def test_honest_verdicts_read_back(tmp_path):
    run = synthetic_results(tmp_path)
    for path in run.glob("verdict*.json"):
        assert read_verdict(path)["verdict"] in ("pass", "fail", "incomplete")


@pytest.mark.parametrize("command", ["report", "compare"])
def test_json_nested_thousands_deep_is_one_line(tmp_path, command):
    (tmp_path / "deep").mkdir()
    (tmp_path / "deep" / "x.json").write_text('{"a":' * 5000 + "1" + "}" * 5000)
    d = str(tmp_path / "deep")
    args = {"report": [d, "-o", str(tmp_path / "rep")], "compare": [d, d]}[command]
    assert "nested more than 64 levels" in _one_line(run_cli(command, *args))
