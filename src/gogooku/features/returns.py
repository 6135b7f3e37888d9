"""Returns and gaps block (``returns``).

Prices are the point-in-time adjusted prices of the base frame (``AdjO``, ``AdjH``, ``AdjL``,
``AdjC``). Let ``P*_t`` be the stock's last traded adjusted close at or before row t (the close
carried forward over no-trade rows). Horizon returns are measured in the stock's own rows
(one row per trading day while listed)::

    ret_prev_{h}d_t = AdjC_t / P*_{t−h} − 1

so on the first row after a no-trade day (e.g. 2020-10-02, after the 2020-10-01 halt) the 1-day
return runs from the last traded close (2020-09-30) — the return a holder actually had. On a
no-trade row every feature of this block is null (there is no price on that row).

Rolling features (sums, extremes, streaks) run over the stock's last ``w`` traded rows; the
previous close of a traded row is the previous traded close.
"""

from __future__ import annotations

import polars as pl

from gogooku.features import ops
from gogooku.features.base import Block, BlockContext, Feature

HORIZONS = (1, 5, 10, 20, 60, 120)
LOG_HORIZONS = (1, 5, 10, 20)
SUM_WINDOWS = (5, 20)

FEATURES: tuple[Feature, ...] = (
    *(
        Feature(
            f"ret_prev_{h}d",
            f"Past {h}-day return of the adjusted close",
            f"AdjC_t / P*_(t-{h}) - 1, P* = last traded AdjC at or before the row",
            h + 1,
        )
        for h in HORIZONS
    ),
    *(
        Feature(
            f"log_ret_{h}d",
            f"Past {h}-day log return of the adjusted close",
            f"ln(AdjC_t / P*_(t-{h}))",
            h + 1,
        )
        for h in LOG_HORIZONS
    ),
    Feature(
        "ret_overnight", "Overnight return", "AdjO_t / AdjC_prev - 1 (previous traded close)", 2
    ),
    Feature("ret_intraday", "Open-to-close return", "AdjC_t / AdjO_t - 1", None),
    Feature(
        "gap_up_flag",
        "Open above the previous traded day's high",
        "AdjO_t > AdjH_prev",
        2,
        "Boolean",
    ),
    Feature(
        "gap_down_flag",
        "Open below the previous traded day's low",
        "AdjO_t < AdjL_prev",
        2,
        "Boolean",
    ),
    Feature(
        "gap_filled_flag",
        "The session reversed at least the whole overnight gap",
        "sign(ov) != sign(id) and |ln(AdjC/AdjO)| >= |ln(AdjO/AdjC_prev)|, ov/id the log overnight/intraday returns",
        2,
        "Boolean",
    ),
    Feature(
        "gap_z_20d",
        "Overnight log return in units of its 20-day root mean square",
        "ov_t / sqrt(mean_20(ov^2)), ov = ln(AdjO_t / AdjC_prev)",
        21,
    ),
    *(
        Feature(
            f"ovn_logret_sum_{w}d",
            f"Sum of overnight log returns over {w} traded days",
            f"sum_{w}(ln(AdjO_t / AdjC_prev))",
            w + 1,
        )
        for w in SUM_WINDOWS
    ),
    *(
        Feature(
            f"intra_logret_sum_{w}d",
            f"Sum of open-to-close log returns over {w} traded days",
            f"sum_{w}(ln(AdjC_t / AdjO_t))",
            w,
        )
        for w in SUM_WINDOWS
    ),
    Feature(
        "up_streak",
        "Consecutive traded days with a positive daily return (0 if today's is not positive)",
        "count of consecutive rows up to t with AdjC/AdjC_prev - 1 > 0",
        2,
        "Int32",
    ),
    Feature(
        "down_streak",
        "Consecutive traded days with a negative daily return (0 if today's is not negative)",
        "count of consecutive rows up to t with AdjC/AdjC_prev - 1 < 0",
        2,
        "Int32",
    ),
    Feature(
        "ret_max_20d",
        "Largest daily return in the last 20 traded days",
        "max_20(AdjC/AdjC_prev - 1)",
        21,
    ),
    Feature(
        "ret_min_20d",
        "Smallest daily return in the last 20 traded days",
        "min_20(AdjC/AdjC_prev - 1)",
        21,
    ),
    Feature(
        "mom_60_5d",
        "Momentum from 60 to 5 days ago (skips the last week)",
        "P*_(t-5) / P*_(t-60) - 1",
        61,
    ),
    Feature(
        "mom_250_20d",
        "Twelve-minus-one-month momentum (250 to 20 days ago)",
        "P*_(t-20) / P*_(t-250) - 1",
        251,
    ),
)

LOOKBACK = ops.lookback(FEATURES)


def with_horizon_returns(frame: pl.LazyFrame, horizons: tuple[int, ...]) -> pl.LazyFrame:
    """Add ``ret_prev_{h}d = AdjC_t / P*_(t−h) − 1`` (P* carried over no-trade rows) and ``_pstar``."""
    frame = frame.with_columns(pl.col("AdjC").forward_fill().over(ops.CODE).alias("_pstar"))
    return frame.with_columns(
        (pl.col("AdjC") / ops.lag(pl.col("_pstar"), h) - 1.0).alias(f"ret_prev_{h}d")
        for h in horizons
    )


def compute(ctx: BlockContext) -> pl.LazyFrame:
    """Returns, log returns, overnight/intraday decomposition, gaps, streaks and momentum."""
    on_calendar_rows = with_horizon_returns(ctx.base, HORIZONS)
    pstar = pl.col("_pstar")
    momentum = [
        (ops.lag(pstar, 5) / ops.lag(pstar, 60) - 1.0).alias("mom_60_5d"),
        (ops.lag(pstar, 20) / ops.lag(pstar, 250) - 1.0).alias("mom_250_20d"),
    ]
    traded = ops.traded_rows(on_calendar_rows.with_columns(momentum))

    prev_c = ops.lag(pl.col("AdjC"))
    traded = traded.with_columns(
        *(pl.col(f"ret_prev_{h}d").log1p().alias(f"log_ret_{h}d") for h in LOG_HORIZONS),
        (pl.col("AdjO") / prev_c - 1.0).alias("ret_overnight"),
        (pl.col("AdjC") / pl.col("AdjO") - 1.0).alias("ret_intraday"),
        (pl.col("AdjO") > ops.lag(pl.col("AdjH"))).alias("gap_up_flag"),
        (pl.col("AdjO") < ops.lag(pl.col("AdjL"))).alias("gap_down_flag"),
        (pl.col("AdjO") / prev_c).log().alias("_ov"),
        (pl.col("AdjC") / pl.col("AdjO")).log().alias("_id"),
        (pl.col("AdjC") / prev_c - 1.0).alias("_r1"),
    )
    ov, iday, r1 = pl.col("_ov"), pl.col("_id"), pl.col("_r1")
    traded = traded.with_columns(
        ((ov.sign() * iday.sign() < 0) & (iday.abs() >= ov.abs())).alias("gap_filled_flag"),
        ops.ratio(ov, ops.rolling_mean(ov.pow(2), 20).sqrt()).alias("gap_z_20d"),
        *(ops.rolling_sum(ov, w).alias(f"ovn_logret_sum_{w}d") for w in SUM_WINDOWS),
        *(ops.rolling_sum(iday, w).alias(f"intra_logret_sum_{w}d") for w in SUM_WINDOWS),
        pl.when(r1.is_not_null()).then(ops.streak(r1 > 0)).alias("up_streak"),
        pl.when(r1.is_not_null()).then(ops.streak(r1 < 0)).alias("down_streak"),
        ops.rolling_max(r1, 20).alias("ret_max_20d"),
        ops.rolling_min(r1, 20).alias("ret_min_20d"),
    )
    return ops.in_memory(ops.to_base_rows(ctx.base, traded, FEATURES))


BLOCK = Block(
    name="returns",
    sources=("equities_bars_daily",),
    availability="bars_same_day",
    lookback=LOOKBACK,
    features=FEATURES,
    compute=compute,
)

BLOCKS: tuple[Block, ...] = (BLOCK,)
