"""Leaderboard ranking rules (issue 17), on records built with make_record: parity of
ports, like-for-like workloads, hosts kept apart, measurement conditions, quality floors
with standard errors, the Pareto front."""

from __future__ import annotations

import math

import pytest

from harness.leaderboard import build as lb
from harness.leaderboard.rank import policy
from harness.records import Measurement, Record
from leaderboard_fixtures import CONTENDED, HOST, LAPTOP, parity, quality, speed


def build(records, **kw):
    doc = lb.build(records, **kw)
    lb.validate(doc)
    return doc


def by(doc, *keys):
    return {tuple(r[k] for k in keys): r for r in doc["rows"]}


def ports(**kw) -> list[Record]:
    """llama_cpp, a faithful gguf port (onnxruntime, ort_genai) and the broken int4 port."""
    return [speed(seq=0, decode=150.0), quality(run_id="q0"),
            speed(backend="onnxruntime", precision="gguf", seq=1, decode=170.0),
            quality(backend="onnxruntime", precision="gguf", run_id="q1"),
            speed(backend="ort_genai", precision="gguf", seq=2, decode=190.0),
            speed(backend="onnxruntime", precision="int4-rtn", seq=3, decode=300.0),
            quality(backend="onnxruntime", precision="int4-rtn", run_id="q3"),
            parity(precision="gguf", kl=0.004, top1=0.98, run_id="p1"),
            parity(precision="int4-rtn", kl=0.349, top1=0.624, ppl=32.2, run_id="p2")]


# ------------------------------------------------------------------ parity
def test_broken_port_is_not_ranked_and_says_why():
    rows = by(build(ports()), "backend", "precision")
    broken = rows["onnxruntime", "int4-rtn"]
    assert broken["rank"] is None and broken["score"] is None and not broken["pareto"]
    assert broken["unranked"] == [{"rule": "parity", "reason": (
        "parity fails against the GGUF: mean KL 0.349 (max 0.05), top-1 0.624 (min 0.9)")}]
    assert broken["parity"]["status"] == "fail" and broken["parity"]["ppl_diff_pct"] == 32.2
    assert broken["parity"]["reference"] == "llama_cpp"
    # the fastest row no longer sets the best decode: the ranked ones are scored alone
    assert rows["ort_genai", "gguf"]["score"] == 100.0 and rows["ort_genai", "gguf"]["rank"] == 1
    faithful = rows["onnxruntime", "gguf"]
    assert faithful["parity"]["status"] == "pass" and faithful["unranked"] == []
    assert rows["llama_cpp", None]["parity"] is None  # not a port


def test_ort_genai_takes_parity_and_quality_of_the_same_onnx_folder():
    row = by(build(ports()), "backend", "precision")["ort_genai", "gguf"]
    assert row["parity"]["measured_by"] == "onnxruntime" and row["parity"]["status"] == "pass"
    (q,) = row["quality"]
    assert q["measured_by"] == "onnxruntime" and q["headline"]["value"] == 0.75


def test_port_without_parity_and_the_tolerance_flags():
    recs = [r for r in ports() if r.kind != "parity" or r.run_id != "p1"]
    rows = by(build(recs), "backend", "precision")
    assert rows["onnxruntime", "gguf"]["parity"]["status"] == "not measured"
    assert rows["onnxruntime", "gguf"]["unranked"][0]["rule"] == "parity"
    loose = by(build(ports(), ranking=policy(max_mean_kl=0.5, min_top1_agreement=0.6)),
               "backend", "precision")
    assert loose["onnxruntime", "int4-rtn"]["rank"] == 1


def test_parity_against_a_non_gguf_reference_does_not_count():
    p = parity(precision="gguf").to_dict()
    p["details"]["reference_artifact"] = {"kind": "onnx", "precision": "fp32"}
    p["params"]["artifacts"]["llama_cpp"] = {"kind": "onnx", "precision": "fp32"}
    rows = by(build([speed(backend="onnxruntime", precision="gguf"),
                     quality(backend="onnxruntime", precision="gguf"), Record(p)]),
              "backend", "precision")
    assert rows["onnxruntime", "gguf"]["parity"]["status"] == "not measured"


# ------------------------------------------------------------------ workloads and hosts
def test_two_workloads_are_never_ranked_against_each_other():
    recs = [speed(seq=0, decode=100.0), speed("b", seq=1, decode=50.0),
            speed(seq=2, prompt=512, gen=128, decode=20.0), quality(), quality(model="b")]
    doc = build(recs)
    rows = by(doc, "group")
    assert [g["canonical"] for g in doc["groups"]] == [True, False]
    canon, other = doc["groups"]
    assert canon["workload"] == {"prompt_tokens": 128, "gen_tokens": 64, "threads": 2,
                                 "depth": 0, "prompt_source": "synthetic"}
    assert canon["canonical_workload"] == {"prompt_tokens": 128, "gen_tokens": 64, "depth": 0}
    (p512,) = [r for r in doc["rows"] if r["group"] == other["id"]]
    assert p512["rank"] == 1 and p512["score"] == 100.0  # alone in its group
    assert (canon["rows"], canon["ranked"], other["rows"]) == (2, 2, 1)
    assert len(rows) == 2 and not p512["canonical"]


def test_threads_and_depth_are_part_of_the_workload():
    recs = [speed(seq=0, threads=2), speed(seq=1, threads=1),
            Record({**speed(seq=2).to_dict(), "params": {
                **speed().params, "depth": 512}}), quality()]
    doc = build(recs)
    assert len(doc["groups"]) == 3 and all(r["rank"] == 1 for r in doc["rows"])
    assert [g["canonical"] for g in doc["groups"]] == [True, False, False]
    assert {g["workload"]["depth"] for g in doc["groups"]} == {0, 512}


def test_threads_all_take_the_pinned_cores_for_the_canonical_workload():
    doc = build([speed(device=HOST, threads=2), speed(device=HOST, threads=1, seq=1)])
    assert [(g["workload"]["threads"], g["canonical"]) for g in doc["groups"]] == \
        [(2, True), (1, False)]


def test_hosts_stay_apart_unless_merged():
    recs = [speed(decode=100.0, host_id="a" * 16, finished="2026-01-01T00:00:00+00:00"),
            speed(decode=50.0, host_id="b" * 16, run_id="r2",
                  finished="2026-01-02T00:00:00+00:00"), quality()]
    doc = build(recs)
    assert len(doc["rows"]) == 2 and [g["host"]["id"] for g in doc["groups"]] == \
        ["a" * 16, "b" * 16]
    assert all(r["rank"] == 1 and r["score"] == 100.0 for r in doc["rows"])
    merged = build(recs, ranking=policy(merge_hosts=True))
    (row,) = merged["rows"]  # the latest of the two wins
    assert row["speed"]["decode_tps"] == 50.0 and merged["groups"][0]["host"] is None


# ------------------------------------------------------------------ conditions
@pytest.mark.parametrize("state", ["contended", "throttled", "on_battery"])
def test_rows_measured_under_bad_conditions_are_shown_not_ranked(state):
    cond = {**CONTENDED, "state": state}
    doc = build([speed(seq=0), speed("b", seq=1, conditions=cond), quality(),
                 quality(model="b")])
    good, bad = sorted(doc["rows"], key=lambda r: r["model"]["id"] != "m")
    assert good["rank"] == 1
    assert bad["rank"] is None and bad["conditions"] == cond
    assert bad["unranked"] == [{"rule": "conditions", "reason": f"measured while {state}: "
                                "other processes used 0.8 of the 2 pinned cores"}]


def test_conditions_not_recorded_is_shown_marked_not_ranked():
    doc = build([speed(conditions=None), quality()])
    (row,) = doc["rows"]
    assert row["rank"] is None and row["conditions"] == {"state": "not recorded",
                                                         "evidence": []}
    assert row["unranked"] == [{"rule": "conditions", "reason": "conditions not recorded"}]


# ------------------------------------------------------------------ quality
def test_quality_floor_missed_or_unmeasured_is_not_ranked():
    low = build([speed(), quality(acc=(0.0, 0.0, 1.0, 0.0))])["rows"][0]
    assert low["quality_floors"] == [{"task": "mc_en", "metric": "acc", "min": 0.5,
                                      "max": None, "value": 0.25, "status": "fail"}]
    assert low["unranked"] == [{"rule": "quality", "reason": "quality below floor: mc_en acc "
                                "0.25 (needs >= 0.5)"}]
    missing = build([speed()])["rows"][0]
    assert missing["unranked"] == [{"rule": "quality", "reason": "quality floor not measured: "
                                    "mc_en acc >= 0.5"}]
    no_floor = build([speed(device=HOST)])["rows"][0]  # host: no budgets, no floors
    assert no_floor["quality_floors"] == [] and no_floor["rank"] == 1


def _perplexity_row(nll, tok):
    q = quality(task="prose_en").to_dict()
    q["task"]["kind"] = "perplexity"
    q["measurements"] = [Measurement("token_perplexity", "", False, (21.5,)).to_dict(),
                         Measurement("window_nll", "nats", False, tuple(nll)).to_dict(),
                         Measurement("window_tokens", "tokens", False, tuple(tok)).to_dict()]
    (row,) = build([speed(device=HOST), Record(q)])["rows"]
    (entry,) = row["quality"]
    return entry


def test_perplexity_headline_standard_error_is_the_bounds_own():
    """The leaderboard's perplexity SE is the verdict bound's (over batches of consecutive
    windows), not the independent-windows delta method; too few windows: none."""
    from harness.measure.windows import log_perplexity_se

    entry = _perplexity_row((300.0, 320.0, 290.0, 310.0), (100.0,) * 4)
    assert entry["headline"]["metric"] == "token_perplexity" and entry["n"] is None
    assert entry["headline"]["se"] is None  # 4 windows give no standard error
    nll = [300.0 + 17.0 * ((7 * i) % 11 - 5) for i in range(40)]
    tok = [100.0] * 40
    entry = _perplexity_row(nll, tok)
    se = log_perplexity_se(nll, tok)
    assert se is not None
    assert entry["headline"]["se"] == pytest.approx(math.exp(sum(nll) / sum(tok)) * se)
    assert entry["headline"]["higher_is_better"] is False


# ------------------------------------------------------------------ Pareto front
def test_pareto_front_of_ranked_rows():
    recs = [speed("a", seq=0, decode=100.0, rss=100.0), speed("b", seq=1, decode=200.0,
                                                             rss=300.0),
            speed("c", seq=2, decode=90.0, rss=200.0),  # dominated by a
            speed("d", seq=3, decode=500.0, rss=50.0, conditions=CONTENDED)]  # unranked
    recs += [quality(model=m, run_id=f"q{m}") for m in "abcd"]
    rows = {r["model"]["id"]: r for r in build(recs)["rows"]}
    assert {m: rows[m]["pareto"] for m in "abcd"} == {"a": True, "b": True, "c": False,
                                                      "d": False}


def test_laptop_profile_fixture_is_what_the_profiles_say():
    """The fixture mirrors devices/laptop-2c-4g.yaml's workload and its mc_en floor."""
    from harness.config import load_device

    dev = load_device("laptop-2c-4g")
    assert dev.workload.prompt_tokens == LAPTOP["workload"]["prompt_tokens"]
    assert any(b.metric == "acc" and b.task == "mc_en" and b.min == 0.5 for b in dev.budgets)
