"""Tabular training data: the panel rows of a fold's three splits, features normalised per date.

``prepare(panel, features, ranges, target, normalization)`` is what every tabular model kind fits
on (``gogooku.kinds.tabular``). Steps:

1. Rows outside the three ranges are dropped; ``split`` comes from ``gogooku.runs.split_expr``.
2. Features are normalised per date with ``gogooku.dataset.normalize.normalize_frame`` — the same
   function and spec (``[data.normalization]``) as the neural path; missing values become 0. The
   categorical ids (``gogooku.dataset.cache.STATIC_IDS``: sector and market codes, which the
   neural path embeds) are handled as the caller's ``ids`` says (``IdHandling``):

   - ``"drop"`` (the default, and what every kind but LightGBM uses): left out. A code's number
     is an arbitrary label, so a model that reads it as a magnitude (the ridge: one coefficient
     per column) would fit an ordering that means nothing;
   - ``"numeric"``: normalised per date like any other feature (the rank of the code among the
     day's stocks; what LightGBM was first trained with);
   - ``"categorical"``: not normalised; appended after the normalised inputs as their integer
     codes (``id_codes``: 0 = unknown, as in the cache) and listed in ``TabularData.categorical``
     (LightGBM's ``categorical_feature``). Scoring a bundle appends the same columns the same way.

   Which one LightGBM uses is its ``[model] categorical_ids``, chosen on validation
   (``studies/ids.toml``; ``docs/training.md``, "Protocol: choices on validation, the hold-out
   once").
3. The label columns of ``[target]`` (its horizons, of its label kind) come raw, null where the
   label is unknown, under the names ``target_{h}d`` (``TabularData.target(h)``).

``assert_purged`` refuses ranges whose label windows reach into the next split: with p(d) the
position of date d on the panel's trading days, every horizon h needs
p(train_end) + 1 + h < p(valid_start) and p(valid_end) + 1 + h < p(test_start). The walk-forward
folds already leave this gap (``purge_days ≥ label_horizon + 1``).
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import polars as pl

from gogooku.config import NormalizationConfig
from gogooku.dataset.cache import STATIC_IDS
from gogooku.dataset.normalize import normalize_frame, output_names
from gogooku.errors import GogookuError
from gogooku.runs import Ranges, split_expr
from gogooku.target import TargetConfig

IdHandling = Literal["drop", "numeric", "categorical"]


class TabularError(GogookuError, ValueError):
    """The panel, ranges or configuration cannot be used by a tabular model (the estimators
    raise it or a subclass, so ``gogooku train`` reports every such failure the same way)."""


def target_column(horizon: int) -> str:
    """``TabularData.frame``'s name of the label of ``horizon`` (whatever its label kind)."""
    return f"target_{horizon}d"


def id_codes(names: Sequence[str]) -> list[pl.Expr]:
    """The categorical id columns ``names`` as model inputs: their integer codes (Int32), null as
    0 (the cache's "unknown"). Training (``prepare``) and bundle scoring both read them so."""
    return [pl.col(n).fill_null(0).cast(pl.Int32) for n in names]


@dataclass(frozen=True)
class TabularData:
    """Panel rows of the three splits, sorted by (Date, Code).

    ``frame`` holds ``Date, Code, split``, the model's input columns ``inputs`` (the normalised
    features, then the ids of ``categorical`` as integer codes) and the raw labels of
    ``[target]`` as ``target_{h}d`` columns (null where the label is unknown);
    ``normalization`` is the spec the features were normalised with; ``categorical`` the inputs
    that are categorical id codes (empty unless ``prepare`` ran with ``ids="categorical"``).
    """

    frame: pl.DataFrame
    inputs: list[str]
    target: TargetConfig
    ranges: Ranges
    normalization: NormalizationConfig
    categorical: tuple[str, ...] = ()

    @property
    def horizons(self) -> list[int]:
        return self.target.sorted_horizons

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
    target: TargetConfig,
    normalization: NormalizationConfig,
    ids: IdHandling = "drop",
) -> TabularData:
    """Select the split rows of ``panel`` and normalise ``features`` per date; the categorical
    ids among ``features`` are dropped, normalised or kept as codes per ``ids`` (module doc)."""
    if ids not in ("drop", "numeric", "categorical"):
        raise TabularError(f"ids: {ids!r} is not one of drop, numeric, categorical")
    categorical = [f for f in features if f in STATIC_IDS] if ids == "categorical" else []
    features = [f for f in features if ids == "numeric" or f not in STATIC_IDS]
    if not features:
        raise TabularError(f"no features left once the categorical ids {STATIC_IDS} are removed")
    lazy = panel.lazy()
    names = lazy.collect_schema().names()
    labels = {target.label_column(h): target_column(h) for h in target.sorted_horizons}
    needed = ["Date", "Code", *features, *categorical, *labels]
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
    inputs = [*output_names(list(features), normalization), *categorical]
    targets = [pl.col(label).cast(pl.Float64).alias(name) for label, name in labels.items()]
    frame = normed.join(
        rows.select("Date", "Code", "split", *id_codes(categorical), *targets),
        on=["Date", "Code"],
        how="left",
    ).sort("Date", "Code")
    return TabularData(frame, inputs, target, ranges, normalization, tuple(categorical))
