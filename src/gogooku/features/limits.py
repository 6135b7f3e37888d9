"""Price-limit and corporate-event block (``limits``).

Limit flags come from the day's own ``UL``/``LL`` (the stock touched its daily upper/lower price
limit). Streaks, counts and distances run over the stock's traded rows; on a no-trade row they
are null (a stock bid at its limit with no execution has a no-trade row and the streak skips
it). Split features run over all of the stock's rows, since an ex-date may fall on a no-trade
day. Nothing here looks ahead: every value uses rows up to and including t.

``AdjFactor`` is the factor set on the ex-date (1:2 split → 0.5, 2:1 reverse split → 2.0, 1.0
otherwise). Distances are capped at 250 rows (null when no event within the cap), so a value
depends only on the block's lookback.
"""

from __future__ import annotations

import polars as pl

from gogooku.features import ops
from gogooku.features.base import Block, BlockContext, Feature

CAP = 250
COUNT_WINDOW = 20

FEATURES: tuple[Feature, ...] = (
    Feature("limit_up_flag", "Touched the daily upper price limit", "UL_t", None, "Boolean"),
    Feature("limit_down_flag", "Touched the daily lower price limit", "LL_t", None, "Boolean"),
    Feature(
        "limit_locked_flag",
        "Traded only at a limit price (H = L on a limit day)",
        "(UL_t or LL_t) and AdjH_t = AdjL_t",
        None,
        "Boolean",
    ),
    Feature(
        "limit_up_streak",
        "Consecutive traded days at the upper limit up to t (0 if not today)",
        "count of consecutive traded rows up to t with UL",
        None,
        "Int32",
    ),
    Feature(
        "limit_down_streak",
        "Consecutive traded days at the lower limit up to t (0 if not today)",
        "count of consecutive traded rows up to t with LL",
        None,
        "Int32",
    ),
    Feature(
        "limit_up_cnt_20d",
        "Upper-limit days in the last 20 traded days",
        "sum_20(UL)",
        COUNT_WINDOW,
    ),
    Feature(
        "limit_down_cnt_20d",
        "Lower-limit days in the last 20 traded days",
        "sum_20(LL)",
        COUNT_WINDOW,
    ),
    Feature(
        "days_since_limit",
        "Traded days since the last limit day (either side), null if none in 250",
        "rows since the latest traded row with UL or LL (0 on one), capped at 250",
        CAP,
        "Int32",
    ),
    Feature(
        "split_flag",
        "Ex-date of a split or reverse split",
        "AdjFactor_t != 1",
        None,
        "Boolean",
    ),
    Feature(
        "reverse_split_flag",
        "Ex-date of a reverse split (share consolidation)",
        "AdjFactor_t > 1",
        None,
        "Boolean",
    ),
    Feature(
        "days_since_split",
        "Trading days since the last split ex-date, null if none in 250",
        "rows since the latest row with AdjFactor != 1 (0 on the ex-date), capped at 250",
        CAP,
        "Int32",
    ),
)

LOOKBACK = ops.lookback(FEATURES)

_SPLIT_COLUMNS = ("split_flag", "reverse_split_flag", "days_since_split")


def compute(ctx: BlockContext) -> pl.LazyFrame:
    """Limit flags, streaks, counts and split events."""
    factor = pl.col("AdjFactor")
    is_split = factor.is_not_null() & (factor != 1.0)
    base = ctx.base.with_columns(
        is_split.alias("split_flag"),
        (factor.is_not_null() & (factor > 1.0)).alias("reverse_split_flag"),
        ops.rows_since(is_split, CAP).alias("days_since_split"),
    )
    ul, ll = pl.col("UL"), pl.col("LL")
    traded = ops.traded_rows(base).with_columns(
        ul.alias("limit_up_flag"),
        ll.alias("limit_down_flag"),
        ((ul | ll) & (pl.col("AdjH") == pl.col("AdjL"))).alias("limit_locked_flag"),
        pl.when(ul.is_not_null()).then(ops.streak(ul)).alias("limit_up_streak"),
        pl.when(ll.is_not_null()).then(ops.streak(ll)).alias("limit_down_streak"),
        ops.rolling_sum(ul.cast(pl.Float64), COUNT_WINDOW).alias("limit_up_cnt_20d"),
        ops.rolling_sum(ll.cast(pl.Float64), COUNT_WINDOW).alias("limit_down_cnt_20d"),
        ops.rows_since(ul | ll, CAP).alias("days_since_limit"),
    )
    return ops.in_memory(ops.to_base_rows(base, traded, FEATURES, from_base=_SPLIT_COLUMNS))


BLOCK = Block(
    name="limits",
    sources=("equities_bars_daily",),
    availability="bars_same_day",
    lookback=LOOKBACK,
    features=FEATURES,
    compute=compute,
    jpx_only="JPX daily price limits (UL/LL)",
)

BLOCKS: tuple[Block, ...] = (BLOCK,)
