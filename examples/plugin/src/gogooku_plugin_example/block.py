"""Feature block ``range_position``: where the day's close sits in the day's range.

    range_pos(t) = (AdjC_t − AdjL_t) / (AdjH_t − AdjL_t)     (null when AdjH_t = AdjL_t)

It reads only the stock's own bar of day t, usable on t (availability ``bars_same_day``).
"""

from __future__ import annotations

import polars as pl

from gogooku.features.base import Block, BlockContext, Feature

FEATURES = (
    Feature(
        "range_pos",
        "Close position in the day's high-low range (0: at the low, 1: at the high)",
        "(AdjC_t - AdjL_t) / (AdjH_t - AdjL_t)",
        None,
    ),
)


def compute(ctx: BlockContext) -> pl.LazyFrame:
    high, low, close = pl.col("AdjH"), pl.col("AdjL"), pl.col("AdjC")
    position = pl.when(high > low).then((close - low) / (high - low))
    return ctx.base.select("Code", "Date", position.cast(pl.Float32).alias("range_pos"))


BLOCKS = (
    Block(
        name="range_position",
        sources=("equities_bars_daily",),
        availability="bars_same_day",
        lookback=0,
        features=FEATURES,
        compute=compute,
    ),
)
