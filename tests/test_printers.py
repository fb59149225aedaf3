import io
import json

from harness.cli import printers
from harness.measure.environment import environment
from harness.records import Measurement, make_record
from helpers import record


def render(fmt, recs):
    out = io.StringIO()
    p = printers.make(fmt, out)
    p.header()
    for r in recs:
        p.record(r)
    p.footer()
    return out.getvalue()


def test_markdown_table_per_backend_with_median_and_spread():
    text = render("markdown", [record(), record(), record("onnxruntime"),
                               record("onnxruntime", error={"kind": "crash", "message": "boom"})])
    assert text.count("### ") == 2 and "### onnxruntime on host" in text
    assert ("| m | 2 | 128 | 64 | 50.0 ± 2.0 | 2560.0 ± 102.6 | 100.0 ± 10.0 | "
            "10.50 / 11.70 / 11.97 | 0.25 | 200.0 | 93.8 |") in text
    assert "| m | 2 | 128 | 64 | FAILED: crash: boom |" in text


def test_csv_has_header_and_numeric_columns():
    lines = render("csv", [record()]).splitlines()
    assert lines[0] == ",".join(printers.columns())
    row = dict(zip(printers.columns(), lines[1].split(",")))
    assert row["decode_tps"] == "100.0" and row["decode_tps_sd"] == "10.0"
    assert row["status"] == "ok" and row["itl_p99_ms"] == "11.97"


def test_json_and_jsonl_agree():
    recs = [record(), record("onnxruntime")]
    arr = json.loads(render("json", recs))
    lines = [json.loads(x) for x in render("jsonl", recs).splitlines()]
    assert arr == lines and arr[1]["backend"] == "onnxruntime" and arr[0]["ttft_ms"] == 50.0


def test_quality_table_gives_every_accuracy_with_its_standard_error():
    samples = (1.0, 0.0, 1.0, 1.0)
    rec = make_record(kind="quality", run_id="r1", seq=0, started_at="t", model={"id": "m", "format": "gguf",
                      "sha256": None, "size_bytes": 1}, backend={"name": "llama_cpp"},
                      device={"name": "host"},
                      task={"name": "mc_en", "version": 1, "kind": "multiple_choice",
                            "n_items": 4},
                      params={"threads": 2}, env=environment(), measurements=[
                          Measurement(m, "fraction", True, samples)
                          for m in ("acc", "acc_norm", "acc_per_token")])
    text = render("markdown", [rec])
    # mean 0.75, sem = stdev 0.5 / sqrt(4)
    assert "| m | mc_en | 4 | 0.750 ± 0.250 | 0.750 ± 0.250 | 0.750 ± 0.250 |" in text
    row = json.loads(render("jsonl", [rec]))
    assert row["acc_per_token_se"] == 0.25 and row["exact_match_se"] is None
