"""The metric registry: one entry per metric, the only place a unit or a direction is written.

An entry (Metric) says what a metric is and how every consumer treats it:

  unit, higher_is_better   what its samples measure; records store both as a cache of this
  aggregate                how repetitions or items combine into the figure people read:
                           median (repetitions of a timing), mean (per-item 0/1 samples),
                           ratio (sum over windows), pNN (percentile of pooled samples),
                           single (one reading), max (the largest reading)
  why_not_gated            "" when the regression gate may gate it; else why not (derived,
                           one timing per run, a description of the input, a soak statistic)
  gate_rule                built-in gate rule keys (harness.gate.config.MetricRule fields)
  lower, upper             physical bounds of one sample: a value outside is refused on read
  title, label, digits     its long name in reports, its column label and decimals in the
                           printed table
  source, stat             a view of another metric's samples (itl_p99_ms = p99 of itl_ms;
                           the verdict's perplexity = token_perplexity), and the statistic
                           its flat-row column holds
  flat                     "speed" or "quality": the flat-row column group it appears in
  sd_column, se_column     the flat row also has <name>_sd (sample sd) / <name>_se (SE)
  table                    the printed tables it has a column in ("speed", "quality");
                           entries with the same label share one cell, joined by " / "
  replaces, prefix         its cell stands, prefixed, in the named metric's column when
                           the record has it (exact match shows in the acc column as EM)
  budget_unit              the unit a verdict budget shows (None: `unit`)
  report_unit              the unit the report's budget sentence shows when the budget
                           has none
  timed                    a verdict budget on it is invalidated by contended conditions

`get(name)` returns the entry or None (records may carry metrics this harness does not
know: they are shown, never judged by a bound). `register()` adds one at run time, so a
new metric is one entry plus the code that measures it. harness.numbers is the one
number formatter.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Metric:
    """One metric (module docstring: the fields)."""

    name: str
    unit: str
    higher_is_better: bool
    definition: str
    aggregate: str = "median"
    why_not_gated: str = ""
    gate_rule: Mapping = field(default_factory=dict)
    lower: float | None = 0.0
    upper: float | None = None
    title: str = ""
    label: str = ""
    digits: int | None = None
    source: str | None = None
    stat: str = "median"
    flat: str | None = None
    sd_column: bool = False
    se_column: bool = False
    table: tuple[str, ...] = ()
    replaces: str | None = None
    prefix: str = ""
    budget_unit: str | None = None
    report_unit: str = ""
    timed: bool = False
    gate_by_repetition: bool = False

    @property
    def gated(self) -> bool:
        return not self.why_not_gated

    @property
    def of(self) -> str:
        """The metric whose samples this one reads (itself unless it is a view)."""
        return self.source or self.name

    @property
    def shown_unit(self) -> str:
        """The unit a budget on this metric shows."""
        return self.unit if self.budget_unit is None else self.budget_unit


# ------------------------------------------------------------------ units
MS, S, TPS, MB, FRACTION, PPL, NATS = "ms", "s", "tokens/s", "MB", "fraction", "ppl", "nats"
#: built-in gate layer by unit (for metrics this registry does not know, and under each
#: entry's own rule): 0/1 samples compare means, one point absolute; memory gets a
#: tolerance (VmHWM moves by a few MB between identical runs); perplexities are one number
#: (1% tolerance), except token_perplexity over the same windows: paired, 1% threshold
UNIT_RULES: dict[str, dict] = {
    FRACTION: {"center": "mean", "threshold": 0.0, "abs_threshold": 0.01},
    MB: {"tolerance": 0.05, "abs_tolerance": 8.0},
    PPL: {"tolerance": 0.01, "threshold": 0.01},
    "bits/byte": {"tolerance": 0.01},
}
#: units of quantities that cannot be negative, for metrics not in the registry
NON_NEGATIVE_UNITS = frozenset({TPS, "items/s", MS, S, MB, "tokens", "bytes", "words",
                                "count", PPL, "bits/byte", FRACTION, "fraction of roofline",
                                "identical (1) or not (0)"})
#: seconds in one unit of a time (pytest-benchmark's export)
SECONDS_PER_UNIT = {MS: 1e-3, S: 1.0}
#: no measurement of this harness comes near it: a larger magnitude is a forged number
MAX_MAGNITUDE = 1e15

ITL = "ITL p50/p90/p99 ms"
SPEED_TABLE, QUALITY_TABLE, BOTH_TABLES = ("speed",), ("quality",), ("speed", "quality")
_ONE_TIMING = "one timing per run cannot separate a change from noise"
_INPUT = "describes the input, not the model"
_SOAK = "a soak statistic, judged by the verdict's soak budget"
_SERIES = ("a time series: consecutive soak samples are not independent; judged by the "
           "verdict's soak budgets")
_ENERGY = ("one RAPL reading of the item's whole window: one number per run cannot separate "
           "a change from noise")
_REPORT_ONLY = {"gate": False}
_EXACT = {"rule": "tolerance", "center": "mean", "tolerance": 0.0, "abs_tolerance": 0.0}


#: physical ceilings by unit: no CPU generates 10^7 tokens a second; a share is at most 1
CEILINGS = {TPS: 1e7, "items/s": 1e7, "chars/s": 1e8, FRACTION: 1.0}


def _m(name, unit, higher, definition, **kw) -> Metric:
    if kw.get("why_not_gated"):
        kw.setdefault("gate_rule", _REPORT_ONLY)
    kw.setdefault("upper", CEILINGS.get(unit))
    return Metric(name, unit, higher, definition, **kw)


_ENTRIES = [
    # ---- speed (scenarios/speed.py); the order is the flat rows' column order
    _m("ttft_ms", MS, False, "from handing the prompt over to the first generated token id",
       title="time to first token", label="TTFT ms", digits=1, flat="speed", sd_column=True,
       table=SPEED_TABLE, timed=True),
    _m("prefill_tps", TPS, True, "prompt tokens / TTFT",
       why_not_gated="derived: prompt tokens / ttft_ms, which is gated",
       title="prefill speed", label="prefill tok/s", digits=1, flat="speed", sd_column=True,
       table=SPEED_TABLE, timed=True),
    _m("decode_tps", TPS, True, "(n - 1) / time from the first to the n-th generated token",
       title="decode speed", label="decode tok/s", digits=1, flat="speed", sd_column=True,
       table=SPEED_TABLE, timed=True),
    _m("itl_p50_ms", MS, False, "median of the pooled inter-token gaps", source="itl_ms",
       stat="p50", aggregate="p50", title="inter-token latency p50", label=ITL, digits=2,
       flat="speed", table=SPEED_TABLE, timed=True),
    _m("itl_p90_ms", MS, False, "90th percentile of the pooled inter-token gaps",
       source="itl_ms", stat="p90", aggregate="p90", title="inter-token latency p90",
       label=ITL, digits=2, flat="speed", table=SPEED_TABLE, timed=True),
    _m("itl_p99_ms", MS, False, "99th percentile of the pooled inter-token gaps",
       source="itl_ms", stat="p99", aggregate="p99", title="inter-token latency p99",
       label=ITL, digits=2, flat="speed", table=SPEED_TABLE, timed=True),
    _m("load_s", S, False, "model load time inside the worker", aggregate="single",
       why_not_gated=_ONE_TIMING, title="model load time", label="load s", digits=2,
       flat="speed", table=SPEED_TABLE, timed=True),
    _m("peak_rss_mb", MB, False, "VmHWM of the freshly spawned worker that ran the model",
       aggregate="max", title="peak memory (RSS)", label="peak RSS MB", digits=1,
       flat="speed", table=BOTH_TABLES),
    _m("model_size_mb", MB, False, "size of the file or folder the backend read",
       aggregate="single", gate_rule=_EXACT, label="model MB", digits=1, flat="speed",
       table=SPEED_TABLE),
    _m("energy_j_per_token", "J/token", False,
       "RAPL package energy of the item's window / tokens generated in it",
       aggregate="single", flat="speed",
       why_not_gated=_ENERGY),
    _m("itl_ms", MS, False, "gaps between consecutive generated tokens, pooled over "
       "repetitions", aggregate="pooled", gate_by_repetition=True),
    _m("e2e_ms", MS, False, "TTFT + the decode time of the whole generation",
       why_not_gated="derived: ttft_ms + the decode time, both gated"),
    _m("gen_tokens_out", "tokens", True, "tokens generated per repetition (real-text prompts "
       "stop at end-of-sequence)"),
    _m("rss_after_load_mb", MB, False, "resident memory right after the model loaded",
       aggregate="single"),
    _m("elapsed_s", S, False, "wall time of the item in the worker", aggregate="single",
       why_not_gated=_ONE_TIMING),
    _m("decode_efficiency", "fraction of roofline", True,
       "decode tokens/s x model bytes / measured memory bandwidth", aggregate="single",
       why_not_gated="derived from decode_tps and the measured memory bandwidth"),
    _m("tokens_per_j", "tokens/J", True, "tokens generated / RAPL package energy",
       aggregate="single",
       why_not_gated="the reciprocal of energy_j_per_token: " + _ENERGY),
    # ---- quality; the order is the flat rows' column order
    _m("acc", FRACTION, True, "argmax of summed log-likelihood of the choices == gold",
       aggregate="mean", stat="mean", title="accuracy", label="acc", flat="quality",
       se_column=True, digits=3, table=QUALITY_TABLE, budget_unit=""),
    _m("acc_norm", FRACTION, True, "acc after dividing each choice's log-likelihood by its "
       "length in characters", aggregate="mean", stat="mean",
       title="accuracy (length-normalised)", label="acc_norm", flat="quality",
       se_column=True, digits=3, table=QUALITY_TABLE, budget_unit=""),
    _m("acc_per_token", FRACTION, True, "acc after dividing by the choice's token count "
       "(llama.cpp's HellaSwag scoring)", aggregate="mean", stat="mean", label="acc/token",
       flat="quality", se_column=True, digits=3, table=QUALITY_TABLE),
    _m("exact_match", FRACTION, True, "greedy output cut at the stop == the target",
       aggregate="mean", stat="mean", flat="quality", se_column=True,
       digits=3, table=QUALITY_TABLE, replaces="acc", prefix="EM "),
    _m("token_perplexity", PPL, False, "exp(sum of window NLL / scored tokens)",
       aggregate="ratio", label="token ppl", digits=2, flat="quality", table=QUALITY_TABLE),
    _m("word_perplexity", PPL, False, "exp(sum of NLL / words)", aggregate="ratio",
       label="word ppl", digits=2, flat="quality", table=QUALITY_TABLE),
    _m("byte_perplexity", PPL, False, "exp(sum of NLL / UTF-8 bytes)", aggregate="ratio",
       label="byte ppl", digits=3, flat="quality", table=QUALITY_TABLE),
    _m("bits_per_byte", "bits/byte", False, "sum of NLL / UTF-8 bytes / ln 2",
       aggregate="ratio", label="bits/byte", digits=3, flat="quality", table=QUALITY_TABLE),
    _m("items_per_s", "items/s", True, "items scored / wall time of the task",
       aggregate="single", why_not_gated=_ONE_TIMING, label="items/s", digits=2,
       flat="quality", table=QUALITY_TABLE),
    _m("contains", FRACTION, True, "the target appears in the greedy output",
       aggregate="mean", stat="mean", flat="quality"),
    _m("target_perplexity", PPL, False, "exp(-mean log-likelihood of the target words)",
       aggregate="ratio", flat="quality",
       why_not_gated="derived: exp(-mean target_logprob), which is gated"),
    _m("tokens_per_char", "tokens/char", False, "tokenizer fertility: tokens / characters",
       aggregate="single", label="tok/char", digits=3, flat="quality", table=QUALITY_TABLE),
    _m("tokens_per_word", "tokens/word", False, "tokenizer fertility: tokens / words",
       aggregate="single", label="tok/word", digits=2, flat="quality", table=QUALITY_TABLE),
    _m("text_decode_chars_per_s", "chars/s", True, "characters decoded after the first "
       "token / time from the first to the last token", label="chars/s", digits=1,
       flat="quality", table=QUALITY_TABLE,
       why_not_gated="derived: text_decode_tps x text_decode_chars_per_token"),
    _m("regex_match", FRACTION, True, "the greedy output matches the task's regex",
       aggregate="mean", stat="mean"),
    _m("target_logprob", NATS, True, "log-likelihood of the target word", aggregate="mean",
       lower=None),
    _m("text_decode_tps", TPS, True, "decode tokens/s on the task's real text"),
    _m("text_decode_chars_per_token", "chars/token", True,
       "characters per decoded token on the real text",
       why_not_gated="the tokenizer on a fixed text: describes the input"),
    _m("text_tokens", "tokens", False, "tokens of the task's text", aggregate="single"),
    _m("text_chars", "chars", False, "characters of the task's text", aggregate="single"),
    _m("text_words", "words", False, "words of the task's text", aggregate="single",
       why_not_gated=_INPUT),
    _m("text_bytes", "bytes", False, "UTF-8 bytes of the task's text", aggregate="single",
       why_not_gated=_INPUT),
    _m("window_nll", NATS, False, "negative log-likelihood of one window's scored tokens",
       aggregate="ratio",
       why_not_gated="the numerator of token_perplexity, which is gated"),
    _m("window_tokens", "tokens", False, "tokens scored in one window", aggregate="ratio",
       why_not_gated=_INPUT),
    _m("window_document", "document", False, "the document (0, 1, ... in task order) a "
       "window was cut from; recorded when the task has several", aggregate="ratio",
       why_not_gated=_INPUT),
    _m("perplexity", "", False, "token perplexity of a text (a verdict budget: the task's "
       "token_perplexity)", source="token_perplexity", aggregate="ratio", title="perplexity"),
    # ---- reliability
    _m("determinism", "identical (1) or not (0)", True, "1 if a prompt's greedy output "
       "repeated exactly within and across worker processes", aggregate="single",
       gate_rule=_EXACT, title="greedy outputs repeat exactly", budget_unit=""),
    _m("soak_t_s", S, False, "time of each soak sample since the soak began",
       why_not_gated="timestamps of the soak samples"),
    _m("soak_decode_tps", TPS, True, "decode tokens/s of each soak generation",
       why_not_gated=_SERIES),
    _m("soak_rss_mb", MB, False, "resident memory at each soak sample",
       why_not_gated=_SERIES),
    _m("rss_slope_mb_per_min", "MB/min", False, "Theil-Sen slope of the soak's RSS",
       aggregate="single", why_not_gated=_SOAK, lower=None,
       title="memory growth during the soak run"),
    _m("decode_drift_pct_per_min", "%/min", True, "slope of the soak's decode speed, % of "
       "its start per minute", aggregate="single", why_not_gated=_SOAK, lower=None),
    _m("soak_errors", "count", False, "generations that failed during the soak",
       aggregate="single", gate_rule=_EXACT),
    _m("sustained_ratio", "last/first minute", True, "the soak's last-minute over "
       "first-minute median decode speed", aggregate="single",
       title="sustained over initial decode speed (soak)", budget_unit="",
       report_unit="ratio", timed=True),
    # ---- parity
    _m("parity_tokens", "tokens", True, "positions of the text dumped", aggregate="single"),
    _m("greedy_identical", FRACTION, True, "1 if the two backends' greedy continuations "
       "are identical", aggregate="mean"),
    _m("greedy_first_diff", "tokens", True, "position of the first differing greedy token"),
    _m("ppl_diff_pct", "%", False, "port perplexity / reference perplexity - 1, in %",
       aggregate="single", lower=None),
    _m("top1_agreement", FRACTION, True, "the two backends' argmax agrees at a position",
       aggregate="mean"),
    _m("mean_kl", NATS, False, "KL(reference || port) of the next-token distributions",
       aggregate="mean", lower=None),
    _m("reference_perplexity", "", False, "the reference backend's token perplexity",
       aggregate="single"),
    _m("next_token_acc", FRACTION, True, "the port's argmax is the text's next token",
       aggregate="mean"),
    _m("reference_next_token_acc", FRACTION, True, "the reference's argmax is the text's "
       "next token", aggregate="mean"),
]
_REGISTRY: dict[str, Metric] = {m.name: m for m in _ENTRIES}


def get(name: str) -> Metric | None:
    """The entry of `name`, or None when the harness does not know the metric."""
    return _REGISTRY.get(name)


def entry(name: str) -> Metric:
    """The entry of a metric the caller knows exists (KeyError naming it otherwise)."""
    m = _REGISTRY.get(name)
    if m is None:
        raise KeyError(f"metric {name!r} is not in the registry (harness.metrics)")
    return m


def all_metrics() -> list[Metric]:
    return list(_REGISTRY.values())


def register(metric: Metric) -> Metric:
    """Add a metric (a new measurement is one entry plus the code that measures it)."""
    if metric.name in _REGISTRY:
        raise ValueError(f"metric {metric.name!r} is already registered")
    _REGISTRY[metric.name] = metric
    return metric


@contextmanager
def registered(metric: Metric) -> Iterator[Metric]:
    """Register `metric` for the duration of a with-block (tests)."""
    register(metric)
    try:
        yield metric
    finally:
        _REGISTRY.pop(metric.name, None)


def direction(name: str, recorded: bool) -> bool:
    """higher_is_better: the registry's, else what the record says."""
    m = get(name)
    return recorded if m is None else m.higher_is_better


def unit(name: str, recorded: str = "") -> str:
    m = get(name)
    return recorded if m is None else m.unit


def gate_layer(name: str, recorded_unit: str) -> dict:
    """The built-in gate rule of one metric: its unit's layer, then its own keys."""
    m = get(name)
    u = recorded_unit if m is None else m.unit
    return {**UNIT_RULES.get(u, {}), **(m.gate_rule if m else {})}


def why_not_gated(name: str) -> str:
    m = get(name)
    return "" if m is None else m.why_not_gated


def flat_metrics(group: str) -> list[Metric]:
    return [m for m in _REGISTRY.values() if m.flat == group]


def table_metrics(group: str) -> list[Metric]:
    return [m for m in _REGISTRY.values() if group in m.table]


#: the printed tables' column order (labels); a registered metric's new column comes last
TABLE_ORDER = {
    "speed": ("TTFT ms", "prefill tok/s", "decode tok/s", ITL, "load s", "peak RSS MB",
              "model MB"),
    "quality": ("acc", "acc_norm", "acc/token", "token ppl", "word ppl", "byte ppl",
                "bits/byte", "tok/char", "tok/word", "chars/s", "items/s", "peak RSS MB"),
}


def table_columns(group: str) -> list[tuple[str, list[Metric]]]:
    """The printed table's metric columns: (label, the metrics that share its cell)."""
    cols: dict[str, list[Metric]] = {}
    for m in table_metrics(group):
        if m.replaces is None:
            cols.setdefault(m.label or m.name, []).append(m)
    order = TABLE_ORDER.get(group, ())
    return sorted(cols.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order
                  else len(order))


def replacing(name: str) -> list[Metric]:
    """Metrics whose cell stands in `name`'s column when a record has them."""
    return [m for m in _REGISTRY.values() if m.replaces == name]


def out_of_bounds(name: str, recorded_unit: str, value: float) -> str | None:
    """Why one sample of `name` cannot be a measurement, or None when it can."""
    if math.isnan(value) or math.isinf(value) or abs(value) > MAX_MAGNITUDE:
        return "not a possible measurement"
    m = get(name)
    if m is None:
        lower = 0.0 if recorded_unit in NON_NEGATIVE_UNITS else None
        upper, u = None, recorded_unit
    else:
        lower, upper, u = m.lower, m.upper, m.unit
    if lower is not None and value < lower:
        return (f"a {u} value cannot be negative" if lower == 0
                else f"below the lowest possible {m.name if m else name} ({lower:g})")
    if upper is not None and value > upper:
        return f"above the highest possible {name} ({upper:g} {u})"
    return None
