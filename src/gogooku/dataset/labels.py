"""Forward-return labels (SPEC §6) and the check that no feature is a shifted copy, a monotone
transform or a noisy copy of a label.

For h ∈ {1, 5, 10, 20}, over each stock's own rows of the base frame (one row per trading day
while listed), with the position bought at the close of t+1 and valued at the exit day t+1+h:

    target_{h}d(t)        = X_h(t) / AdjC[t+1] − 1
    target_{h}d_excess(t) = target_{h}d(t) − (topix_C[t+1+h] / topix_C[t+1] − 1)
    target_{h}d_sector(t) = target_{h}d(t) − mean_{s ∈ S33(t), same Date} target_{h}d(s)

Exit price ``X_h(t)`` (delisting and suspension convention):

- the exit day traded: its close ``AdjC[t+1+h]``;
- the exit day is a no-trade day of the stock (suspended, no bid): the last traded close on or
  before it (at least the entry close). That price is known at the exit day's close; the next
  traded close would be a price from after the horizon, possibly weeks later, which the label
  must not read (every label reads at most ``LABEL_LOOKAHEAD`` sessions after t);
- the stock delisted before the exit day (it has no row on a session before t+1+h that the data
  covers): its last traded close, the price the holder got out at. The proceeds are cash from
  then on, so the excess label still subtracts the index over the whole window.

A label is null where the entry close is missing (the stock did not trade at t+1, or t is its
last listed day: nothing could be bought), where the exit session is not in the data yet (the
end of the data; a stock listed there is not known to delist), and where the exit session is the
2020-10-01 halt (``is_halt_20201001``: the whole market had no price, so every stock's label
would be a stale zero). The index leg is read per session (``topix_C`` of the session t+1+h,
whatever the stock's rows); the sector mean is over the non-null labels of the stock's 33-sector
that day (itself included) and is null where S33 is null.
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
    base = (
        f"X[t+{1 + h}] / AdjC[t+1] - 1, X = AdjC[t+{1 + h}], or the last traded close before it "
        "(no trade that day, or delisted)"
    )
    if name.endswith("_excess"):
        return f"({base}) - (topix_C[t+{1 + h}] / topix_C[t+1] - 1)"
    if name.endswith("_sector"):
        return f"({base}) - mean over the stock's S33 sector on Date t of the same quantity"
    return base


def compute_labels(base: pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
    """``Code, Date`` + every label column, from a (Code, Date)-sorted base frame.

    ``base`` needs ``Code, Date, AdjC, topix_C, S33, is_halt_20201001`` with one row per session
    while a stock is listed (as ``gogooku.dataset.base`` builds it).
    """
    lazy = base.lazy().select("Code", "Date", "AdjC", "topix_C", "S33", "is_halt_20201001")
    sessions = (
        lazy.group_by("Date")
        .agg(pl.col("topix_C").drop_nulls().first(), pl.col("is_halt_20201001").any())
        .sort("Date")
        .with_columns(_session=pl.int_range(pl.len()))
    )
    last_session = pl.col("_session").max()
    session_cols = []
    for h in HORIZONS:
        index = pl.col("topix_C").shift(-1 - h) / pl.col("topix_C").shift(-1)
        session_cols += [
            (index - 1).alias(f"_topix_{h}d"),
            (pl.col("_session") + 1 + h <= last_session).alias(f"_covered_{h}d"),
            pl.col("is_halt_20201001").shift(-1 - h, fill_value=False).alias(f"_halt_{h}d"),
        ]
    sessions = sessions.with_columns(session_cols).drop("topix_C", "is_halt_20201001")

    # Rows are sorted by (Code, Date), so a plain shift by k rows is the stock's own row t+k
    # wherever ``_left`` (the stock's rows after t) is at least k: no window per stock needed.
    left = pl.len().over("Code") - 1 - pl.int_range(pl.len()).over("Code")
    traded = pl.col("AdjC").forward_fill().over("Code")
    lazy = lazy.join(sessions, on="Date", how="left", maintain_order="left").with_columns(
        _left=left,
        _traded=traded,
        _delisted=(pl.col("_session").max().over("Code") < pl.col("_session").max()),
        _last_traded=traded.last().over("Code"),
    )
    lazy = lazy.with_columns(
        _entry=pl.when(pl.col("_left") >= 1).then(pl.col("AdjC").shift(-1)),
    )
    exprs = []
    for h in HORIZONS:
        exit_price = (
            pl.when(pl.col("_left") >= 1 + h)
            .then(pl.col("_traded").shift(-1 - h))
            .when(pl.col("_delisted"))
            .then(pl.col("_last_traded"))
        )
        usable = pl.col(f"_covered_{h}d") & ~pl.col(f"_halt_{h}d")
        exprs.append(pl.when(usable).then(exit_price / pl.col("_entry") - 1).alias(f"target_{h}d"))
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
