"""How often the regression gate fails a compare: per compare, not per metric.

    .venv/bin/python -m benchmarks.simulate_gate [--trials 1000] [--seed 1]

Each trial builds two sets of run records with harness.records.make_record (6 speed
settings: prompt 128/512 x gen 64/128/256, one record each) and runs the real
harness.gate.compare.compare_runs on them, with the built-in rules (the gate as
shipped) or with the old ones (`--old`-style column: no Holm correction, prefill_tps
and e2e_ms gated, every repetition compared: no warm-up trimming). A trial is a false
alarm (A/A: both sides drawn from one distribution) or a detection (decode 10% slower
in every setting) when the compare's exit code is 1.

Noise, per repetition: the time to first token and the time per decoded token are
lognormal with the given CV, independently; an outlier repetition (a neighbour on a
shared runner, 5% of repetitions unless told) is 15-60% slower in both. Each record
holds ttft_ms, prefill_tps (= prompt / TTFT), decode_tps, e2e_ms (= TTFT + gen x time
per token), one sample per repetition, as the harness writes them: 4 metrics x 6
settings. `itl` adds itl_ms as the harness pools it (every gap of every repetition,
gen - 1 gaps, with the repetition's speed shared by its gaps): see the docs for why
that column is worse. tests/test_gate.py imports `trial` and checks the A/A figure on
fewer trials.

Issue 27 processes (`--part energy,drift,reps5`):
- full: every metric a real speed record holds besides these, as single readings of one
  item: RAPL-like energy_j_per_token and tokens_per_j (package power 15 W, 3% CV per item,
  over the item's whole window), load_s, elapsed_s, decode_efficiency, peak_rss_mb and
  rss_after_load_mb (+-2 MB), model_size_mb, gen_tokens_out. Energy and the other
  single timings are report-only (harness.metrics): they must not raise false alarms.
- drift: warm-up drift within a run: repetition i is slower by a * exp(-i / 2), with a
  drawn per record from U(0, drift) (each run warms up by its own amount).
- reps5: 5 against 5 repetitions over 6 settings with itl_ms (18 gated tests, Holm's
  first level 0.05 / 18 = 0.0028; the smallest Mann-Whitney p of 5 against 5 is 1/252):
  every compare must fail closed as undecidable, and a 36% decode drop must not pass.
Rates come with a 95% Clopper-Pearson interval over the trials.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from benchmarks.common import rate_with_interval
from harness.gate.compare import Run, compare_runs
from harness.gate.config import GateConfig, GateFile, MetricRule
from harness.records import Measurement, make_record

SETTINGS = [(p, g) for p in (128, 512) for g in (64, 128, 256)]
TTFT_MS_PER_TOKEN = 0.8  # prefill: 0.8 ms per prompt token
DECODE_MS = 6.7  # 150 tokens/s
NEW = GateConfig()
OLD = GateConfig(GateFile(holm=False, default=MetricRule(warm_up=False),
                          metrics={"prefill_tps": MetricRule(gate=True),
                                   "e2e_ms": MetricRule(gate=True)}))
_ENV: dict | None = None


def _env() -> dict:
    global _ENV
    if _ENV is None:
        from harness.measure.environment import environment

        _ENV = environment()
    return _ENV


def _times(rng, n: int, cv: float, outliers: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-repetition slow-down factors of prefill and decode (lognormal, CV), outliers
    15-60% slower in both."""
    sigma = math.sqrt(math.log(1 + cv ** 2))
    pre, dec = rng.lognormal(0, sigma, n), rng.lognormal(0, sigma, n)
    hit = rng.random(n) < outliers
    slow = rng.uniform(1.15, 1.6, n)
    return np.where(hit, pre * slow, pre), np.where(hit, dec * slow, dec)


def record(rng, prompt: int, gen: int, reps: int, cv: float, outliers: float,
           slowdown: float = 1.0, itl: bool = False, full: bool = False, drift: float = 0.0):
    pre, dec = _times(rng, reps, cv, outliers)
    if drift:  # warm-up: the first repetitions slower, by this run's own amount
        warm = 1 + rng.uniform(0, drift) * np.exp(-np.arange(reps) / 2.0)
        pre, dec = pre * warm, dec * warm
    ttft = TTFT_MS_PER_TOKEN * prompt * pre
    tpot = DECODE_MS * dec * slowdown
    ms = [Measurement("ttft_ms", "ms", False, tuple(ttft)),
          Measurement("prefill_tps", "tokens/s", True, tuple(prompt / (ttft / 1000))),
          Measurement("decode_tps", "tokens/s", True, tuple(1000 / tpot)),
          Measurement("e2e_ms", "ms", False, tuple(ttft + gen * tpot))]
    if itl:  # pooled gaps: each repetition's speed shared by its gen - 1 gaps
        sigma = math.sqrt(math.log(1 + 0.10 ** 2))
        gaps = np.concatenate([t * rng.lognormal(0, sigma, gen - 1) for t in tpot])
        ms.append(Measurement("itl_ms", "ms", False, tuple(gaps)))
    if full:
        ms += single_readings(rng, ttft, tpot, gen)
    return make_record(kind="speed", run_id="sim", seq=0, started_at="t",
                       model={"id": "m", "format": "gguf", "sha256": "a" * 64,
                              "size_bytes": 1},
                       backend={"name": "llama_cpp"}, device={"name": "host"},
                       task={"name": "speed", "version": 1},
                       params={"prompt_tokens": prompt, "gen_tokens": gen, "threads": 2,
                               "repetitions": reps},
                       env=_env(), measurements=ms)


def single_readings(rng, ttft, tpot, gen: int) -> list[Measurement]:
    """The single readings of one item a full speed record holds (module docstring)."""
    window_s = float(np.sum(ttft + gen * tpot)) / 1000 + 0.3  # + load and warm-up
    joules = 15.0 * rng.lognormal(0, math.sqrt(math.log(1 + 0.03 ** 2))) * window_s
    tokens = gen * len(tpot)
    decode = float(np.median(1000 / tpot))
    return [Measurement.of("energy_j_per_token", (joules / tokens,)),
            Measurement.of("tokens_per_j", (tokens / joules,)),
            Measurement.of("load_s", (0.25 * rng.lognormal(0, 0.1),)),
            Measurement.of("elapsed_s", (window_s,)),
            Measurement.of("decode_efficiency", (decode * 93.8 / 12000,)),
            Measurement.of("peak_rss_mb", (300 + rng.uniform(-2, 2),)),
            Measurement.of("rss_after_load_mb", (250 + rng.uniform(-2, 2),)),
            Measurement.of("model_size_mb", (93.8,)),
            Measurement.of("gen_tokens_out", (float(gen),) * len(tpot))]


def side(rng, reps: int, cv: float, outliers: float, slowdown: float = 1.0,
         itl: bool = False, full: bool = False, drift: float = 0.0) -> dict:
    out = {}
    for prompt, gen in SETTINGS:
        rec = record(rng, prompt, gen, reps, cv, outliers, slowdown, itl, full, drift)
        key = rec.key(NEW.ignore_params)
        out[key] = Run(Path("sim.json"), rec, key)
    return out


def compare_once(seed: int, cv: float, outliers: float = 0.05, slowdown: float = 1.0,
                 reps: int = 10, config: GateConfig = NEW, itl: bool = False,
                 full: bool = False, drift: float = 0.0, base_reps: int | None = None):
    """One seeded compare through the real compare code: its Report."""
    rng = np.random.default_rng(seed)
    base = side(rng, base_reps or reps, cv, outliers, itl=itl, full=full, drift=drift)
    cur = side(rng, reps, cv, outliers, slowdown, itl=itl, full=full, drift=drift)
    return compare_runs(base, cur, config, set(config.ignore_params))


def trial(seed: int, cv: float, outliers: float = 0.05, slowdown: float = 1.0,
          reps: int = 10, config: GateConfig = NEW, itl: bool = False, full: bool = False,
          drift: float = 0.0) -> tuple[bool, bool]:
    """One seeded compare: (the gate failed, decode_tps regressed in the first setting)."""
    report = compare_once(seed, cv, outliers, slowdown, reps, config, itl, full, drift)
    first = next(r for r in report.rows if r["metric"] == "decode_tps")
    return report.exit_code == 1, first["decision"] == "regression"


def rate(trials: int, seed: int, **kw) -> tuple[float, float]:
    """Share of failed compares and of first-setting decode_tps regressions."""
    hits = [trial(seed + t, **kw) for t in range(trials)]
    return (sum(h[0] for h in hits) / trials, sum(h[1] for h in hits) / trials)


def energy_and_drift(n: int, seed: int, parts: list[str]) -> None:
    """A/A false alarms per compare on full records (energy readings present) and under
    warm-up drift (module docstring), with Clopper-Pearson intervals."""
    print("\n| records | CV | outliers | warm-up drift | A/A false alarm per compare "
          "[95% CP] | alarms on a report-only metric |")
    print("|---|---:|---:|---:|---:|---:|")
    cells = [(cv, 0.05, 0.0) for cv in (0.03, 0.05, 0.08)] if "energy" in parts else []
    cells += [(cv, 0.05, d) for cv in (0.05, 0.08) for d in (0.10, 0.30)] \
        if "drift" in parts else []
    for cv, out, drift in cells:
        alarms = report_only = 0
        for t in range(n):
            rep = compare_once(seed + t, cv, out, full=True, drift=drift)
            alarms += rep.exit_code == 1
            report_only += any(r["decision"] == "regression" and r["metric"] in (
                "energy_j_per_token", "tokens_per_j", "load_s", "elapsed_s",
                "decode_efficiency") for r in rep.rows)
        print(f"| full, with energy | {cv:.0%} | {out:.0%} | {drift:.0%} | "
              f"{rate_with_interval(alarms, n)} | {report_only} |", flush=True)


def five_against_five(n: int, seed: int) -> None:
    """5 against 5 repetitions over 6 settings with itl_ms (module docstring)."""
    from harness.gate.stats import UNDECIDABLE

    print(f"\n5 against 5 repetitions, 6 settings, itl_ms recorded ({n} compares each, "
          f"CV 5%, 5% outliers; full: with the single readings, gen_tokens_out among them)")
    for label, slowdown, full in (("A/A", 1.0, False), ("decode 36% lower", 1 / 0.64, False),
                                  ("A/A, full", 1.0, True),
                                  ("decode 36% lower, full", 1 / 0.64, True)):
        fails = undecidable = 0
        reason = ""
        for t in range(n):
            rep = compare_once(seed + t, 0.05, slowdown=slowdown, reps=5, itl=True, full=full)
            fails += rep.exit_code == 1
            und = [r for r in rep.rows if r["decision"] == UNDECIDABLE]
            undecidable += bool(und)
            reason = reason or (f"{und[0]['metric']}: {und[0]['reason']}" if und else "")
        print(f"  {label}: compare exits 1 in {rate_with_interval(fails, n)}; compares with "
              f"undecidable tests {undecidable}/{n}; e.g. {reason}", flush=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=500)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--reps", default="10,20", help="repetitions per side, for the power")
    ap.add_argument("--part", choices=("aa", "power", "itl", "energy", "drift", "reps5"),
                    action="append", help="only these tables (default: all; itl and "
                    "reps5 are slow: 1 s a compare)")
    args = ap.parse_args(argv)
    n, parts = args.trials, args.part or ["aa", "power", "itl", "energy", "drift", "reps5"]
    print(f"{n} seeded compares per cell; 4 metrics x 6 settings; Monte-Carlo error of a "
          f"5% rate about +-{1.96 * math.sqrt(0.05 * 0.95 / n):.1%}\n")
    if "aa" in parts:
        print("| CV | outliers | A/A false alarm per compare: old gate | now |")
        print("|---:|---:|---:|---:|")
        for cv in (0.03, 0.05, 0.08):
            for out in (0.0, 0.05):
                old = rate(n, args.seed, cv=cv, outliers=out, config=OLD)[0]
                new = rate(n, args.seed, cv=cv, outliers=out)[0]
                print(f"| {cv:.0%} | {out:.0%} | {old:.1%} | {new:.1%} |", flush=True)
    if "power" in parts:
        print("\n| reps | CV | outliers | 10% decode slow-down: compare fails | "
              "decode_tps of one setting flagged | old gate: compare fails |")
        print("|---:|---:|---:|---:|---:|---:|")
        for reps in (int(r) for r in args.reps.split(",")):
            for cv in (0.03, 0.05, 0.08):
                kw = dict(cv=cv, outliers=0.05, slowdown=1.10, reps=reps)
                fail, one = rate(n, args.seed + 10 ** 6, **kw)
                old = rate(n, args.seed + 10 ** 6, config=OLD, **kw)[0]
                print(f"| {reps} | {cv:.0%} | 5% | {fail:.1%} | {one:.1%} | {old:.1%} |",
                      flush=True)
    if "itl" in parts:
        m = max(n // 5, 20)
        print(f"\nwith itl_ms recorded pooled as the harness records it and gated as one "
              f"median gap per repetition ({m} compares, CV 5%, 5% outliers)", flush=True)
        print(f"  A/A false alarm per compare: {rate(m, args.seed, cv=0.05, itl=True)[0]:.1%}",
              flush=True)
        fail = rate(m, args.seed + 10 ** 6, cv=0.05, itl=True, slowdown=1.10)[0]
        print(f"  10% decode slow-down at 10 repetitions, compare fails: {fail:.1%}", flush=True)
    if "energy" in parts or "drift" in parts:
        energy_and_drift(n, args.seed, parts)
    if "reps5" in parts:
        five_against_five(max(n // 10, 20), args.seed)


if __name__ == "__main__":
    main()
