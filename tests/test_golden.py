"""Golden files: the same records give the same outputs, byte for byte.

tests/golden/records/ holds fixed fake-backend records (base and current runs, a verify
run; made by tests/golden/build_fixture.py). Every consumer's output on them is compared
with tests/golden/expected/: run's printers (markdown, csv, jsonl, json), the verdict
table and document, compare (markdown and json), leaderboard JSON and report.md. The
plans that run and verify print (--dry-run) are compared too. Values that change with
every invocation (creation time, the harness's own commit) are masked.

SLLM_BENCH_UPDATE_GOLDEN=1 rewrites the expected files (only when an output is meant to
change: say why in the commit).
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
from pathlib import Path

import pytest

from conftest import run_cli, write

GOLDEN = Path(__file__).resolve().parent / "golden"
RECORDS = GOLDEN / "records"
EXPECTED = GOLDEN / "expected"
REPO = GOLDEN.parent.parent  # the clone's path differs between machines (CI clones elsewhere)
UPDATE = bool(os.environ.get("SLLM_BENCH_UPDATE_GOLDEN"))
MASKS = [
    (re.compile(r'"(generated_at|created_at)": "[^"]*"'), r'"\1": "<time>"'),
    (re.compile(r'"git_commit": "[0-9a-f]{40}(\+dirty)?"'), '"git_commit": "<commit>"'),
    (re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d)?(\+00:00|Z| UTC)?"), "<time>"),
]


def mask(text: str, root: Path | None = None) -> str:
    if root is not None:
        text = text.replace(str(root), "<root>")
    text = text.replace(str(REPO), "<repo>")
    for pattern, repl in MASKS:
        text = pattern.sub(repl, text)
    return text


def check(name: str, text: str) -> None:
    path = EXPECTED / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"no golden file {path}: run with SLLM_BENCH_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), f"output differs from {path}"


@pytest.fixture
def records(tmp_path) -> Path:
    dst = tmp_path / "records"
    shutil.copytree(RECORDS, dst)
    return dst


def _read_all(folder: Path) -> list:
    from harness.records import read_record, record_files

    return [read_record(p) for p in record_files([folder])
            if not p.name.startswith("verdict")]


@pytest.mark.parametrize("fmt", ["markdown", "csv", "jsonl", "json"])
def test_printers(records, fmt):
    from harness.cli.printers import make

    out = io.StringIO()
    printer = make(fmt, out)
    printer.header()
    for rec in _read_all(records / "base") + _read_all(records / "verify"):
        printer.record(rec)
    printer.footer()
    check(f"printer.{fmt}", out.getvalue())


def test_verdict_table_and_document(records):
    from harness.config import load_device
    from harness.verdict import markdown_table, verdict

    device = load_device(str(records / "fake-laptop.yaml"))
    recs = _read_all(records / "verify")
    doc = verdict(recs, device, model={"id": "fake-ok", "sha256": recs[0].model["sha256"]},
                  backend="fake", run_id=recs[0].run_id, env={}, host_warnings=["w"])
    check("verdict.md", markdown_table(doc))
    doc.pop("created_at")
    check("verdict.json", json.dumps(doc, indent=1, sort_keys=True) + "\n")


@pytest.mark.parametrize("fmt", ["markdown", "json"])
def test_compare(records, fmt):
    r = run_cli("compare", str(records / "base"), str(records / "current"), "--format", fmt)
    assert r.returncode == 1, r.stderr
    check(f"compare.{fmt}", mask(r.stdout, records))


def test_leaderboard(records, tmp_path):
    out = tmp_path / "lb.json"
    r = run_cli("leaderboard", str(records), "-o", str(out))
    assert r.returncode == 0, r.stderr
    check("leaderboard.json", mask(out.read_text(encoding="utf-8"), records))


def test_report_markdown(records, tmp_path):
    r = run_cli("report", str(records / "verify"), "-o", str(tmp_path / "rep"))
    assert r.returncode == 0, r.stderr
    check("report.md", mask((tmp_path / "rep" / "report.md").read_text(encoding="utf-8"),
                            records))


def test_run_and_verify_plans(project):
    write(project / "devices" / "fake-laptop.yaml",
          (RECORDS / "fake-laptop.yaml").read_text(encoding="utf-8"))
    shutil.copytree(Path(__file__).resolve().parent.parent / "tasks", project / "tasks")
    run = run_cli("run", "-b", "fake", "-p", "8,16", "-n", "8", "-r", "5", "--tasks",
                  "mc_en,prose_en", "--limit", "6", "--dry-run")
    assert run.returncode == 0, run.stderr
    verify = run_cli("verify", "-d", "fake-laptop", "-b", "fake", "-r", "4", "--limit", "6",
                     "--soak-seconds", "1", "--dry-run")
    assert verify.returncode == 0, verify.stderr
    check("plans.txt", mask(run.stderr + "----\n" + verify.stderr, project))
