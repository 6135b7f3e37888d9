"""Stitch a walk-forward run's fits into one prediction frame.

Every day of the selected folds' test windows takes its predictions from the fit whose group's
test window covers it (a group's fit predicts its folds' test days; days between two folds' test
windows, when ``step_days`` > ``test_days``, belong to no fold and are dropped). A day predicted
by two groups is an error. Per ``(Date, Code)`` the ``pred_{h}d`` of the seeds are averaged
(seeds in ascending order, so the result is reproducible bit for bit).

- :func:`stitch` returns the per-seed frame (``Date, Code, fold, seed, pred_{h}d…``, written as
  ``predictions_by_seed.parquet``) and the stitched frame (``Date, Code, pred_{h}d…, split``
  = "test", ``fold``, ``n_seeds``: what the run's ``predictions.parquet`` holds).
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from gogooku.research.plan import FitGroup, WalkForwardError
from gogooku.target import pred_column


def _fold_of(group: FitGroup) -> pl.Expr:
    """The fold of ``group`` whose test window holds ``Date`` (null outside all of them)."""
    expr = pl.lit(None, dtype=pl.Int32)
    for f in reversed(group.folds):
        expr = (
            pl.when(pl.col("Date").is_between(f.test.start, f.test.end))
            .then(pl.lit(f.index, dtype=pl.Int32))
            .otherwise(expr)
        )
    return expr


def stitch(
    fits: Sequence[tuple[FitGroup, int, pl.DataFrame]], horizons: Sequence[int]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(per-seed, stitched) frames of ``fits`` = (group, seed, the fit's predictions with
    ``Date, Code, pred_{h}d…, split``); see the module doc."""
    if not fits:
        raise WalkForwardError("no fits to stitch")
    preds = [pred_column(h) for h in horizons]
    parts = []
    for group, seed, frame in fits:
        parts.append(
            frame.filter(pl.col("split") == "test")
            .select("Date", "Code", *preds)
            .with_columns(
                fold=_fold_of(group),
                seed=pl.lit(seed, dtype=pl.Int32),
                group=pl.lit(group.first, dtype=pl.Int32),
            )
            .drop_nulls("fold")
        )
    rows = pl.concat(parts, how="vertical_relaxed")
    twice = rows.group_by("Date").agg(pl.col("group").n_unique()).filter(pl.col("group") > 1)
    if twice.height:
        raise WalkForwardError(
            f"{twice.height} test days are predicted by more than one fit group, e.g. "
            f"{twice['Date'].sort()[0]}"
        )
    dup = rows.select("Date", "Code", "seed").is_duplicated()
    if dup.any():
        first = rows.filter(dup).row(0, named=True)
        raise WalkForwardError(
            f"seed {first['seed']}: (Date, Code) {first['Date']} {first['Code']} predicted twice"
        )
    by_seed = rows.select("Date", "Code", "fold", "seed", *preds).sort("Date", "Code", "seed")
    stitched = (
        by_seed.group_by("Date", "Code", "fold", maintain_order=True)
        .agg(*(pl.col(p).mean() for p in preds), n_seeds=pl.len().cast(pl.Int32))
        .with_columns(split=pl.lit("test"))
        .select("Date", "Code", *preds, "split", "fold", "n_seeds")
        .sort("Date", "Code")
    )
    return by_seed, stitched
