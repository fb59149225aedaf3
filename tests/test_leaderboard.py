"""Leaderboard: folding (latest per key, --all), rejected inputs, schema, score and rank.
The ranking rules themselves (parity, workloads, hosts, conditions, floors, Pareto) are in
test_leaderboard_ranking.py."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.resources import files
from pathlib import Path

import jsonschema
import pytest

from conftest import ROOT, run_cli
from harness.leaderboard import build as lb
from harness.records import Measurement
from harness.leaderboard.inputs import collect
from harness.leaderboard.publish import PAGE_FILES, write_page
from harness.records import MAX_RECORD_BYTES, Record, write_json
from harness.leaderboard.rank import policy
from helpers import T0, quality_record, speed_record
from leaderboard_fixtures import HOST, speed


def verdict(run_id="r1", model="m", backend="llama_cpp", device="host", outcome="pass"):
    return {"schema": "sllm-bench/verdict", "schema_version": 1, "run_id": run_id,
            "created_at": T0, "device": {"name": device}, "model": {"id": model,
            "sha256": "ab" * 32}, "backend": backend, "verdict": outcome,
            "budgets": [{"metric": "decode_tps", "min": 20, "max": None, "prompt_tokens": 128,
                         "task": None, "measured": 100.0, "bound": 95.0, "status": "pass",
                         "detail": "ok"}], "env": {}}


def build(records, verdicts=(), **kw):
    doc = lb.build(records, list(verdicts), **kw)
    lb.validate(doc)  # every document the module builds is valid
    return doc


# ------------------------------------------------------------------ folding
def test_latest_result_per_key_wins_and_all_keeps_every_one():
    old = speed_record(decode=50.0, run_id="a", finished="2026-01-01T00:00:00+00:00")
    new = speed_record(decode=70.0, run_id="b", finished="2026-01-02T09:00:00+09:00")
    other = speed_record(prompt=512, run_id="a", seq=1)
    doc = build([new, old, other])
    rows = {(r["settings"]["prompt_tokens"]): r for r in doc["rows"]}
    assert len(doc["rows"]) == 2 and rows[128]["speed"]["decode_tps"] == 70.0
    assert rows[128]["provenance"]["run_id"] == "b"
    assert doc["sources"]["superseded_records"] == 1 and doc["keep"] == "latest"
    doc_all = build([new, old, other], keep_all=True)
    assert len(doc_all["rows"]) == 3 and doc_all["sources"]["superseded_records"] == 0


def test_a_backend_setting_makes_another_row_and_the_page_names_it():
    default = speed_record(decode=70.0, run_id="a")
    fa_off = speed_record(decode=60.0, run_id="b", options={"flash_attn": "off"})
    doc = build([default, fa_off])
    rows = {json.dumps(r["settings"].get("backend_options")): r for r in doc["rows"]}
    assert len(doc["rows"]) == 2 and doc["sources"]["superseded_records"] == 0
    assert rows['{"flash_attn": "off"}']["speed"]["decode_tps"] == 60.0
    assert rows["null"]["speed"]["decode_tps"] == 70.0  # no setting: no key, as before
    assert len({r["group"] for r in doc["rows"]}) == 1  # the same workload: ranked together
    page = (files("harness.leaderboard") / "page" / "app.js").read_text(encoding="utf-8")
    assert "settings.backend_options" in page


def test_failed_other_and_duplicate_records_are_counted_not_rows():
    ok = speed_record()
    failed = speed_record(backend="onnxruntime", seq=1, error={"kind": "crash", "message": "x"})
    other = Record({**speed_record(seq=0).to_dict(),  # verify reuses a speed record's seq
                    "kind": "determinism",
                    "task": {"name": "determinism", "version": 1, "kind": "determinism"}})
    doc = build([ok, Record(ok.to_dict()), failed, other])
    s = doc["sources"]
    assert [r["backend"] for r in doc["rows"]] == ["llama_cpp"]
    assert (s["records"], s["failed_records"], s["other_records"], s["duplicate_records"]) == \
        (3, 1, 1, 1)
    assert doc["rows"][0]["unranked"] == [{"rule": "conditions",
                                           "reason": "conditions not recorded"}]


def test_row_carries_speed_memory_and_provenance():
    (row,) = build([speed_record()])["rows"]
    assert row["speed"]["ttft_ms"] == 50.0 and row["speed"]["itl_p50_ms"] == 10.0
    assert row["memory"] == {"peak_rss_mb": 200.0, "rss_after_load_mb": 180.0,
                             "model_size_mb": 93.8}
    p = row["provenance"]
    assert p["harness_version"] and p["runtimes"]["python"] and len(p["host"]["id"]) == 16
    assert row["model"]["sha256"] == "ab" * 32 and p["date"] == T0


def test_quality_latest_per_task_attached_to_same_model_and_backend():
    recs = [speed_record(), speed_record(backend="onnxruntime", seq=1),
            quality_record(acc=(0.0, 0.0), run_id="q0", finished="2025-12-01T00:00:00+00:00"),
            quality_record(acc=(1.0, 0.0, 1.0, 1.0), run_id="q1"),
            quality_record(task="wikitext2", run_id="q2"),
            quality_record(task="arc_easy", acc=(0.0,), run_id="q3", device="laptop",
                           finished="2026-02-01T00:00:00+00:00")]
    by_backend = {r["backend"]: r for r in build(recs)["rows"]}
    arc, wiki = by_backend["llama_cpp"]["quality"]
    # the same device profile wins over a later result of another profile
    assert (arc["task"], arc["metrics"], arc["n"], arc["run_id"]) == \
        ("arc_easy", {"acc": 0.75}, 4, "q1")
    assert arc["headline"] == {"metric": "acc", "value": 0.75, "se": pytest.approx(0.25),
                               "higher_is_better": True}  # sd / sqrt(n) = 0.5 / 2
    assert wiki["metrics"] == {"token_perplexity": 21.5, "bits_per_byte": 0.9}  # no window_nll
    assert wiki["kind"] == "perplexity" and wiki["n"] is None
    assert by_backend["onnxruntime"]["quality"] == []


def test_verdict_folded_by_run_model_backend_device():
    recs = [speed_record(run_id="r1"), speed_record(device="laptop", run_id="r1", seq=1)]
    rows = {r["device"]: r for r in build(recs, [verdict(outcome="fail")])["rows"]}
    assert rows["host"]["verdict"]["verdict"] == "fail"
    assert rows["host"]["verdict"]["budgets"][0]["bound"] == 95.0
    assert rows["laptop"]["verdict"] is None


def test_verdict_files_of_verify_are_read_and_validated(tmp_path):
    v = verdict(backend="onnxruntime")
    v["budgets"][0].update(max=400, bound=[95.0, 105.0], unit="tokens/s", gen_tokens=None)
    v["device"] = {"name": "host", "threads": 2, "budgets": []}
    write_json(tmp_path / "verdict-onnxruntime.json", v)
    from harness.records import is_verdict_file

    assert is_verdict_file(tmp_path / "verdict-onnxruntime.json")
    records, verdicts, rejected, n = collect([str(tmp_path)])
    assert (records, rejected, n) == ([], [], 1)
    (row,) = build([speed_record(backend="onnxruntime")], verdicts)["rows"]
    assert row["verdict"]["budgets"][0]["bound"] == [95.0, 105.0]


# ------------------------------------------------------------------ score and rank
def test_score_is_the_reciprocal_of_the_end_to_end_time_and_rank():
    laptop = {**HOST, "name": "laptop"}
    # e2e = ttft + 63 / decode (64 generated tokens; these records keep no e2e samples)
    recs = [speed("a", device=HOST, ttft=50, prefill=1000, decode=100, seq=0),    # 680 ms
            speed("b", device=HOST, ttft=100, prefill=500, decode=100, seq=1),    # 730 ms
            speed("c", device=HOST, ttft=25, prefill=2000, decode=12.5, seq=2),   # 5065 ms
            speed("d", device=HOST, ttft=50, prefill=1000, decode=100, seq=3),    # 680 ms
            speed("e", device=laptop, ttft=500, prefill=10, decode=1, seq=4)]
    f = speed("f", device=HOST, prefill=10, seq=5).to_dict()
    f["measurements"] = [m for m in f["measurements"] if m["metric"] != "decode_tps"]
    recs.append(Record(f))
    rows = {r["model"]["id"]: r for r in build(recs)["rows"]}
    assert rows["a"]["speed"]["e2e_ms"] == pytest.approx(680.0)
    assert rows["a"]["score"] == pytest.approx(100.0)
    assert rows["b"]["score"] == pytest.approx(100 * 680 / 730)
    assert rows["c"]["score"] == pytest.approx(100 * 680 / 5065)
    # the fastest prompt (c: 2000 tok/s prefill, TTFT 25 ms) does not win on a 64-token
    # answer at 12.5 tok/s: prefill no longer counts twice
    assert [rows[m]["rank"] for m in "abcd"] == [1, 3, 4, 1]  # a and d tie
    assert rows["e"]["score"] == 100.0 and rows["e"]["rank"] == 1  # its own device
    assert rows["f"]["score"] is None and rows["f"]["rank"] is None
    assert rows["f"]["unranked"] == [{"rule": "speed", "reason": "no decode_tps, e2e_ms"}]
    order = [r["model"]["id"] for r in build(recs)["rows"]]
    assert order == ["a", "d", "b", "c", "f", "e"]  # by group, then rank, unranked last


def test_the_score_uses_the_recorded_end_to_end_samples():
    rec = speed_record().to_dict()
    rec["measurements"].append(Measurement.of("e2e_ms", (700.0, 720.0, 710.0)).to_dict())
    (row,) = build([Record(rec)])["rows"]
    assert row["speed"]["e2e_ms"] == 710.0


def test_score_definition_is_in_the_document():
    doc = build([speed_record()])
    assert doc["score"]["normalised_within"] == "group"
    assert doc["score"]["formula"] == "100 * best_e2e_ms / e2e_ms"
    assert "end-to-end time" in lb.__doc__.lower().replace("\n", " ")
    rules = " ".join(doc["ranking"]["rules"])
    assert "mean KL <= 0.05" in rules and "top-1 agreement >= 0.9" in rules
    assert "Conditions not recorded: shown, marked, not ranked" in rules
    assert doc["ranking"]["parity"] == {"max_mean_kl": 0.05, "min_top1_agreement": 0.9}


# ------------------------------------------------------------------ CLI, files, schemas
def write_runs(root: Path, records: list[Record]) -> Path:
    for r in records:
        write_json(root / r["run_id"] / "records" / f"{r['seq']:04d}.json", r)
    return root


def test_bad_files_are_rejected_by_name_and_the_rest_folded(tmp_path):
    runs = write_runs(tmp_path / "runs", [speed_record(seq=0), speed_record(seq=1, gen=32)])
    bad = tmp_path / "runs" / "bad"
    bad.mkdir()
    good_text = json.dumps(speed_record(seq=5, backend="x").to_dict())
    (bad / "truncated.json").write_text(good_text[: len(good_text) // 2])
    invalid = speed_record(seq=6).to_dict()
    invalid["measurements"][0]["samples"] = "fast"
    (bad / "invalid.json").write_text(json.dumps(invalid))
    with open(bad / "oversized.json", "wb") as f:
        f.truncate(MAX_RECORD_BYTES + 1)
    future = speed_record(seq=7).to_dict()
    future["schema_version"] = 99
    (bad / "future.json").write_text(json.dumps(future))
    (tmp_path / "runs" / "r1" / "verdict.json").write_text('{"schema": "sllm-bench/verdict"}')
    out = tmp_path / "lb.json"
    r = run_cli("leaderboard", str(runs), str(tmp_path / "missing"), "-o", str(out))
    assert r.returncode == 1, r.stderr
    lines = [x for x in r.stderr.splitlines() if "rejected" in x and "warning" in x]
    assert len(lines) == 6 and "Traceback" not in r.stderr
    text = "\n".join(lines)
    for needle in ("truncated.json: not valid JSON", "invalid.json: invalid record at "
                   "measurements/0/samples", "oversized.json: file is", "future.json: "
                   "unsupported schema_version 99", "verdict.json: invalid verdict at top "
                   "level", "missing: no such file or folder"):
        assert needle in text
    doc = json.loads(out.read_text())
    assert len(doc["rows"]) == 2 and len(doc["sources"]["rejected"]) == 6
    jsonschema.validate(doc, schema("leaderboard"))


def test_nothing_valid_exits_2_and_writes_nothing(tmp_path):
    (tmp_path / "a.json").write_text("{")
    write_json(tmp_path / "f.json", speed_record(error={"kind": "crash", "message": "x"}))
    r = run_cli("leaderboard", str(tmp_path), "-o", str(tmp_path / "lb.json"))
    assert r.returncode == 2 and "no successful speed record" in r.stderr
    assert r.stderr.count("\n") == 1 and "1 file(s) rejected, first " in r.stderr
    assert "a.json: not valid JSON" in r.stderr and "warning" not in r.stderr
    assert not (tmp_path / "lb.json").exists()


def test_html_writes_the_page_and_a_copy_of_the_json(tmp_path):
    runs = write_runs(tmp_path / "runs", [speed_record()])
    write_json(runs / "r1" / "verdict.json", verdict())
    r = run_cli("leaderboard", str(runs), "-o", str(tmp_path / "lb.json"),
                "--html", str(tmp_path / "site"))
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "site").iterdir()) == \
        ["app.js", "index.html", "leaderboard.json", "style.css"]
    doc = json.loads((tmp_path / "lb.json").read_text())
    assert json.loads((tmp_path / "site" / "leaderboard.json").read_text()) == doc
    html = (tmp_path / "site" / "index.html").read_text()
    block = html.split('<script id="leaderboard-data" type="application/json">')[1]
    assert json.loads(block.split("</script>")[0]) == doc  # embedded: opens from disk
    assert doc["rows"][0]["verdict"]["verdict"] == "pass" and doc["sources"]["verdicts"] == 1
    page = "".join((tmp_path / "site" / n).read_text() for n in PAGE_FILES)
    assert "innerHTML" not in page and "http://" not in page.replace(
        "http://www.w3.org/2000/svg", "")


def schema(name: str) -> dict:
    return json.loads(files("harness.schemas").joinpath(f"{name}.schema.json").read_text())


def test_every_file_the_harness_writes_validates(project):
    """Records from a real (fake-backend) run, and the leaderboard folded from them."""
    out = project / "runs"
    r = run_cli("run", "-m", "fake-ok,fake-raise", "-b", "fake", "-p", "8", "-n", "8,16",
                "-r", "2", "--format", "jsonl", "--out", str(out))
    assert r.returncode == 1, r.stderr  # fake-raise fails: failed records must validate too
    records = sorted(out.rglob("records/*.json"))
    assert len(records) == 4
    for p in records:
        jsonschema.validate(json.loads(p.read_text()), schema("run-record"))
    for keep in ([], ["--all"]):
        r = run_cli("leaderboard", str(out), "-o", str(project / "lb.json"), *keep)
        assert r.returncode == 0, r.stderr
        doc = json.loads((project / "lb.json").read_text())
        jsonschema.validate(doc, schema("leaderboard"))
        assert len(doc["rows"]) == 2 and doc["sources"]["failed_records"] == 2
        for row in doc["rows"]:  # ranked exactly when the run recorded conditions ok
            ok = row["conditions"]["state"] == "ok"
            assert (row["score"] is not None and row["score"] > 0) == ok, row["unranked"]


def test_accept_unrecorded_conditions_ranks_them_still_marked():
    doc = build([speed_record()], ranking=policy(accept_unrecorded_conditions=True))
    (row,) = doc["rows"]
    assert row["rank"] == 1 and row["conditions"]["state"] == "not recorded"
    assert doc["ranking"]["conditions_not_recorded"] == "ranked"


@pytest.mark.parametrize("flag,value", [("--max-kl", "-1"), ("--max-kl", "nan"),
                                        ("--min-top1", "1.5"), ("--min-top1", "x")])
def test_bad_tolerance_flags_exit_2(tmp_path, flag, value):
    write_json(tmp_path / "r.json", speed_record())
    r = run_cli("leaderboard", str(tmp_path), "-o", str(tmp_path / "lb.json"), flag, value)
    assert r.returncode == 2 and flag in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "lb.json").exists()


def test_module_import_is_light():
    code = ("import sys, harness.leaderboard.build, harness.leaderboard.inputs, "
            "harness.leaderboard.publish, harness.leaderboard.rank, harness.leaderboard.evidence, "
            "harness.cli.leaderboard; "
            "heavy = {'jsonschema', 'numpy', 'psutil'} & set(sys.modules); "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_published_leaderboard_is_what_the_page_writer_makes_of_its_json(tmp_path):
    """results/leaderboard/ holds copies of the page files: they must not drift from
    harness/leaderboard/page/ (rewrite them with `sllm-bench leaderboard --html`)."""
    published = ROOT / "results" / "leaderboard"
    write_page(tmp_path, json.loads((published / "leaderboard.json").read_text("utf-8")))
    for name in (*PAGE_FILES, "leaderboard.json"):
        assert (tmp_path / name).read_bytes() == (published / name).read_bytes(), name
