"""Rank-correlation half of the label-copy check: no feature is a monotone transform or a noisy
copy of a label moved onto its row (``gogooku.dataset.labels.assert_no_label_copies``).

For a feature f and a label L moved by ``shift`` rows of the same stock (the exact check's
shifts), the statistic is Spearman's ρ (average ranks for ties) between f and L over the rows
where both are known:

- **per day** where possible: ρ over each day's cross-section of stocks, on the days with at
  least ``MIN_DAY_STOCKS`` such stocks, then the median over those days (at least ``MIN_DAYS``).
  The networks and the tabular models see each feature normalised per date (rank-gauss or robust
  z), so a per-day monotone transform of a label — exp(L), 3L + 1, L minus the day's mean, L's
  rank within the day — orders each day's stocks as the label does (after rank-gauss it is the
  label's own score); its per-day ρ is 1 whatever the day's level or scale, and the median
  ignores a few odd days. The
  largest honest value is a past return that overlaps a label's window: ``ret_prev_20d`` against
  ``target_20d`` of row t−20 shares 19 of 20 daily returns (ρ ≈ 0.95);
- **pooled** over all rows otherwise (at least ``MIN_POOLED`` rows; a panel of a few stocks, or a
  feature known on only a few stocks a day), where a global monotone transform still gives 1.

|ρ| > ``threshold`` (a decreasing transform reads the future as well) refuses the feature. A
screen first computes both statistics for every feature at once on ``SCREEN_DAYS`` evenly
spaced days, with each column ranked among its own known values; only features above
``SCREEN`` there are ranked exactly on every day.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata
from threadpoolctl import threadpool_limits

MIN_DAY_STOCKS = 20
MIN_DAYS = 10
MIN_POOLED = 100
SCREEN_DAYS = 40
SCREEN = 0.95


@dataclass(frozen=True)
class RankCopy:
    """A feature (index into the feature axis) whose |ρ| with the moved label is too high."""

    feature: int
    rho: float
    how: str


def _at_days(values: np.ndarray, row_at: np.ndarray) -> np.ndarray:
    """``values`` (..., S, R) by stock row → (..., S, D) by day (NaN where no row)."""
    stock = np.arange(row_at.shape[0])[:, None]
    out = values[..., stock, np.maximum(row_at, 0)]
    return np.where(row_at >= 0, out, np.nan)


def _ordinal_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n of the finite values along the last axis (ties in sort order; NaN after)."""
    order = np.argsort(x, axis=-1, kind="stable")
    return np.argsort(order, axis=-1, kind="stable").astype(np.float64) + 1


def _sums(x: np.ndarray) -> np.ndarray:
    """(…, 3K, S): the known-value mask, mask·rank and mask·rank² of the K columns (…, K, S)."""
    mask = np.isfinite(x).astype(np.float64)
    r = _ordinal_ranks(x) * mask
    return np.concatenate([mask, r, r * r], axis=-2)


def _corr(feature_sums: np.ndarray, label_sums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pearson correlations (…, F, K) of F feature with K label rank columns, each pair over the
    entries both know, from ``_sums`` stacks (…, 3F, S) and (…, 3K, S); and the entry counts."""
    # Many small products: BLAS threads only add hand-offs (on 2 busy cores a check of 100
    # features took 26 s of wall time with them, 7 s without).
    with threadpool_limits(limits=1, user_api="blas"):
        c = feature_sums @ np.swapaxes(label_sums, -1, -2)  # (…, 3F, 3K)
    f, k = c.shape[-2] // 3, c.shape[-1] // 3
    n, sx, sxx = c[..., :f, :k], c[..., f : 2 * f, :k], c[..., 2 * f :, :k]
    sy, syy, sxy = c[..., :f, k : 2 * k], c[..., :f, 2 * k :], c[..., f : 2 * f, k : 2 * k]
    with np.errstate(invalid="ignore", divide="ignore"):
        return (n * sxy - sx * sy) / np.sqrt((n * sxx - sx * sx) * (n * syy - sy * sy)), n


class RankScreen:
    """The features of a (F, S, R) stock-row matrix, ranked once on the screen's days."""

    def __init__(self, feats: np.ndarray, row_at: np.ndarray) -> None:
        self.feats, self.row_at = feats, row_at
        n_days = row_at.shape[1]
        days = np.unique(np.linspace(0, n_days - 1, min(SCREEN_DAYS, n_days)).astype(int))
        self.rows = row_at[:, days]  # (S, Q)
        f_days = _at_days(feats, self.rows)  # (F, S, Q)
        self.day_sums = _sums(np.moveaxis(f_days, -1, 0))  # (Q, 3F, S)
        self.pooled_sums = _sums(f_days.reshape(f_days.shape[0], -1))  # (3F, S·Q)

    def candidates(self, label: np.ndarray, shifts: np.ndarray) -> list[np.ndarray]:
        """Per shift s, the features whose screened |ρ| with ``label`` (S, R) moved by s rows
        (row t gets row t − s) passes ``SCREEN``: on more than half of the days with enough
        stocks (at least 3 such days), or pooled."""
        src = self.rows[None] - shifts[:, None, None]  # (K, S, Q)
        known = (self.rows[None] >= 0) & (src >= 0) & (src < label.shape[1])
        stock = np.arange(label.shape[0])[None, :, None]
        moved = np.where(known, label[stock, np.clip(src, 0, label.shape[1] - 1)], np.nan)
        day_rho, n = _corr(self.day_sums, _sums(np.moveaxis(moved, -1, 0)))  # (Q, F, K)
        counted = n >= MIN_DAY_STOCKS
        high = counted & (np.abs(np.nan_to_num(day_rho)) > SCREEN)
        per_day = (counted.sum(axis=0) >= 3) & (2 * high.sum(axis=0) > counted.sum(axis=0))
        pooled, n_pooled = _corr(self.pooled_sums, _sums(moved.reshape(len(shifts), -1)))
        pooled_high = (n_pooled >= MIN_POOLED // 4) & (np.abs(np.nan_to_num(pooled)) > SCREEN)
        return [np.flatnonzero(col) for col in (per_day | pooled_high).T]


def _pearson(x: np.ndarray, y: np.ndarray, axis: int | None) -> np.ndarray:
    xc = x - np.nanmean(x, axis=axis, keepdims=True)
    yc = y - np.nanmean(y, axis=axis, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        num = np.nansum(xc * yc, axis=axis)
        return num / np.sqrt(np.nansum(xc * xc, axis=axis) * np.nansum(yc * yc, axis=axis))


def spearman(feature: np.ndarray, label: np.ndarray) -> tuple[float, str] | None:
    """The statistic of the module doc for (S, D) by-day arrays: (ρ, how), or None when neither
    the per-day nor the pooled statistic has enough rows."""
    both = np.isfinite(feature) & np.isfinite(label)
    f, lab = np.where(both, feature, np.nan), np.where(both, label, np.nan)
    days = both.sum(axis=0) >= MIN_DAY_STOCKS
    if days.sum() >= MIN_DAYS:
        rf = rankdata(f[:, days], axis=0, nan_policy="omit")
        rl = rankdata(lab[:, days], axis=0, nan_policy="omit")
        rho = _pearson(rf, rl, axis=0)
        if np.isfinite(rho).sum() >= MIN_DAYS:
            n = int(np.isfinite(rho).sum())
            return float(np.nanmedian(rho)), f"median over {n} days of the per-day cross-section"
    if both.sum() < MIN_POOLED:
        return None
    rho = _pearson(rankdata(f[both]), rankdata(lab[both]), axis=None)
    return (float(rho), f"pooled over {int(both.sum())} rows") if np.isfinite(rho) else None


def rank_copy(
    screen: RankScreen, shifted: np.ndarray, candidates: np.ndarray, threshold: float
) -> RankCopy | None:
    """The first of ``candidates`` (``RankScreen.candidates`` of this shift) whose |ρ| with
    ``shifted`` (S, R: the label moved onto each row) exceeds ``threshold``, or None."""
    label_days = _at_days(shifted, screen.row_at)
    for j in candidates:
        found = spearman(_at_days(screen.feats[j], screen.row_at), label_days)
        if found is not None and abs(found[0]) > threshold:
            return RankCopy(int(j), *found)
    return None
