"""Morning/afternoon session block (``am``) from the Premium-only ``M*``/``A*`` fields of the bars.

The session fields of day t arrive with the day-t bars, so the block follows the price blocks'
rule (``bars_same_day``: usable on t). Values are computed on the stock's traded rows (the base
frame's ``no_trade`` false) and are null on no-trade rows and wherever a session field is null
(an afternoon without trades). Ratios within one day need no split adjustment; the return from
the previous close uses the base frame's point-in-time ``AdjC``::

    am_ret          = MC / MO − 1
    am_pm_ret       = AC / AO − 1
    am_pm_minus_am  = am_pm_ret − am_ret
    am_vol_share    = MVo / Vo
    am_range        = (MH − ML) / MO
    am_gap_ret      = (MC / C) · (AdjC_t / AdjC_prev) − 1      (AdjC_prev: previous traded row)
    am_pm_minus_am_ma{5,20} = mean over the last 5 / 20 traded rows of am_pm_minus_am

Rolling means need every value of their window (warm-up rows are null). The fields are absent
below the Premium plan, so the block declares them in ``required_columns``: the builder skips it
("no values of column(s) …") when the store's bars hold no morning-session value.
"""

from __future__ import annotations

import polars as pl

from gogooku.features import ops
from gogooku.features.base import Block, BlockContext, Feature

BARS = "equities_bars_daily"
SESSION_COLUMNS = ("MO", "MH", "ML", "MC", "MVo", "AO", "AC")
SHORT, LONG = 5, 20

FEATURES: tuple[Feature, ...] = (
    Feature("am_ret", "Morning-session return", "MC / MO - 1", None),
    Feature("am_pm_ret", "Afternoon-session return", "AC / AO - 1", None),
    Feature(
        "am_pm_minus_am",
        "Afternoon minus morning session return",
        "am_pm_ret - am_ret",
        None,
    ),
    Feature("am_vol_share", "Morning share of the day's volume", "MVo / Vo", None),
    Feature("am_range", "Morning high-low range over the morning open", "(MH - ML) / MO", None),
    Feature(
        "am_gap_ret",
        "Return from the previous traded close to the morning close",
        "(MC / C) * (AdjC_t / AdjC_prev) - 1, AdjC_prev of the previous traded row",
        2,
    ),
    Feature(
        "am_pm_minus_am_ma5",
        "5-day mean of the afternoon-minus-morning return",
        "mean_5(am_pm_minus_am) over traded rows",
        SHORT,
    ),
    Feature(
        "am_pm_minus_am_ma20",
        "20-day mean of the afternoon-minus-morning return",
        "mean_20(am_pm_minus_am) over traded rows",
        LONG,
    ),
)

LOOKBACK = ops.lookback(FEATURES)


def compute(ctx: BlockContext) -> pl.LazyFrame:
    """Session returns, volume share, morning range and afternoon-minus-morning means."""
    sessions = ops.own_codes(
        ctx.store.scan(BARS).select("Code", "Date", *SESSION_COLUMNS), ctx.base
    )
    traded = ops.traded_rows(ctx.base).join(
        sessions, on=["Code", "Date"], how="left", maintain_order="left"
    )
    am_ret = ops.ratio(pl.col("MC"), pl.col("MO")) - 1.0
    pm_ret = ops.ratio(pl.col("AC"), pl.col("AO")) - 1.0
    diff = pl.col("am_pm_minus_am")
    computed = traded.with_columns(
        am_ret.alias("am_ret"),
        pm_ret.alias("am_pm_ret"),
        (pm_ret - am_ret).alias("am_pm_minus_am"),
        ops.ratio(pl.col("MVo"), pl.col("Vo")).alias("am_vol_share"),
        ops.ratio(pl.col("MH") - pl.col("ML"), pl.col("MO")).alias("am_range"),
        (
            ops.ratio(pl.col("MC"), pl.col("C"))
            * ops.ratio(pl.col("AdjC"), ops.lag(pl.col("AdjC")))
            - 1.0
        ).alias("am_gap_ret"),
    ).with_columns(
        ops.rolling_mean(diff, SHORT).alias("am_pm_minus_am_ma5"),
        ops.rolling_mean(diff, LONG).alias("am_pm_minus_am_ma20"),
    )
    return ops.in_memory(ops.to_base_rows(ctx.base, computed, FEATURES))


BLOCK = Block(
    name="am",
    sources=(BARS,),
    availability="bars_same_day",
    lookback=LOOKBACK,
    features=FEATURES,
    compute=compute,
    required_columns=((BARS, "MO"),),
    jpx_only="TSE morning/afternoon session times",
    whole_frame=True,
)

BLOCKS: tuple[Block, ...] = (BLOCK,)
