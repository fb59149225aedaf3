"""Token perplexity's bounds over the windows of a text (harness.measure.bounds has the
others and the Bound they return).

- perplexity_bound: the ratio estimator r = sum(nll) / sum(tokens) over windows, a
  Student-t bound on r, exp() of it (perplexity). Windows of one text are not independent
  (a topic spans several), so the standard error never treats them as such:
  * with MIN_DOCUMENTS (10) or more documents named by the record (window_document): the
    jackknife over documents (documents independent; windows within one may correlate
    freely), Student t with fewer degrees of freedom than documents - 1 when they differ
    in size or are heavy-tailed (unit_df);
  * with 2-9 named documents: no bound (each document has its own level, and so few
    cannot show how much levels vary);
  * for one text (or a record that names no documents): batch means of consecutive
    windows, the jackknife over batches. Batches are long enough that, were the windows
    AR(1) with the upper 95% bound of their lag-1 autocorrelation, adjacent batches
    would correlate at most MAX_BATCH_CORR; at least MIN_BATCHES of them; the widest of
    the bounds from that length, its doublings and 5 batches counts (a correlation
    longer than AR(1)'s makes the batch-means variance grow with the length). No bound
    when the windows still correlate at a batch's distance beyond what AR(1) allows
    (topics or documents longer than a batch), or when too few batches remain.
  The assumption: the text's correlation dies out within a batch (AR(1)-like decay), or
  the record names its documents. A record from before window_document, whose task had
  several documents, looks like one text. The independent-window SE this replaces PASSed
  15-36% of budgets at the true perplexity under AR(0.5/0.9) topics. Simulated
  (benchmarks/simulate_verdicts.py, 4,000 runs a row, 40 and 200 windows): independent
  and AR(0.5/0.9) topics, 4 named or unnamed documents 0-4.9% PASS at the true
  perplexity (AR(0.9), 4 documents and 40 AR(0.5) windows: NOT MEASURED); 10-50 named
  documents 4.4-5.0% (the per-document bound is exact to simulation accuracy, not
  conservative); the paired ratio likewise.
- perplexity_ratio: ppl(B) / ppl(A) of two runs over the same windows, from the paired
  per-window differences with the same standard error (what both runs share, the text's
  hard and easy windows, cancels), and the one-sided p that B is worse; the gate decides
  token_perplexity with it (harness.gate.compare).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from harness.measure.bounds import LEVEL, Bound, check_side, finite

MIN_WINDOWS = 5
#: documents a per-document SE needs (fewer than this, but more than one: no bound)
MIN_DOCUMENTS = 10
#: batches of consecutive windows a SE needs, and how far adjacent batches may correlate
MIN_BATCHES = 5
MAX_BATCH_CORR = 0.05


def _series_se(num: Sequence[float], den: Sequence[float],
               documents: Sequence[float] | None, level: float
               ) -> tuple[float, float | None, float, str]:
    """(r, se, df, how) of r = sum(num) / sum(den) over windows in text order; se None
    (how then says why) when the windows cannot give one (module docstring)."""
    import numpy as np
    from scipy.stats import norm

    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    n = num.size
    r = float(num.sum() / den.sum())
    if documents is not None and len(documents) == n:
        ids = np.unique(np.asarray(documents), return_inverse=True)[1]
        d = int(ids.max() + 1)
        if d >= MIN_DOCUMENTS:
            sums = [np.bincount(ids, weights=v) for v in (num, den)]
            se = jackknife_se(sums[0], sums[1])
            df = unit_df(sums[0], sums[1])
            return r, se, df, f"SE over {d} documents ({df:.1f} degrees of freedom)"
        if d > 1:
            return r, None, 0.0, (f"{d} documents cannot give a standard error: each has "
                                  f"its own level, so the documents are the unit (needs "
                                  f"{MIN_DOCUMENTS}, or one long document)")
    if n < MIN_WINDOWS:
        return r, None, 0.0, f"{n} windows cannot give a standard error (needs {MIN_WINDOWS})"
    u = num / den - r  # each window's per-token NLL about the estimate
    ss = float(np.dot(u, u))
    rho = float(np.dot(u[1:], u[:-1]) / ss) if ss > 0 else 0.0
    # the lag-1 autocorrelation's upper bound: the estimate, its small-sample bias
    # (about (1 + 4 rho) / n) and z standard errors
    up = min(0.999, rho + (1 + 4 * max(rho, 0.0)) / n
             + float(norm.ppf(level)) * math.sqrt(max(1 - rho ** 2, 0.0) / n))
    m = _batch_length(up, n)
    batches = n // m
    if batches < MIN_BATCHES:
        return r, None, 0.0, (f"consecutive windows are correlated (lag-1 autocorrelation "
                              f"{rho:.2f}, up to {up:.2f}): batches of {m} windows would "
                              f"be needed, and {n} windows make {batches}, fewer than "
                              f"{MIN_BATCHES}; score more windows, or {MIN_DOCUMENTS}+ "
                              "documents")
    far = float(np.dot(u[m:], u[:-m]) / ss) if ss > 0 and m < n else 0.0
    if far > up ** m + 2.33 / math.sqrt(n):
        return r, None, 0.0, (f"the windows still correlate {far:.2f} at {m} windows' "
                              f"distance, more than an AR(1) of lag-1 autocorrelation "
                              f"{up:.2f} would (documents or topics longer than a batch): "
                              f"score more windows, or {MIN_DOCUMENTS}+ named documents")
    # batches of m, 2m, 4m ... windows while 5+ batches remain, and 5 batches: the widest
    # bound counts (a correlation longer than AR(1)'s, e.g. documents' levels, makes the
    # batch-means variance grow with the batch length)
    from scipy.stats import t as student

    best = None
    lengths = sorted({m * 2 ** j for j in range(12) if n // (m * 2 ** j) >= MIN_BATCHES}
                     | {n // MIN_BATCHES})
    for m in lengths:
        b = n // m
        ids = np.minimum(np.arange(n) // m, b - 1)
        se = jackknife_se(np.bincount(ids, weights=num), np.bincount(ids, weights=den))
        if best is None or se * student.ppf(level, b - 1) > best[0]:
            best = (se * float(student.ppf(level, b - 1)), se, b, m)
    _, se, b, m = best
    return r, se, b - 1.0, (f"SE over {b} batches of {m}+ consecutive windows (the widest "
                            f"of the batch lengths tried; lag-1 autocorrelation {rho:.2f}, "
                            f"up to {up:.2f})")


def log_perplexity_se(window_nll: Sequence[float], window_tokens: Sequence[float],
                      documents: Sequence[float] | None = None,
                      level: float = LEVEL) -> float | None:
    """The standard error of log token perplexity the bound uses (over documents, or over
    batches of consecutive windows), or None when the windows cannot give one."""
    nll, tok = finite(window_nll), finite(window_tokens)
    if not nll or len(nll) != len(tok) or sum(tok) <= 0:
        return None
    return _series_se(nll, tok, documents, level)[1]


def jackknife_se(num, den) -> float:
    """The delete-one jackknife standard error of sum(num) / sum(den) over units (documents
    or batches): in small samples it is wider than the delta method's, which PASSed 6%
    of budgets at the truth with 10 documents."""
    import numpy as np

    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    g = num.size
    loo = (num.sum() - num) / (den.sum() - den)
    return float(math.sqrt((g - 1) / g * float(np.sum((loo - loo.mean()) ** 2))))


def unit_df(num, den) -> float:
    """Degrees of freedom of the SE over g units (documents), at most g - 1: fewer when
    the units differ in size (the effective count of units by their tokens, Kish) or their
    residuals are heavy-tailed (2 / (2 / (g - 1) + excess kurtosis / g)): a few large or
    far-off documents carry the variance then."""
    import numpy as np

    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    g = num.size
    kish = float(den.sum() ** 2 / np.sum(den ** 2))
    e = num - num.sum() / den.sum() * den
    m2 = float(np.mean(e ** 2))
    excess = max(float(np.mean(e ** 4)) / m2 ** 2 - 3.0, 0.0) if m2 > 0 else 0.0
    return max(1.0, min(g - 1.0, kish - 1.0, 2.0 / (2.0 / (g - 1) + excess / g)))


def _batch_length(rho: float, n: int) -> int:
    """The fewest consecutive windows per batch whose batch sums correlate at most
    MAX_BATCH_CORR with the next batch's, were the windows AR(1) with lag-1 rho."""
    if rho <= 0:
        return 1
    for m in range(1, n + 1):
        var = m + 2 * sum((m - j) * rho ** j for j in range(1, m))
        if rho * (1 - rho ** m) ** 2 / (1 - rho) ** 2 / var <= MAX_BATCH_CORR:
            return m
    return n


def perplexity_bound(window_nll: Sequence[float], window_tokens: Sequence[float],
                     side: str = "upper", level: float = LEVEL,
                     documents: Sequence[float] | None = None) -> Bound | None:
    """Token perplexity exp(r), r = sum nll / sum tokens over windows in text order, with
    a one-sided bound on exp of the ratio estimator's block-aware SE (module docstring);
    `documents`: each window's document (ids), when the record carries them."""
    from scipy.stats import t as student

    check_side(side)
    nll, tok = finite(window_nll), finite(window_tokens)
    if not nll or len(nll) != len(tok) or sum(tok) <= 0:
        return None
    r, se, df, how = _series_se(nll, tok, documents, level)
    method = (f"exp(sum nll / sum tokens) over {len(nll)} windows, one-sided {level:.0%} "
              "bound (ratio estimator; SE over documents, or over consecutive windows "
              "widened for their autocorrelation)")
    if se is None:
        return Bound(math.exp(r), None, method, level, len(nll), side, how)
    z = float(student.ppf(level, df)) * se
    return Bound(math.exp(r), math.exp(r + z if side == "upper" else r - z), method,
                 level, len(nll), side, notes=(f"{how}; SE of log-perplexity {se:.4g}",))


def perplexity_ratio(nll_a: Sequence[float], nll_b: Sequence[float],
                     window_tokens: Sequence[float], side: str = "upper",
                     level: float = LEVEL, documents: Sequence[float] | None = None
                     ) -> tuple[Bound | None, float | None]:
    """Paired ratio of two runs' token perplexities over the same windows, ppl(B) / ppl(A)
    = exp(sum(nll_b - nll_a) / sum tokens), its one-sided bound, and the one-sided p that
    B is worse (higher perplexity) than A (t test of the log ratio; None without a SE).
    The per-window differences carry the SE (as perplexity_bound), so what both runs share
    (the text's hard and easy windows) cancels. (None, None) when the windows differ."""
    from scipy.stats import t as student

    check_side(side)
    a, b, tok = (finite(v) for v in (nll_a, nll_b, window_tokens))
    if not tok or not len(a) == len(b) == len(tok) or sum(tok) <= 0:
        return None, None
    diff = [y - x for x, y in zip(a, b)]
    r, se, df, how = _series_se(diff, tok, documents, level)
    method = (f"paired ratio of token perplexities over {len(tok)} windows, one-sided "
              f"{level:.0%} bound (SE of the per-window differences)")
    if se is None:
        return Bound(math.exp(r), None, method, level, len(tok), side, how), None
    if se == 0:
        p = 0.0 if r > 0 else 1.0
    else:
        p = float(student.sf(r / se, df))
    z = float(student.ppf(level, df)) * se
    return Bound(math.exp(r), math.exp(r + z if side == "upper" else r - z), method, level,
                 len(tok), side, notes=(how,)), p
