"""Liquidity block (``liquidity``).

Turnover ``Va`` is the day's trading value in JPY (never adjusted). Averages run over the stock's
traded rows (``gogooku.features.ops``); r is the simple daily return from the previous traded
adjusted close. Turnover *rate* in the textbook sense (volume / shares outstanding) needs the
share count, which the daily bars do not carry; ``turnover_ratio_20d`` (today's value over its
20-day average) and ``adv_ratio_5_60`` stand in for it.

No-trade counts run over all of the stock's rows (one per trading day while listed); the
2020-10-01 market-wide halt is not counted, since it says nothing about the stock.
"""

from __future__ import annotations

import polars as pl

from gogooku.features import ops
from gogooku.features.base import Block, BlockContext, Feature

ADV_WINDOWS = (20, 60)
AMIHUD_WINDOWS = (20, 60)
NOTRADE_WINDOWS = (20, 60)

FEATURES: tuple[Feature, ...] = (
    Feature("turnover_log", "Log trading value of the day (JPY)", "ln(Va_t)", None),
    *(
        Feature(
            f"adv_log_{w}d",
            f"Log average daily trading value over {w} traded days",
            f"ln(mean_{w}(Va))",
            w,
        )
        for w in ADV_WINDOWS
    ),
    *(
        Feature(
            f"amihud_{w}d",
            f"Amihud illiquidity over {w} traded days (per billion JPY)",
            f"mean_{w}(|r| / Va) * 1e9",
            w + 1,
        )
        for w in AMIHUD_WINDOWS
    ),
    Feature(
        "turnover_ratio_20d",
        "Trading value relative to its 20-day average (turnover-rate proxy)",
        "Va_t / mean_20(Va)",
        20,
    ),
    Feature(
        "adv_ratio_5_60",
        "Short over long average trading value",
        "mean_5(Va) / mean_60(Va)",
        60,
    ),
    Feature(
        "turnover_cv_20d",
        "Coefficient of variation of trading value over 20 days",
        "std_20(Va) / mean_20(Va)",
        20,
    ),
    Feature(
        "log_price",
        "Log unadjusted close (price level sets the minimum lot cost)",
        "ln(C_t), C unadjusted",
        None,
    ),
    Feature(
        "cs_spread_20d",
        "Corwin-Schultz high-low bid-ask spread estimate, 20-day mean",
        "mean_20(max(S,0)), S = 2(e^a-1)/(1+e^a), a = (sqrt(2b)-sqrt(b))/(3-2sqrt2) - sqrt(g/(3-2sqrt2)), "
        "b = ln(H_t/L_t)^2 + ln(H_prev/L_prev)^2, g = ln(max(H_t,H_prev)/min(L_t,L_prev))^2",
        21,
    ),
    *(
        Feature(
            f"notrade_cnt_{w}d",
            f"No-trade days among the stock's last {w} rows (2020-10-01 excluded)",
            f"sum_{w}(no_trade and not is_halt_20201001) over all rows",
            w,
        )
        for w in NOTRADE_WINDOWS
    ),
    Feature(
        "days_since_trade",
        "Rows since the stock last traded (0 when it traded today), null if none in 250",
        "rows since the latest row with no_trade false, capped at 250",
        250,
        "Int32",
    ),
)

LOOKBACK = ops.lookback(FEATURES)

_ALL_ROW_COLUMNS = (*(f"notrade_cnt_{w}d" for w in NOTRADE_WINDOWS), "days_since_trade")

_SQRT2 = 2.0**0.5
_CS_DEN = 3.0 - 2.0 * _SQRT2


def compute(ctx: BlockContext) -> pl.LazyFrame:
    """Trading value levels and ratios, Amihud, Corwin–Schultz spread, no-trade counts."""
    stock_notrade = pl.col("no_trade") & ~pl.col("is_halt_20201001")
    base = ctx.base.with_columns(
        *(
            ops.rolling_sum(stock_notrade.cast(pl.Float64), w).alias(f"notrade_cnt_{w}d")
            for w in NOTRADE_WINDOWS
        ),
        ops.rows_since(~pl.col("no_trade"), 250).alias("days_since_trade"),
    )
    va, c_ = pl.col("Va"), pl.col("AdjC")
    h_, l_ = pl.col("AdjH"), pl.col("AdjL")
    prev_h, prev_l = ops.lag(h_), ops.lag(l_)
    beta = (h_ / l_).log().pow(2) + (prev_h / prev_l).log().pow(2)
    gamma = (pl.max_horizontal(h_, prev_h) / pl.min_horizontal(l_, prev_l)).log().pow(2)
    traded = ops.traded_rows(base).with_columns(
        (c_ / ops.lag(c_) - 1.0).abs().alias("_absr"),
        beta.alias("_b"),
        pl.when(prev_h.is_not_null() & prev_l.is_not_null()).then(gamma).alias("_g"),
        *(ops.rolling_mean(va, w).alias(f"_adv{w}") for w in (5, *ADV_WINDOWS)),
    )
    b, g = pl.col("_b"), pl.col("_g")
    alpha = ((2.0 * b).sqrt() - b.sqrt()) / _CS_DEN - (g / _CS_DEN).sqrt()
    spread = (2.0 * (alpha.exp() - 1.0) / (1.0 + alpha.exp())).clip(lower_bound=0.0)
    traded = traded.with_columns(
        va.log().alias("turnover_log"),
        *(pl.col(f"_adv{w}").log().alias(f"adv_log_{w}d") for w in ADV_WINDOWS),
        *(
            ops.rolling_mean(ops.ratio(pl.col("_absr"), va), w).mul(1e9).alias(f"amihud_{w}d")
            for w in AMIHUD_WINDOWS
        ),
        ops.ratio(va, pl.col("_adv20")).alias("turnover_ratio_20d"),
        ops.ratio(pl.col("_adv5"), pl.col("_adv60")).alias("adv_ratio_5_60"),
        ops.ratio(ops.rolling_std(va, 20), pl.col("_adv20")).alias("turnover_cv_20d"),
        pl.col("C").log().alias("log_price"),
        ops.rolling_mean(spread, 20).alias("cs_spread_20d"),
    )
    return ops.in_memory(ops.to_base_rows(base, traded, FEATURES, from_base=_ALL_ROW_COLUMNS))


BLOCK = Block(
    name="liquidity",
    sources=("equities_bars_daily",),
    availability="bars_same_day",
    lookback=LOOKBACK,
    features=FEATURES,
    compute=compute,
)

BLOCKS: tuple[Block, ...] = (BLOCK,)
