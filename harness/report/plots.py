"""Plots for the report, drawn with matplotlib and returned as SVG data: URIs.

matplotlib is imported inside the functions (never at module level) and used through
matplotlib.figure.Figure, without pyplot, so no global backend state is touched. Each
figure is rendered to SVG with text as paths and fixed ids (the same input gives the same
bytes) and embedded as <img src="data:image/svg+xml;base64,...">: an image cannot run
script, so a hostile label cannot either. Mathtext is off, so a '$' in a name is text.

A series is one model x backend x device x threads x generated-tokens combination; its
legend label names the backend plus whichever of the other dimensions vary in the inputs.
Each backend keeps the same colour in every plot.
"""

from __future__ import annotations

import base64
import io
import math

from harness import metrics
from harness.records import Record, latest
from harness.report.collect import backend_label

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
           "#17becf", "#7f7f7f", "#bcbd22")
RC = {"svg.fonttype": "path", "svg.hashsalt": "sllm-bench", "text.parse_math": False,
      "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "legend.fontsize": 8,
      "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True,
      "grid.alpha": 0.3, "figure.dpi": 100}


def _dims(r: Record) -> dict:
    p = r.params
    return {"model": r.model_id, "backend": backend_label(r),
            "device": r.device, "threads": p.get("threads"),
            "gen": p.get("gen_tokens")}


def series(records: list[Record]) -> dict[str, list[Record]]:
    """Records grouped by series; keys are legend labels (see the module docstring)."""
    dims = [_dims(r) for r in records]
    varying = [k for k in ("model", "device", "threads", "gen")
               if len({str(d[k]) for d in dims}) > 1]
    out: dict[str, list[Record]] = {}
    for r, d in zip(records, dims):
        extra = [f"{d[k]} threads" if k == "threads" else f"gen {d[k]}" if k == "gen"
                 else str(d[k]) for k in varying]
        label = d["backend"] + (f" · {' · '.join(extra)}" if extra else "")
        out.setdefault(label, []).append(r)
    return dict(sorted(out.items()))


def colours(records: list[Record]) -> dict[str, str]:
    names = sorted({backend_label(r) for r in records})
    return {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(names)}


def _svg_uri(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(w: float, h: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(w, h), layout="constrained")


def _rc():
    import matplotlib

    return matplotlib.rc_context(RC)


def _legend(ax, n: int) -> None:
    if n:
        ax.legend(loc="best", frameon=False)


# ------------------------------------------------------------------ speed
def speed_vs_prompt(speed: list[Record]) -> str | None:
    """TTFT (left) and decode tokens/s (right) against prompt length, median with the
    bootstrap interval of the median (nominal 95%, about 92% at 5 repetitions) as error
    bars, one line per series."""
    recs = [r for r in speed if isinstance(r["params"].get("prompt_tokens"), int)]
    recs = latest(recs, lambda r: (tuple(_dims(r).values()), r["params"]["prompt_tokens"]))
    if not recs:
        return None
    colour = colours(recs)
    prompts = sorted({r["params"]["prompt_tokens"] for r in recs})
    with _rc():
        fig = _figure(10, 3.6)
        axes = fig.subplots(1, 2)
        panels = (("ttft_ms", "time to first token (ms)", "TTFT vs prompt length"),
                  ("decode_tps", "decode tokens/s", "Decode speed vs prompt length"))
        for ax, (metric, ylabel, title) in zip(axes, panels):
            for i, (label, rs) in enumerate(series(recs).items()):
                pts = sorted((r.params["prompt_tokens"], r.stat(metric),
                              r.stat(metric, "ci_low"), r.stat(metric, "ci_high"))
                             for r in rs if r.stat(metric) is not None)
                if not pts:
                    continue
                xs, ys = [p[0] for p in pts], [p[1] for p in pts]
                lo = [max(0.0, y - (p[2] if p[2] is not None else y)) for p, y in zip(pts, ys)]
                hi = [max(0.0, (p[3] if p[3] is not None else y) - y) for p, y in zip(pts, ys)]
                ax.errorbar(xs, ys, yerr=[lo, hi], marker="os^Dv<>"[i % 7], capsize=3,
                            color=colour[backend_label(rs[0])], label=label,
                            linestyle="-" if i < 7 else "--")
            if len(prompts) > 1 and prompts[-1] / max(prompts[0], 1) >= 4:
                ax.set_xscale("log", base=2)
            ax.set_xticks(prompts, [str(p) for p in prompts])
            ax.minorticks_off()
            ax.set_xlabel("prompt tokens")
            ax.set_ylabel(ylabel)
            ax.set_title(title)
            ax.set_ylim(bottom=0)
            _legend(ax, len(ax.get_lines()))
        return _svg_uri(fig)


def itl_distribution(speed: list[Record]) -> str | None:
    """Histogram of inter-token gaps per series (pooled over prompt lengths and
    repetitions) as the fraction of gaps per bin, on a logarithmic latency axis so the bulk
    and the tail are both visible; a dashed line marks each series' p99."""
    groups = {label: [x for r in rs for x in r.samples("itl_ms") if x > 0]
              for label, rs in series(speed).items()}
    groups = {k: v for k, v in groups.items() if v}
    if not groups:
        return None
    from matplotlib.ticker import FuncFormatter

    from harness.measure.stats import percentile

    colour = colours(speed)
    first = {label: backend_label(rs[0]) for label, rs in series(speed).items()}
    lo = min(min(v) for v in groups.values()) * 0.95
    hi = max(max(v) for v in groups.values()) * 1.05
    hi = hi if hi > lo * 1.5 else lo * 1.5
    bins = [lo * (hi / lo) ** (i / 80) for i in range(81)]
    with _rc():
        fig = _figure(10, 3.2)
        ax = fig.subplots()
        for label, xs in groups.items():
            c = colour[first[label]]
            p50, p99 = percentile(xs, 50), percentile(xs, 99)
            ax.hist(xs, bins=bins, weights=[1 / len(xs)] * len(xs), histtype="step",
                    linewidth=1.6, color=c,
                    label=f"{label} (p50 {p50:.2f}, p99 {p99:.2f} ms, n={len(xs)})")
            ax.axvline(p99, color=c, linestyle=":", linewidth=1.2)
        ax.set_xscale("log")
        ax.set_xlim(lo, hi)
        fmt = FuncFormatter(lambda v, _: f"{v:g}")
        ax.xaxis.set_major_formatter(fmt)
        decades = math.log10(hi / lo)
        digits = "234568" if decades < 1.2 else "25" if decades < 2.2 else ""
        ax.xaxis.set_minor_formatter(FuncFormatter(
            lambda v, _: f"{v:g}" if digits and f"{v:g}".lstrip("0.")[:1] in digits else ""))
        ax.set_xlabel("inter-token latency (ms, log scale); dotted lines: p99")
        ax.set_ylabel("fraction of gaps")
        ax.set_title("Inter-token latency distribution")
        _legend(ax, len(groups))
        return _svg_uri(fig)


# ------------------------------------------------------------------ memory
def memory_bars(rows: list[dict]) -> str | None:
    """Peak RSS, RSS after load and model size per model x backend x device, with each
    device's memory budget as a dashed line."""
    rows = [r for r in rows if r["peak"] is not None]
    if not rows:
        return None
    varying = [k for k in ("model", "device") if len({r[k] for r in rows}) > 1]
    labels = [" · ".join([r["backend"]] + [r[k] for k in varying]) for r in rows]
    bars = (("peak", "peak RSS", 1.0), ("after_load", "RSS after load", 0.55),
            ("size", "model file size", 0.3))
    names = sorted({r["backend"] for r in rows})
    colour = {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(names)}
    h = 0.26
    with _rc():
        fig = _figure(10, 0.9 + 0.62 * len(rows))
        ax = fig.subplots()
        for j, (key, name, alpha) in enumerate(bars):
            ys = [i + (j - 1) * h for i in range(len(rows))]
            vals = [r[key] or 0.0 for r in rows]
            ax.barh(ys, vals, height=h, color=[colour[r["backend"]] for r in rows],
                    alpha=alpha, label=name, edgecolor="#333", linewidth=0.4)
            for y, v in zip(ys, vals):
                if v:
                    ax.annotate(f"{v:.0f} MB", (v, y), xytext=(3, 0),
                                textcoords="offset points", va="center", fontsize=7)
        budgets = sorted({(r["budget"], r["device"]) for r in rows if r["budget"]})
        for b, dev in budgets:
            ax.axvline(b, color="#b00", linestyle="--", linewidth=1,
                       label=f"memory budget {dev}: {b:.0f} MB")
        ax.set_yticks(range(len(rows)), labels)
        ax.invert_yaxis()
        ax.set_xlabel(metrics.entry("peak_rss_mb").unit)
        ax.set_xlim(0, max([r["peak"] for r in rows] + [b for b, _ in budgets]) * 1.18)
        ax.set_title("Memory per backend")
        ax.grid(axis="y", visible=False)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        return _svg_uri(fig)


# ------------------------------------------------------------------ reliability
def soak_over_time(soak: list[Record]) -> str | None:
    """Decode tokens/s (top) and resident memory (bottom) over the soak run's time."""
    data = []
    for label, rs in series(soak).items():
        (r,) = latest(rs, lambda x: 0)  # one key: the series' latest soak run
        t, tps, rss = (r.samples(m) for m in ("soak_t_s", "soak_decode_tps", "soak_rss_mb"))
        if t and (tps or rss):
            data.append((label, backend_label(r), t, tps, rss))
    if not data:
        return None
    colour = colours(soak)
    with _rc():
        fig = _figure(10, 4.6)
        top, bottom = fig.subplots(2, 1, sharex=True)
        minutes = max(max(d[2]) for d in data) >= 120
        scale, unit = (60.0, "min") if minutes else (1.0, "s")
        for label, backend, t, tps, rss in data:
            xs = [x / scale for x in t]
            if tps:
                n = min(len(xs), len(tps))
                top.plot(xs[:n], tps[:n], color=colour[backend], label=label, linewidth=1.4)
            if rss:
                n = min(len(xs), len(rss))
                bottom.plot(xs[:n], rss[:n], color=colour[backend], label=label,
                            linewidth=1.4)
        top.set_ylabel("decode tokens/s")
        top.set_title("Soak run: decode speed and resident memory over time")
        top.set_ylim(bottom=0)
        bottom.set_ylabel("RSS (MB)")
        bottom.set_xlabel(f"time ({unit})")
        lo = min((min(d[4]) for d in data if d[4]), default=0.0)
        hi = max((max(d[4]) for d in data if d[4]), default=1.0)
        pad = max((hi - lo) * 0.5, 0.05 * hi, 1.0)
        bottom.set_ylim(max(0.0, lo - pad), hi + pad)
        _legend(top, len(data))
        return _svg_uri(fig)


def all_plots(inputs, memory_rows: list[dict]) -> dict[str, str | None]:
    return {"speed": speed_vs_prompt(inputs.speed), "itl": itl_distribution(inputs.speed),
            "memory": memory_bars(memory_rows), "soak": soak_over_time(inputs.soak)}
