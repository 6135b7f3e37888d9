"""Forward-return labels (SPEC §6) and the check that no feature is a shifted copy, a monotone
transform or a noisy copy of a label.

For h ∈ {1, 5, 10, 20}, over each stock's own rows of the base frame (one row per trading day
while listed), with the position bought at the close of t+1:

    target_{h}d(t)        = AdjC[t+1+h] / AdjC[t+1] − 1
    target_{h}d_excess(t) = target_{h}d(t) − (topix_C[t+1+h] / topix_C[t+1] − 1)
    target_{h}d_sector(t) = target_{h}d(t) − mean_{s ∈ S33(t), same Date} target_{h}d(s)

A label is null where a row of its window does not exist yet (the end of the data) or a close in
it is missing (e.g. the 2020-10-01 halt); the sector mean is over the non-null labels of the
stock's 33-sector that day (itself included) and is null where S33 is null.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from gogooku.dataset.label_ranks import RankScreen, rank_copy
from gogooku.errors import GogookuError
from gogooku.target import LABEL_HORIZONS, label_column

HORIZONS = LABEL_HORIZONS
MAX_HORIZON = max(HORIZONS)
LABEL_LOOKAHEAD = MAX_HORIZON + 1  # trading rows after t a label of row t reads


def label_names() -> list[str]:
    return [label_column(h, kind) for h in HORIZONS for kind in ("raw", "excess", "sector")]


def label_formula(name: str) -> str:
    h = int(name.split("_")[1].rstrip("d"))
    base = f"AdjC[t+{1 + h}] / AdjC[t+1] - 1"
    if name.endswith("_excess"):
        return f"({base}) - (topix_C[t+{1 + h}] / topix_C[t+1] - 1)"
    if name.endswith("_sector"):
        return f"({base}) - mean over the stock's S33 sector on Date t of the same quantity"
    return base


def compute_labels(base: pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
    """``Code, Date`` + every label column, from a (Code, Date)-sorted base frame."""
    lazy = base.lazy().select("Code", "Date", "AdjC", "topix_C", "S33")
    exprs = []
    for h in HORIZONS:
        stock = pl.col("AdjC").shift(-1 - h).over("Code") / pl.col("AdjC").shift(-1).over("Code")
        index = pl.col("topix_C").shift(-1 - h).over("Code") / pl.col("topix_C").shift(-1).over(
            "Code"
        )
        exprs += [(stock - 1).alias(f"target_{h}d"), (index - 1).alias(f"_topix_{h}d")]
    lazy = lazy.with_columns(exprs)
    variants = []
    for h in HORIZONS:
        target = pl.col(f"target_{h}d")
        variants += [
            (target - pl.col(f"_topix_{h}d")).alias(f"target_{h}d_excess"),
            pl.when(pl.col("S33").is_not_null())
            .then(target - target.mean().over("Date", "S33"))
            .alias(f"target_{h}d_sector"),
        ]
    return lazy.with_columns(variants).select("Code", "Date", *label_names())


class LabelLeakError(GogookuError, AssertionError):
    """A feature column equals a label shifted onto its row."""


class _StockGrid:
    """Places a column of a (Code, Date)-sorted frame into a (stocks, rows) array by row index;
    ``row_at`` (stocks, dates) is the row of each stock on each date of the frame (−1: none)."""

    def __init__(self, frame: pl.DataFrame) -> None:
        idx = frame.select(
            pl.col("Code").rank("dense").cast(pl.Int64).sub(1).alias("stock"),
            pl.int_range(pl.len()).over("Code").alias("row"),
            pl.col("Date").rank("dense").cast(pl.Int64).sub(1).alias("day"),
        )
        self.stock = idx["stock"].to_numpy()
        self.row = idx["row"].to_numpy()
        self.shape = (int(self.stock.max()) + 1, int(self.row.max()) + 1)
        day = idx["day"].to_numpy()
        self.row_at = np.full((self.shape[0], int(day.max()) + 1), -1, dtype=np.int64)
        self.row_at[self.stock, day] = self.row

    def matrix(self, frame: pl.DataFrame, column: str) -> np.ndarray:
        """(stocks, max rows) float64 array of ``column``, NaN where absent or null."""
        out = np.full(self.shape, np.nan)
        out[self.stock, self.row] = frame[column].cast(pl.Float64).fill_null(np.nan).to_numpy()
        return out


def _shift_rows(lab: np.ndarray, shift: int) -> np.ndarray:
    """``out[:, t] = lab[:, t - shift]`` (NaN where that row does not exist)."""
    out = np.full_like(lab, np.nan)
    if abs(shift) >= lab.shape[1]:
        return out
    if shift >= 0:
        out[:, shift:] = lab[:, : lab.shape[1] - shift]
    else:
        out[:, :shift] = lab[:, -shift:]
    return out


def _copies(feats: np.ndarray, shifted: np.ndarray, min_overlap: int, rel_tol: float) -> list[int]:
    """Indices of features (axis 0 of ``feats``) equal to ``shifted`` on their whole overlap."""
    both = ~np.isnan(feats) & ~np.isnan(shifted)[None]
    n_both = both.sum(axis=(1, 2))
    tol = rel_tol * np.maximum(1.0, np.abs(shifted))
    with np.errstate(invalid="ignore"):
        close = both & (np.abs(feats - shifted[None]) <= tol[None])
    n_close = close.sum(axis=(1, 2))
    hits = np.flatnonzero((n_both >= min_overlap) & (n_close == n_both))
    return [int(i) for i in hits if np.unique(shifted[both[i]]).size >= 2]


def _future_shifts(label: str, max_future_shift: int) -> np.ndarray:
    """The shifts s checked for ``label`` (horizon h): −max_future_shift … h (module doc)."""
    h = int(label.split("_")[1].rstrip("d"))
    return np.arange(-max_future_shift, h + 1)


def assert_no_label_copies(
    panel: pl.DataFrame,
    features: Sequence[str],
    labels: Sequence[str],
    *,
    max_future_shift: int = 25,
    sample_stocks: int = 40,
    min_overlap: int = 10,
    rel_tol: float = 1e-5,
    max_rank_corr: float = 0.99,
) -> None:
    """Raise ``LabelLeakError`` if a feature equals, or rank-correlates with, a label shifted
    onto its row.

    For each label L of horizon h and each shift s ∈ {−max_future_shift, …, h}, compares the
    feature at row t with L at row t−s of the same stock (s < 0: a later row). s ≤ h covers every
    shift whose label window ends after t (L(t−s) reads AdjC up to t−s+1+h > t); s > h is a
    legitimate past return and is not checked. "Equal" means |f − L| ≤ rel_tol·max(1, |L|) on
    every row where both are non-null, with at least ``min_overlap`` such rows and at least two
    distinct label values. "Rank-correlates" means |Spearman ρ| > ``max_rank_corr`` per day or
    pooled (``gogooku.dataset.label_ranks``): a monotone transform or a noisy copy of L. Runs
    on up to ``sample_stocks`` stocks (those with the most rows; a copy of a label is a copy on
    every stock). The exact check runs first, for every label and shift (on 2 stocks × 120 rows
    to find candidates, then on the whole sample), so an exact copy is named as such; then the
    rank check. ``panel`` must be sorted by (Code, Date).
    """
    if not features or not labels or panel.height == 0:
        return
    counts = panel.group_by("Code").len().sort(["len", "Code"], descending=[True, False])
    codes = counts["Code"].head(sample_stocks).sort()
    sample = panel.filter(pl.col("Code").is_in(codes.implode())).sort("Code", "Date")
    grid = _StockGrid(sample)
    feats = np.stack([grid.matrix(sample, f) for f in features])  # (F, S, T)
    # Candidate search on 2 stocks × 120 rows starting after a year of warm-up where possible.
    first = max(0, min(feats.shape[2] - 120, 260))
    quick = feats[:, :2, first : first + 120]
    moved = {label: grid.matrix(sample, label) for label in labels}  # (S, T) each
    for label, lab in moved.items():
        for shift in _future_shifts(label, max_future_shift).tolist():
            shifted = _shift_rows(lab, shift)
            candidates = _copies(quick, shifted[:2, first : first + 120], 3, rel_tol)
            copies = _copies(feats[candidates], shifted, min_overlap, rel_tol) if candidates else []
            if copies:
                raise LabelLeakError(
                    f"feature column {features[candidates[copies[0]]]!r} equals label {label!r} "
                    f"of the stock's row t{-shift:+d} on every overlapping row: it reads the future"
                )
    screen = RankScreen(feats, grid.row_at)
    for label, lab in moved.items():
        shifts = _future_shifts(label, max_future_shift)
        for shift, ranked in zip(shifts.tolist(), screen.candidates(lab, shifts), strict=True):
            if not len(ranked):
                continue
            hit = rank_copy(screen, _shift_rows(lab, shift), ranked, max_rank_corr)
            if hit is not None:
                raise LabelLeakError(
                    f"feature column {features[hit.feature]!r} rank-correlates with label "
                    f"{label!r} of the stock's row t{-shift:+d} (Spearman {hit.rho:+.4f}, "
                    f"{hit.how}; the limit is {max_rank_corr}): a monotone transform or noisy "
                    "copy of it reads the future"
                )
