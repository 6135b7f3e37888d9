"""The ``mb`` block as it was before the daily summary: every minute bar reduced at build time.

Kept verbatim (``daily_measures``, ``compute``) as the reference the summary-based block must
reproduce (``test_minute_block.test_summary_block_equals_the_bar_reduction``) and as the "old"
side of the A/B timing (docs/features.md).
"""

from __future__ import annotations

import polars as pl

from gogooku.features import ops
from gogooku.features.base import BlockContext
from gogooku.features.minute import FEATURES, MEAN

SOURCE = "equities_bars_minute"
CLOSING_AUCTION = "15:30"
LAST30_FROM = "15:00"


def daily_measures(bars: pl.LazyFrame) -> pl.LazyFrame:
    """Per (Code, Date): the four daily measures of the module docstring from minute bars.

    ``bars`` must be in the raw store's order (``Date, Code, Time``: month files are written
    sorted by the dataset's key): each measure is then a neighbour comparison plus a plain
    group sum or max, with no sort of hundreds of millions of string-keyed rows.
    """
    c = pl.col
    clock = c("Time").str.to_time("%H:%M")
    rows = bars.with_columns(
        (clock.dt.hour().cast(pl.Int16) * 60 + clock.dt.minute()).alias("m")
    ).with_columns(
        _same_day(-1).fill_null(False).alias("has_next"),
        (c("m") // 5).alias("bucket"),
    )
    early = c("m") <= _minute(LAST30_FROM)
    last_early = early & ~(c("has_next") & (c("m").shift(-1) <= _minute(LAST30_FROM)))
    closes = (
        rows.filter(~c("has_next") | (c("bucket") != c("bucket").shift(-1)))
        .select(
            "Code",
            "Date",
            pl.when(_same_day(1)).then((c("C").log() - c("C").shift(1).log()).pow(2)).alias("r2"),
        )
        .group_by("Code", "Date")
        .agg(c("r2").sum().alias("r2_sum"), c("r2").count().alias("n"))
        .select("Code", "Date", pl.when(c("n") > 0).then(c("r2_sum")).alias("mb_rv_5m"))
    )
    # Row-level columns first, so that every aggregation is a plain sum or max (the fast path).
    day = (
        rows.select(
            "Code",
            "Date",
            pl.when(~c("has_next")).then(c("C")).alias("close"),
            pl.when(last_early).then(c("C")).alias("close_early"),
            pl.when(c("m") == _minute(CLOSING_AUCTION))
            .then(c("Vo"))
            .otherwise(0.0)
            .alias("auction"),
            "Vo",
            # Whole yen and shares: integer sums do not depend on how the rows are chunked, so a
            # store holding later days gives bit-identical values (float sums may not).
            c("Va").round().cast(pl.Int64).alias("va"),
            c("Vo").round().cast(pl.Int64).alias("vo"),
        )
        .group_by("Code", "Date")
        .agg(
            c("close", "close_early").max(),
            c("auction", "Vo", "va", "vo").sum(),
        )
        .select(
            "Code",
            "Date",
            ops.ratio(c("auction"), c("Vo")).alias("mb_auction_share"),
            (c("close").log() - c("close_early").log()).alias("mb_last30_ret"),
            (
                c("close") / ops.ratio(c("va").cast(pl.Float64), c("vo").cast(pl.Float64)) - 1.0
            ).alias("mb_vwap_dev"),
        )
    )
    return day.join(closes, on=["Code", "Date"], how="left")


def _same_day(k: int) -> pl.Expr:
    """True where the row ``k`` rows away (``shift(k)``) is a bar of the same stock and day."""
    return (pl.col("Code") == pl.col("Code").shift(k)) & (pl.col("Date") == pl.col("Date").shift(k))


def _minute(hhmm: str) -> int:
    return int(hhmm[:2]) * 60 + int(hhmm[3:])


def compute(ctx: BlockContext) -> pl.LazyFrame:
    """Daily minute-bar measures joined on (Code, Date) and their 20-day means."""
    span = ctx.base.select(pl.col(ops.DATE).min().alias("lo"), pl.col(ops.DATE).max().alias("hi"))
    lo, hi = span.collect().row(0)
    codes = ctx.base.select(pl.col(ops.CODE).unique()).collect().to_series()
    # Filters keep the store's row order, which daily_measures relies on (a semi-join may not).
    bars = (
        ctx.store.scan(SOURCE)
        .filter(pl.col("Date").is_between(lo, hi) & pl.col("Code").is_in(codes.implode()))
        .select("Code", "Date", "Time", "C", "Vo", "Va")
    )
    traded = ops.traded_rows(ctx.base).select(ops.CODE, ops.DATE)
    computed = traded.join(
        daily_measures(bars), on=["Code", "Date"], how="left", maintain_order="left"
    ).with_columns(
        ops.rolling_mean(pl.col("mb_rv_5m"), MEAN).alias("mb_rv_5m_ma20"),
        ops.rolling_mean(pl.col("mb_auction_share"), MEAN).alias("mb_auction_share_ma20"),
    )
    return ops.to_base_rows(ctx.base, computed, FEATURES)
