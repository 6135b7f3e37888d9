"""Tabular baselines behind ``gogooku train --model lgbm|linear|factor``: data preparation and dispatch.

``fit_predict_tabular(model_cfg, panel, features, ranges, horizons, run_dir)`` returns
``Date, Code, pred_{h}d, split`` for every panel row whose date lies in the train, valid or test
range (the frame ``gogooku.runs.write_predictions`` expects). Steps:

1. Rows outside the three ranges are dropped; ``split`` comes from ``gogooku.runs.split_expr``.
2. The purge is asserted on the panel's date axis (its trading days): with p(d) the position of
   date d, every horizon h needs p(train_end) + 1 + h < p(valid_start) and
   p(valid_end) + 1 + h < p(test_start) — the label window [t+1, t+1+h] of the last training
   (validation) row must end before the next split starts. The walk-forward folds already leave
   this gap (``purge_days ≥ label_horizon + 1``); this refuses ranges that do not.
3. Features are normalised per date with ``gogooku.dataset.normalize.normalize_frame`` — the same
   function and spec (``[data.normalization]``) as the neural path; missing values become 0. The
   categorical ids (``gogooku.dataset.cache.STATIC_IDS``: sector and market codes, which the
   neural path embeds) are left out: their numeric order means nothing, and on the 300-stock
   synthetic market LightGBM's first splits on them fitted day-specific sector moves (test
   RankIC(5d) 0.015 with them, 0.039 without).
4. The model kind's module fits on train rows (non-null target) and predicts every row:
   ``gogooku.models.gbdt`` (kind "lgbm"), ``gogooku.models.linear`` ("linear"),
   ``gogooku.models.factor`` ("factor", no fit; also the synthetic oracle).
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from gogooku.config import NormalizationConfig
from gogooku.dataset.cache import STATIC_IDS
from gogooku.dataset.normalize import normalize_frame, output_names
from gogooku.errors import GogookuError
from gogooku.runs import Ranges, pred_column, split_expr

if TYPE_CHECKING:
    from gogooku.models.factor import FactorConfig
    from gogooku.models.gbdt import LgbmConfig
    from gogooku.models.linear import LinearConfig


class TabularError(GogookuError, ValueError):
    """The panel, ranges or configuration cannot be used by a tabular baseline (the model modules
    raise it or a subclass, so ``gogooku train`` reports every such failure the same way)."""


def target_column(horizon: int) -> str:
    return f"target_{horizon}d"


@dataclass(frozen=True)
class TabularData:
    """Panel rows of the three splits, sorted by (Date, Code).

    ``frame`` holds ``Date, Code, split``, the normalised feature columns ``inputs`` and the raw
    ``target_{h}d`` columns of ``horizons`` (null where the label is unknown); ``normalization``
    is the spec the features were normalised with.
    """

    frame: pl.DataFrame
    inputs: list[str]
    horizons: list[int]
    ranges: Ranges
    normalization: NormalizationConfig

    def rows(self, split: str, horizon: int | None = None) -> pl.DataFrame:
        """Rows of ``split``; with ``horizon`` only those whose target at that horizon is known."""
        out = self.frame.filter(pl.col("split") == split)
        if horizon is not None:
            out = out.filter(pl.col(target_column(horizon)).is_finite())
        return out


def assert_purged(dates: Sequence[dt.date], ranges: Ranges, horizons: Sequence[int]) -> None:
    """Raise :class:`TabularError` unless every label window of train (valid) ends before valid
    (test) starts on the trading-day axis ``dates`` (ascending); see the module doc."""
    dates = list(dates)
    h = max(horizons)
    for earlier, later in (("train", "valid"), ("valid", "test")):
        end, start = ranges.of(earlier)[1], ranges.of(later)[0]
        last = bisect_left(dates, end + dt.timedelta(days=1)) - 1
        first = bisect_left(dates, start)
        if last >= 0 and last + 1 + h >= first:
            raise TabularError(
                f"{earlier} ends {end} and {later} starts {start}: only {first - last - 1} "
                f"trading day(s) between them, but the {h}-day label window of the last "
                f"{earlier} row needs a purge of at least {h + 1}"
            )


def prepare(
    panel: pl.LazyFrame | pl.DataFrame,
    features: Sequence[str],
    ranges: Ranges,
    horizons: Sequence[int],
    normalization: NormalizationConfig,
) -> TabularData:
    """Select the split rows of ``panel`` and normalise ``features`` per date."""
    features = [f for f in features if f not in STATIC_IDS]
    if not features:
        raise TabularError(f"no features left once the categorical ids {STATIC_IDS} are removed")
    lazy = panel.lazy()
    names = lazy.collect_schema().names()
    needed = ["Date", "Code", *features, *(target_column(h) for h in horizons)]
    absent = [c for c in needed if c not in names]
    if absent:
        raise TabularError(f"panel: column(s) {absent} not found")
    rows = (
        lazy.select(needed)
        .with_columns(split=split_expr(ranges))
        .filter(pl.col("split").is_not_null())
        .collect()
    )
    for split in ("train", "valid", "test"):
        if rows.filter(pl.col("split") == split).height == 0:
            start, end = ranges.of(split)
            raise TabularError(f"panel: no rows in the {split} range {start}..{end}")
    normed = normalize_frame(rows, list(features), normalization)
    inputs = output_names(list(features), normalization)
    targets = [pl.col(target_column(h)).cast(pl.Float64) for h in horizons]
    frame = normed.join(
        rows.select("Date", "Code", "split", *targets), on=["Date", "Code"], how="left"
    ).sort("Date", "Code")
    return TabularData(frame, inputs, sorted(horizons), ranges, normalization)


def fit_predict_tabular(
    model_cfg: LgbmConfig | LinearConfig | FactorConfig,
    panel: pl.LazyFrame | pl.DataFrame,
    features: list[str],
    ranges: Ranges,
    horizons: list[int],
    run_dir: Path,
    normalization: NormalizationConfig | None = None,
) -> pl.DataFrame:
    """Fit ``model_cfg`` on the train rows of ``panel`` and predict train, valid and test rows.

    Returns ``Date, Code, pred_{h}d`` (Float64, one per horizon) and ``split``; side files
    (``feature_importance.csv``, ``factor.json``) go to ``run_dir``. ``normalization`` defaults
    to ``NormalizationConfig()``; pass the run config's ``[data.normalization]``.
    """
    horizons = sorted(horizons)
    if not horizons:
        raise TabularError("no horizons requested")
    from gogooku.models import factor, gbdt, linear  # they import this module's TabularData

    spec = normalization or NormalizationConfig()
    lazy = panel.lazy()
    if "Date" not in lazy.collect_schema().names():
        raise TabularError("panel: column 'Date' not found")
    trading_days = lazy.select(pl.col("Date").unique().sort()).collect()["Date"].to_list()
    assert_purged(trading_days, ranges, horizons)
    if isinstance(model_cfg, factor.FactorConfig):
        scores = factor.predict_factor(model_cfg, panel, ranges, horizons, run_dir)
    else:
        data = prepare(panel, features, ranges, horizons, spec)
        if isinstance(model_cfg, gbdt.LgbmConfig):
            scores = gbdt.fit_predict_lgbm(model_cfg, data, run_dir)
        elif isinstance(model_cfg, linear.LinearConfig):
            scores = linear.fit_predict_linear(model_cfg, data, run_dir)
        else:
            raise TabularError(f"not a tabular model config: {type(model_cfg).__name__}")
    cols = [pred_column(h) for h in horizons]
    return scores.select("Date", "Code", *(pl.col(c).cast(pl.Float64) for c in cols), "split")
