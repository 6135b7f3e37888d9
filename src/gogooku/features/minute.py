"""Minute-bar block (``mb``) from the daily summary of ``equities_bars_minute`` (the minute add-on).

The block reads ``equities_bars_minute_summary`` (``gogooku.jquants.derived``): one row per stock
and day computed when the day's minute bars are stored, so a build reads one row per stock-day
instead of ~300 bars. The minute bars of day t are published with the daily bars (~16:30 JST), so
the block follows the price blocks' rule (``bars_same_day``: usable on t). Per stock and day, over
the bars of that day only (so no overnight gap enters), with ``Time`` the bar's minute and prices
raw (ratios within one day need no split adjustment)::

    five-minute closes  c_j = C of the last bar in the j-th 5-minute bucket (Time floored to
                              5 minutes; the 15:30 closing auction is its own bucket)
    mb_rv_5m         = Σ_j (ln c_j − ln c_(j−1))²        (RV5m: j over the day's buckets after
                                                          the first)
    mb_auction_share = Vo(15:30) / Σ Vo                  (AuctionVo / Vo; 0 when there is no
                                                          15:30 bar)
    mb_last30_ret    = ln(C_last / C(15:00))             (ln(Close / Close1500); C(15:00): close
                                                          of the last bar at or before 15:00)
    mb_vwap_dev      = C_last / (Σ Va / Σ Vo) − 1         (Close / (Va / Vo) − 1)
    mb_rv_5m_ma20, mb_auction_share_ma20 = mean over the stock's last 20 traded rows

Volumes and values are summed in whole shares and yen (each bar rounded), so the sums do not
depend on summation order. A day with one five-minute bucket has no return: ``mb_rv_5m`` is
null. Rows without minute bars (no trades, or before the add-on's window) are null; the rolling
means need all 20 values. The summary is read only for the stocks and dates of the frame being
built. Without the add-on the store holds no minute bars, hence no summary, and the builder skips
the block ("no raw data for source(s) equities_bars_minute_summary (needs the minute add-on:
...)"); a store fetched before the summary existed gets it from ``gogooku store derive`` or the
next ``gogooku fetch``.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from gogooku.features import ops
from gogooku.features.base import Block, BlockContext, Feature
from gogooku.jquants.derived import MINUTE_SUMMARY

SOURCE = MINUTE_SUMMARY
MEAN = 20

FEATURES: tuple[Feature, ...] = (
    Feature(
        "mb_rv_5m",
        "Intraday realised variance from 5-minute log returns (no overnight gap)",
        "sum_j (ln c_j - ln c_(j-1))^2 over the day's 5-minute closes",
        None,
    ),
    Feature(
        "mb_auction_share",
        "Closing-auction (15:30 bar) share of the day's volume",
        "Vo(15:30) / sum Vo",
        None,
    ),
    Feature(
        "mb_last30_ret",
        "Log return over the last 30 minutes to the close",
        "ln(C_last / C(<=15:00))",
        None,
    ),
    Feature(
        "mb_vwap_dev", "Close over the day's VWAP minus one", "C_last / (sum Va / sum Vo) - 1", None
    ),
    Feature(
        "mb_rv_5m_ma20",
        "20-day mean of the 5-minute realised variance",
        "mean_20(mb_rv_5m) over traded rows",
        MEAN,
    ),
    Feature(
        "mb_auction_share_ma20",
        "20-day mean of the closing-auction share",
        "mean_20(mb_auction_share) over traded rows",
        MEAN,
    ),
)


def daily_measures(summary: pl.LazyFrame) -> pl.LazyFrame:
    """Per (Code, Date): the four daily measures of the module docstring from summary rows."""
    c = pl.col
    return summary.select(
        "Code",
        "Date",
        c("RV5m").alias("mb_rv_5m"),
        ops.ratio(c("AuctionVo").cast(pl.Float64), c("Vo").cast(pl.Float64)).alias(
            "mb_auction_share"
        ),
        (c("Close").log() - c("Close1500").log()).alias("mb_last30_ret"),
        (c("Close") / ops.ratio(c("Va").cast(pl.Float64), c("Vo").cast(pl.Float64)) - 1.0).alias(
            "mb_vwap_dev"
        ),
    )


def compute(ctx: BlockContext) -> pl.LazyFrame:
    """Daily minute-bar measures joined on (Code, Date) and their 20-day means."""
    span = ctx.base.select(pl.col(ops.DATE).min().alias("lo"), pl.col(ops.DATE).max().alias("hi"))
    lo, hi = span.collect().row(0)
    summary = (
        ops.own_codes(ctx.store.scan(SOURCE), ctx.base)
        .filter(pl.col("Date").is_between(lo, hi))
        .collect()
    )
    # Rows before the first summary are null, and so is every 20-row mean reaching back to them
    # (all 20 values needed): only the traded rows from that day on are computed.
    first = summary.get_column("Date").min() if summary.height else hi + dt.timedelta(days=1)
    traded = ops.traded_rows(ctx.base).filter(pl.col(ops.DATE) >= first).select(ops.CODE, ops.DATE)
    computed = traded.join(
        daily_measures(summary.lazy()), on=["Code", "Date"], how="left", maintain_order="left"
    ).with_columns(
        ops.rolling_mean(pl.col("mb_rv_5m"), MEAN).alias("mb_rv_5m_ma20"),
        ops.rolling_mean(pl.col("mb_auction_share"), MEAN).alias("mb_auction_share_ma20"),
    )
    return ops.to_base_rows(ctx.base, computed, FEATURES)


BLOCK = Block(
    name="mb",
    sources=(SOURCE,),
    availability="bars_same_day",
    lookback=ops.lookback(FEATURES),
    features=FEATURES,
    compute=compute,
    jpx_only="TSE session times (11:30 and 15:30 auctions)",
)

BLOCKS: tuple[Block, ...] = (BLOCK,)
