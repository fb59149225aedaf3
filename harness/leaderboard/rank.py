"""Which rows are ranked, against which, and how: the leaderboard's ranking rules.

Like for like: a row is ranked only against the rows of its group, one device profile x
one host (by fingerprint; --merge-hosts drops the host) x one workload (prompt tokens,
generated tokens, threads, depth). A profile's canonical workload (its `workload`, at the
profile's threads) is its headline group; other workloads are groups of their own.

Eligibility (a row that fails any rule is shown with the reason, gets no score and no
rank; RULES is the text written into the document and onto the page):
  conditions  the speed record's conditions state must be "ok"; contended, throttled and
              on_battery rows are not ranked, nor are rows whose record does not say
              ("conditions not recorded"; --accept-unrecorded-conditions ranks them, still
              marked);
  parity      an ONNX port of a GGUF needs a parity record against the GGUF within
              tolerance (mean KL <= 0.05 nats and top-1 agreement >= 0.9 by default);
  quality     every quality floor of the row's device profile is met (point estimate)
              and measured;
  speed       TTFT, prefill and decode tokens/s and the end-to-end time are all present
              and positive.

Score (SCORE): what the workload's user waits for. e2e_ms is the time from handing the
prompt over to the last generated token of the group's workload (the median of the
record's per-repetition e2e_ms samples; in records without them, TTFT + (gen - 1) /
decode from the medians); a row's score is 100 x the group's best (shortest) e2e_ms over
its own, the reciprocal of its wait relative to the fastest ranked row. An earlier score,
the geometric mean of prefill, decode and 1/TTFT ratios, counted prompt processing twice
(at a fixed prompt length TTFT is prompt / prefill), so prefill weighed two thirds. Rank
= 1 + the number of ranked rows of the group with a higher score (ties share a rank).

Pareto front: per group, the ranked rows that no other ranked row beats on both decode
tokens/s (higher) and peak RSS (lower) without being worse on either.
"""

from __future__ import annotations

from collections.abc import Mapping

SCORE = {
    "name": "e2e-v3",
    "formula": "100 * best_e2e_ms / e2e_ms",
    "normalised_within": "group",
    "higher_is_better": True,
    "range": [0, 100],
    "description": "What the workload's user waits for: e2e_ms is the time from handing the "
                   "prompt over to the last generated token (median over repetitions), and "
                   "the score is 100 x the shortest e2e_ms among the ranked rows of the same "
                   "group (one device profile, one host, one workload) over the row's own. "
                   "Prefill, decode and TTFT stay columns. Rank is within the group; rows "
                   "that break a ranking rule have neither score nor rank.",
}


def policy(max_mean_kl: float = 0.05, min_top1_agreement: float = 0.9,
           accept_unrecorded_conditions: bool = False, merge_hosts: bool = False) -> dict:
    """The ranking rules as data (written into the document under `ranking`)."""
    return {"parity": {"max_mean_kl": max_mean_kl, "min_top1_agreement": min_top1_agreement},
            "conditions_not_recorded": "ranked" if accept_unrecorded_conditions
            else "not ranked",
            "hosts": "merged" if merge_hosts else "apart", "rules": rules(
                max_mean_kl, min_top1_agreement, accept_unrecorded_conditions, merge_hosts)}


def rules(kl: float, top1: float, accept_unrecorded: bool, merge_hosts: bool) -> list[str]:
    host = ("rows of every host are pooled (--merge-hosts)" if merge_hosts
            else "one host (rows of different machines under one profile name stay apart)")
    return [
        f"Ranked only within a group: one device profile, {host}, one workload (prompt "
        "tokens, generated tokens, threads, depth). The headline group of a profile is its "
        "canonical workload; other workloads are ranked separately, never against it.",
        "Speed measured under conditions other than ok (contended, throttled, on battery): "
        "shown, marked, not ranked. Conditions not recorded: "
        + ("shown, marked, ranked (--accept-unrecorded-conditions)." if accept_unrecorded
           else "shown, marked, not ranked."),
        f"A port (ONNX from a GGUF) needs parity against its GGUF within tolerance: mean KL "
        f"<= {kl:g} nats and top-1 agreement >= {top1:g}. Failing or missing parity: "
        "shown, marked, not ranked.",
        "Quality below a floor of the device profile, or a floor's task not measured: shown, "
        "marked, not ranked.",
        "Score: 100 x the group's shortest end-to-end time (prompt handed over to the last "
        "generated token of the workload, median over repetitions) over the row's own; a row "
        "missing TTFT, prefill, decode or that time is not ranked.",
    ]


def reasons(row: dict, conditions_state: str, evidence, ranking: Mapping) -> list[dict]:
    """Why a row is not ranked: [{rule, reason}] (empty: it is ranked)."""
    out = []
    if conditions_state != "ok":
        if conditions_state == "not recorded":
            if ranking["conditions_not_recorded"] != "ranked":
                out.append({"rule": "conditions", "reason": "conditions not recorded"})
        else:
            detail = "; ".join(str(e) for e in evidence or ())
            out.append({"rule": "conditions", "reason": f"measured while {conditions_state}"
                        + (f": {detail}" if detail else "")})
    p = row["parity"]
    if p is not None:
        tol = ranking["parity"]
        if p["status"] == "not measured":
            out.append({"rule": "parity", "reason": "port without a parity record against "
                        "its GGUF (sllm-bench parity)"})
        elif p["status"] == "fail":
            out.append({"rule": "parity", "reason": "parity fails against the GGUF: mean KL "
                        f"{_g(p['mean_kl'])} (max {tol['max_mean_kl']:g}), top-1 "
                        f"{_g(p['top1_agreement'])} (min {tol['min_top1_agreement']:g})"})
    for f in row["quality_floors"]:
        if f["status"] == "pass":
            continue
        bound = (f">= {f['min']:g}" if f["min"] is not None else "") + (
            f"{' and ' if f['min'] is not None else ''}<= {f['max']:g}"
            if f["max"] is not None else "")
        what = f"{f['task']} {f['metric']}"
        out.append({"rule": "quality", "reason": f"quality floor not measured: {what} "
                    f"{bound}" if f["status"] == "not measured" else
                    f"quality below floor: {what} {_g(f['value'])} (needs {bound})"})
    missing = [m for m in ("ttft_ms", "prefill_tps", "decode_tps", "e2e_ms")
               if not _positive(row["speed"][m])]
    if missing:
        out.append({"rule": "speed", "reason": "no " + ", ".join(missing)})
    return out


def score_and_rank(rows: list[dict]) -> None:
    """Score and rank the eligible rows of each group; mark each group's Pareto front."""
    by_group: dict[str, list[dict]] = {}
    for row in rows:
        by_group.setdefault(row["group"], []).append(row)
    for group in by_group.values():
        ranked = [row for row in group if not row["unranked"]]
        if not ranked:
            continue
        best = min(r["speed"]["e2e_ms"] for r in ranked)
        for row in ranked:
            row["score"] = round(100 * best / row["speed"]["e2e_ms"], 6)
        for row in ranked:
            row["rank"] = 1 + sum(r["score"] > row["score"] for r in ranked)
        mark_pareto(ranked)


def mark_pareto(rows: list[dict]) -> None:
    """pareto = True for rows no other row dominates (decode higher, peak RSS lower)."""
    pts = [(r, r["speed"]["decode_tps"], r["memory"]["peak_rss_mb"]) for r in rows
           if r["memory"]["peak_rss_mb"] is not None]
    for r, d, m in pts:
        r["pareto"] = not any(d2 >= d and m2 <= m and (d2 > d or m2 < m)
                              for _, d2, m2 in pts)


def _positive(x) -> bool:
    return x is not None and x > 0


def _g(x) -> str:
    return "?" if x is None else f"{x:.4g}"
