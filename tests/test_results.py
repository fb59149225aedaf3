"""Results files: atomic writes, and every kind of broken file gives a one-line DataError."""

import json
import os
from pathlib import Path

import pytest

from harness.errors import DataError
from harness.records import (MAX_RECORD_BYTES, atomic_write_text, read_record, record_files,
                             write_json)
from helpers import record


def test_round_trip_validates(tmp_path):
    write_json(tmp_path / "r.json", record())
    assert read_record(tmp_path / "r.json")["backend"]["name"] == "llama_cpp"


def test_atomic_write_leaves_old_file_and_no_temp_on_failure(tmp_path, monkeypatch):
    p = tmp_path / "r.json"
    atomic_write_text(p, "old")
    renamed = []

    def failing_replace(src, dst):
        renamed.append(Path(src).read_text())  # the whole new text reached the temp file
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    from harness.errors import WriteError

    with pytest.raises(WriteError, match="r.json: cannot write: No space left"):
        write_json(p, {"x": 1})
    assert renamed == ['{\n "x": 1\n}\n']  # the failure was the rename itself
    assert p.read_text() == "old" and os.listdir(tmp_path) == ["r.json"]


@pytest.mark.parametrize("content, needle", [
    ('{"schema": "sllm-bench/run-record", "schema_ver', "not valid JSON (line 1"),
    ("[1, 2]", "not a sllm-bench/run-record file"),
    (b"\xff\xfe", "not UTF-8 text"),
])
def test_broken_files(tmp_path, content, needle):
    p = tmp_path / "bad.json"
    p.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(DataError) as e:
        read_record(p)
    assert str(e.value).startswith(str(p)) and needle in str(e.value)


def test_schema_violation_names_the_field(tmp_path):
    rec = record().to_dict()
    rec["measurements"][0]["samples"] = "fast"
    p = tmp_path / "r.json"
    p.write_text(json.dumps(rec))
    with pytest.raises(DataError, match=r"invalid record at measurements/0/samples"):
        read_record(p)


def test_future_schema_version_is_refused(tmp_path):
    rec = record().to_dict()
    rec["schema_version"] = 99
    p = tmp_path / "r.json"
    p.write_text(json.dumps(rec))
    with pytest.raises(DataError, match="unsupported schema_version 99"):
        read_record(p)


def test_oversized_file_is_refused_before_parsing(tmp_path):
    p = tmp_path / "big.json"
    with open(p, "wb") as f:
        f.truncate(MAX_RECORD_BYTES + 1)
    with pytest.raises(DataError, match="more than the"):
        read_record(p)


def test_record_files_expands_folders_and_rejects_missing(tmp_path):
    write_json(tmp_path / "a" / "records" / "1.json", record())
    write_json(tmp_path / "a" / "run.json", {"run_id": "x"})
    assert [p.name for p in record_files([tmp_path / "a"])] == ["1.json"]
    with pytest.raises(DataError, match="no such file or folder"):
        record_files([tmp_path / "missing"])
