"""The Pareto plot of the builds: quality (KL to the reference, or a task metric) against
decode speed (left) and against peak memory (right); the builds on each front are joined
and labelled in bold. matplotlib through matplotlib.figure.Figure (no pyplot, no global
state), SVG with text as paths and fixed ids (the same input gives the same bytes),
mathtext off so a '$' in a build name is text: the same conventions as
harness/report/plots.py, so the report can embed it.
"""

from __future__ import annotations

import io

from harness.builds.decide import fronts, quality_key

RC = {"svg.fonttype": "path", "svg.hashsalt": "sllm-bench", "text.parse_math": False,
      "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9,
      "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True,
      "grid.alpha": 0.3, "figure.dpi": 100}
PANELS = (("decode_tps", "decode tokens/s (higher is better)", "speed"),
          ("peak_rss_mb", "peak RSS MB (lower is better)", "memory"))


def pareto_plot(rows: list[dict], quality: str = "kl", title: str = "") -> str | None:
    """The SVG document (text) of the two Pareto panels, or None when no build has both
    a quality figure and a speed or memory figure. `rows`: decide's build rows."""
    import matplotlib
    from matplotlib.figure import Figure

    x, _ = quality_key(quality)
    front = fronts(rows, quality)
    if not any(r.get(x) is not None and r.get(y) is not None for r in rows
               for y, _, _ in PANELS):
        return None
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(10, 4), layout="constrained")
        for ax, (y, ylabel, key) in zip(fig.subplots(1, 2), PANELS):
            pts = [(r[x], r[y], r["build"]) for r in rows
                   if r.get(x) is not None and r.get(y) is not None]
            on = sorted(p for p in pts if p[2] in front[key])
            ax.scatter([p[0] for p in pts], [p[1] for p in pts], color="#7f7f7f", zorder=2)
            if on:
                ax.plot([p[0] for p in on], [p[1] for p in on], color="#1f77b4",
                        marker="o", zorder=3, label="Pareto front")
                ax.legend(loc="best", frameon=False)
            for px, py, name in pts:
                ax.annotate(name, (px, py), textcoords="offset points", xytext=(4, 4),
                            fontsize=7, fontweight="bold" if name in front[key] else "normal")
            ax.set_xlabel("mean KL to the reference (nats, lower is better)" if x == "kl"
                          else x)
            ax.set_ylabel(ylabel)
        if title:
            fig.suptitle(title)
        buf = io.StringIO()
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
        return buf.getvalue()
