"""Formulas of live monitoring, as small pure functions on numpy arrays (empyrical style).

Conventions (the same as ``gogooku.evaluate.metrics`` where both define a quantity):

- **RankIC** of one day = Spearman correlation of score and realised return across the day's
  stocks: the Pearson correlation of their average ranks (ties share the mean of their ranks).
  Pairs where either value is NaN are dropped; fewer than 2 pairs, or all scores (or returns)
  equal, give NaN.
- **Top-K spread** of one day = mean return of the K highest scores − mean return of the K
  lowest, with K = min(K, ⌊n/2⌋) so the two legs never share a stock (ties in score broken by
  position, i.e. by code when the caller passes rows sorted by code); NaN when n < 2.
- **Decile edges** of a reference sample = its 10 %, 20 %, …, 90 % quantiles (linear
  interpolation), duplicates removed; the bins are (−∞, e₁], (e₁, e₂], …, (e_m, ∞).
- **Bin shares** = the share of a sample's non-NaN values in each bin (sums to 1).
- **PSI** (population stability index) of shares a (actual) against e (expected):
  PSI = Σ_b (a_b − e_b) · ln(a_b / e_b), with both shares floored at ``eps`` = 1e-4 so an empty
  bin stays finite. Rules of thumb: < 0.1 stable, 0.1–0.25 moderate shift, > 0.25 large shift.
  A sample of n values drawn from the reference itself has E[PSI] ≈ (B − 1)/n for B bins (the
  χ² noise floor): 0.002 for 4000 stocks and 10 bins, 0.4 for 23.
- **Trailing mean** over ``window`` observations: the mean of the last ``window`` values,
  defined only once ``window`` values exist (NaN before); NaN values inside count as missing and
  make the window undefined.
- **One-sided paired t-test** of daily differences d_i (candidate − current):
  t = mean(d) / (sd(d, ddof=1) / √n), p = P(T_{n−1} ≥ t); n < 2 gives p = NaN, sd = 0 gives
  t = ±∞ (p 0 or 1) by the sign of the mean (t = NaN, p = 1 when every difference is 0).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

PSI_EPS = 1e-4
DECILES = tuple(q / 10 for q in range(1, 10))


def _pairs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    keep = np.isfinite(a) & np.isfinite(b)
    return a[keep], b[keep]


def rank_ic(scores: np.ndarray, returns: np.ndarray) -> float:
    """Spearman correlation of ``scores`` and ``returns`` (module doc); NaN when undefined."""
    s, r = _pairs(scores, returns)
    if s.size < 2 or np.unique(s).size < 2 or np.unique(r).size < 2:
        return math.nan
    return float(np.corrcoef(stats.rankdata(s), stats.rankdata(r))[0, 1])


def topk_spread(scores: np.ndarray, returns: np.ndarray, k: int) -> float:
    """Mean return of the top ``k`` scores minus that of the bottom ``k`` (module doc)."""
    s, r = _pairs(scores, returns)
    k = min(k, s.size // 2)
    if k < 1:
        return math.nan
    order = np.argsort(-s, kind="stable")
    return float(r[order[:k]].mean() - r[order[-k:]].mean())


def decile_edges(values: np.ndarray) -> list[float]:
    """The distinct 10 %…90 % quantiles of the finite ``values`` (empty: no finite value)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return []
    return [float(x) for x in np.unique(np.quantile(v, DECILES))]


def bin_shares(values: np.ndarray, edges: list[float]) -> list[float]:
    """Share of the finite ``values`` in each bin of ``edges`` (len(edges) + 1 bins; a value
    equal to an edge falls in the bin the edge closes). Empty sample: every share 0."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    counts = np.bincount(
        np.searchsorted(np.asarray(edges), v, side="left"), minlength=len(edges) + 1
    )
    return [float(c) for c in counts / max(v.size, 1)]


def psi(expected: list[float], actual: list[float], eps: float = PSI_EPS) -> float:
    """Population stability index of ``actual`` shares against ``expected`` (module doc)."""
    if len(expected) != len(actual):
        raise ValueError(f"psi: {len(expected)} expected bins, {len(actual)} actual")
    e = np.maximum(np.asarray(expected, dtype=np.float64), eps)
    a = np.maximum(np.asarray(actual, dtype=np.float64), eps)
    return float(np.sum((a - e) * np.log(a / e)))


def trailing_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Mean of each value and the ``window`` − 1 before it; NaN until ``window`` values exist
    or where one of them is NaN."""
    v = np.asarray(values, dtype=np.float64)
    out = np.full(v.shape, np.nan)
    if v.size >= window:
        sums = np.convolve(v, np.ones(window), mode="valid")
        out[window - 1 :] = sums / window
    return out


def paired_t_one_sided(diffs: np.ndarray) -> tuple[float, float]:
    """(t, p) of the one-sided paired t-test that the mean of ``diffs`` is > 0 (module doc)."""
    d = np.asarray(diffs, dtype=np.float64)
    n = d.size
    if n < 2:
        return math.nan, math.nan
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    if sd == 0.0:
        if mean == 0.0:
            return math.nan, 1.0
        return (math.inf, 0.0) if mean > 0 else (-math.inf, 1.0)
    t = mean / (sd / math.sqrt(n))
    return t, float(stats.t.sf(t, df=n - 1))
