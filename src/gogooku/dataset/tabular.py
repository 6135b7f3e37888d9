"""Tabular training data: the panel rows of a fold's three splits, features normalised per date.

``prepare(panel, features, ranges, target, normalization)`` is what every tabular model kind fits
on (``gogooku.kinds.tabular``). Steps:

1. Rows outside the three ranges are dropped; ``split`` comes from ``gogooku.runs.split_expr``.
2. Features are normalised per date with ``gogooku.dataset.normalize.normalize_frame`` — the same
   function and spec (``[data.normalization]``) as the neural path; missing values become 0. The
   categorical ids (``gogooku.dataset.cache.STATIC_IDS``: sector and market codes, which the
   neural path embeds) are left out: their numeric order means nothing, and on the 300-stock
   synthetic market LightGBM's first splits on them fitted day-specific sector moves.
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

import polars as pl

from gogooku.config import NormalizationConfig
from gogooku.dataset.cache import STATIC_IDS
from gogooku.dataset.normalize import normalize_frame, output_names
from gogooku.errors import GogookuError
from gogooku.runs import Ranges, split_expr
from gogooku.target import TargetConfig


class TabularError(GogookuError, ValueError):
    """The panel, ranges or configuration cannot be used by a tabular model (the estimators
    raise it or a subclass, so ``gogooku train`` reports every such failure the same way)."""


def target_column(horizon: int) -> str:
    """``TabularData.frame``'s name of the label of ``horizon`` (whatever its label kind)."""
    return f"target_{horizon}d"


@dataclass(frozen=True)
class TabularData:
    """Panel rows of the three splits, sorted by (Date, Code).

    ``frame`` holds ``Date, Code, split``, the normalised feature columns ``inputs`` and the raw
    labels of ``[target]`` as ``target_{h}d`` columns (null where the label is unknown);
    ``normalization`` is the spec the features were normalised with.
    """

    frame: pl.DataFrame
    inputs: list[str]
    target: TargetConfig
    ranges: Ranges
    normalization: NormalizationConfig

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
) -> TabularData:
    """Select the split rows of ``panel`` and normalise ``features`` per date (module doc)."""
    features = [f for f in features if f not in STATIC_IDS]
    if not features:
        raise TabularError(f"no features left once the categorical ids {STATIC_IDS} are removed")
    lazy = panel.lazy()
    names = lazy.collect_schema().names()
    labels = {target.label_column(h): target_column(h) for h in target.sorted_horizons}
    needed = ["Date", "Code", *features, *labels]
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
    targets = [pl.col(label).cast(pl.Float64).alias(name) for label, name in labels.items()]
    frame = normed.join(
        rows.select("Date", "Code", "split", *targets), on=["Date", "Code"], how="left"
    ).sort("Date", "Code")
    return TabularData(frame, inputs, target, ranges, normalization)
