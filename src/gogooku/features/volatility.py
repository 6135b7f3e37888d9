"""Volatility and range block (``volatility``).

All windows run over the stock's last ``n`` traded rows (see ``gogooku.features.ops``); the
previous close of a row is the previous traded close. With O, H, L, C the adjusted prices of a
row and C₋₁ the previous traded close, define the per-row log quantities::

    r  = ln(C / C₋₁)                       close-to-close
    o  = ln(O / C₋₁)                       overnight
    c  = ln(C / O)                         open-to-close
    rs = ln(H/C)·ln(H/O) + ln(L/C)·ln(L/O) Rogers–Satchell term
    pk = ln(H/L)²                          Parkinson term

Volatilities are annualised with √245 (≈ TSE trading days per year). Estimators over n rows:

- realised  σ = std_n(r)·√245 (sample std, ddof 1)
- Parkinson σ = sqrt(mean_n(pk) / (4 ln 2))·√245
- Garman–Klass σ = sqrt(mean_n(½·pk − (2 ln 2 − 1)·c²))·√245
- Rogers–Satchell σ = sqrt(mean_n(rs))·√245
- Yang–Zhang (textbook) σ² = var_n(o) + k·var_n(c) + (1−k)·mean_n(rs),
  k = 0.34 / (1.34 + (n+1)/(n−1)), σ = sqrt(σ²)·√245 (var with ddof 1)

A row with H = L (one price all day, e.g. locked at a limit) has a zero range: range-based terms
are 0 there; ``close_loc`` and the candle shares are null (0/0).
"""

from __future__ import annotations

import math

import polars as pl

from gogooku.features import ops
from gogooku.features.base import Block, BlockContext, Feature

RV_WINDOWS = (5, 10, 20, 60)
RANGE_EST_WINDOWS = (10, 20, 60)
GK_WINDOWS = (20, 60)
VOV_WINDOWS = (20, 60)

A = ops.SQRT_ANNUALISATION


def yang_zhang_k(n: int) -> float:
    """Yang–Zhang weight k = 0.34 / (1.34 + (n+1)/(n−1))."""
    return 0.34 / (1.34 + (n + 1) / (n - 1))


FEATURES: tuple[Feature, ...] = (
    *(
        Feature(
            f"rv_{w}d",
            f"Realised volatility over {w} traded days, annualised",
            f"std_{w}(ln(C/C_prev)) * sqrt(245)",
            w + 1,
        )
        for w in RV_WINDOWS
    ),
    *(
        Feature(
            f"pk_vol_{w}d",
            f"Parkinson high-low volatility over {w} days, annualised",
            f"sqrt(mean_{w}(ln(H/L)^2) / (4 ln 2)) * sqrt(245)",
            w,
        )
        for w in RANGE_EST_WINDOWS
    ),
    *(
        Feature(
            f"rs_vol_{w}d",
            f"Rogers-Satchell volatility over {w} days, annualised",
            f"sqrt(mean_{w}(ln(H/C) ln(H/O) + ln(L/C) ln(L/O))) * sqrt(245)",
            w,
        )
        for w in RANGE_EST_WINDOWS
    ),
    *(
        Feature(
            f"yz_vol_{w}d",
            f"Yang-Zhang volatility over {w} days, annualised (k={yang_zhang_k(w):.4f})",
            f"sqrt(var_{w}(ln(O/C_prev)) + k var_{w}(ln(C/O)) + (1-k) mean_{w}(RS)) * sqrt(245), "
            "k = 0.34/(1.34+(n+1)/(n-1))",
            w + 1,
        )
        for w in RANGE_EST_WINDOWS
    ),
    *(
        Feature(
            f"gk_vol_{w}d",
            f"Garman-Klass volatility over {w} days, annualised",
            f"sqrt(mean_{w}(0.5 ln(H/L)^2 - (2 ln 2 - 1) ln(C/O)^2)) * sqrt(245)",
            w,
        )
        for w in GK_WINDOWS
    ),
    *(
        Feature(
            f"vov_{w}d",
            f"Volatility of volatility: coefficient of variation of rv_20d over {w} days",
            f"std_{w}(rv_20d) / mean_{w}(rv_20d)",
            w + 20,
        )
        for w in VOV_WINDOWS
    ),
    Feature("vol_ratio_5_60", "Short over long realised volatility", "rv_5d / rv_60d", 61),
    Feature("vol_ratio_20_60", "Medium over long realised volatility", "rv_20d / rv_60d", 61),
    Feature(
        "downside_vol_20d",
        "Downside semi-volatility over 20 days, annualised",
        "sqrt(mean_20(min(r, 0)^2)) * sqrt(245)",
        21,
    ),
    Feature(
        "upside_vol_20d",
        "Upside semi-volatility over 20 days, annualised",
        "sqrt(mean_20(max(r, 0)^2)) * sqrt(245)",
        21,
    ),
    Feature(
        "ret_skew_60d", "Skewness of daily log returns over 60 days", "skew_60(r) (biased)", 61
    ),
    Feature(
        "ret_kurt_60d",
        "Excess kurtosis of daily log returns over 60 days",
        "kurt_60(r) - 3 (Fisher, biased)",
        61,
    ),
    Feature("range_hl", "Day range relative to the close", "(H - L) / C", None),
    Feature(
        "range_hl_mean_20d",
        "Mean day range over 20 days",
        "mean_20((H - L) / C)",
        20,
    ),
    Feature(
        "range_expansion_20d",
        "Today's range relative to its 20-day mean",
        "range_hl / range_hl_mean_20d",
        20,
    ),
    Feature("close_loc", "Close location in the day range", "(C - L) / (H - L)", None),
    Feature("candle_body", "Signed candle body share of the range", "(C - O) / (H - L)", None),
    Feature(
        "upper_shadow",
        "Upper shadow share of the range",
        "(H - max(O, C)) / (H - L)",
        None,
    ),
    Feature(
        "lower_shadow",
        "Lower shadow share of the range",
        "(min(O, C) - L) / (H - L)",
        None,
    ),
)

LOOKBACK = ops.lookback(FEATURES)


def compute(ctx: BlockContext) -> pl.LazyFrame:
    """Close-to-close, range-based and Yang–Zhang volatilities, vol-of-vol, ranges, candles."""
    o_, h_, l_, c_ = (pl.col(x) for x in ("AdjO", "AdjH", "AdjL", "AdjC"))
    prev_c = ops.lag(c_)
    traded = ops.traded_rows(ctx.base).with_columns(
        (c_ / prev_c).log().alias("_r"),
        (o_ / prev_c).log().alias("_o"),
        (c_ / o_).log().alias("_c"),
        ((h_ / c_).log() * (h_ / o_).log() + (l_ / c_).log() * (l_ / o_).log()).alias("_rs"),
        (h_ / l_).log().pow(2).alias("_pk"),
        ops.ratio(h_ - l_, c_).alias("range_hl"),
        ops.ratio(c_ - l_, h_ - l_).alias("close_loc"),
        ops.ratio(c_ - o_, h_ - l_).alias("candle_body"),
        ops.ratio(h_ - pl.max_horizontal(o_, c_), h_ - l_).alias("upper_shadow"),
        ops.ratio(pl.min_horizontal(o_, c_) - l_, h_ - l_).alias("lower_shadow"),
    )
    r, o, c, rs, pk = (pl.col(x) for x in ("_r", "_o", "_c", "_rs", "_pk"))
    gk_term = 0.5 * pk - (2.0 * math.log(2.0) - 1.0) * c.pow(2)
    estimators = [
        *(ops.rolling_std(r, w).mul(A).alias(f"rv_{w}d") for w in RV_WINDOWS),
        *(
            (ops.rolling_mean(pk, w) / (4.0 * math.log(2.0))).sqrt().mul(A).alias(f"pk_vol_{w}d")
            for w in RANGE_EST_WINDOWS
        ),
        *(ops.rolling_mean(rs, w).sqrt().mul(A).alias(f"rs_vol_{w}d") for w in RANGE_EST_WINDOWS),
        *(
            (
                ops.rolling_var(o, w)
                + yang_zhang_k(w) * ops.rolling_var(c, w)
                + (1.0 - yang_zhang_k(w)) * ops.rolling_mean(rs, w)
            )
            .sqrt()
            .mul(A)
            .alias(f"yz_vol_{w}d")
            for w in RANGE_EST_WINDOWS
        ),
        *(ops.rolling_mean(gk_term, w).sqrt().mul(A).alias(f"gk_vol_{w}d") for w in GK_WINDOWS),
        ops.rolling_mean(r.clip(upper_bound=0.0).pow(2), 20)
        .sqrt()
        .mul(A)
        .alias("downside_vol_20d"),
        ops.rolling_mean(r.clip(lower_bound=0.0).pow(2), 20).sqrt().mul(A).alias("upside_vol_20d"),
        r.rolling_skew(60, bias=True, min_samples=60).over(ops.CODE).alias("ret_skew_60d"),
        r.rolling_kurtosis(60, fisher=True, bias=True, min_samples=60)
        .over(ops.CODE)
        .alias("ret_kurt_60d"),
        ops.rolling_mean(pl.col("range_hl"), 20).alias("range_hl_mean_20d"),
    ]
    traded = traded.with_columns(estimators)
    rv20, rv60 = pl.col("rv_20d"), pl.col("rv_60d")
    traded = traded.with_columns(
        *(
            ops.ratio(ops.rolling_std(rv20, w), ops.rolling_mean(rv20, w)).alias(f"vov_{w}d")
            for w in VOV_WINDOWS
        ),
        ops.ratio(pl.col("rv_5d"), rv60).alias("vol_ratio_5_60"),
        ops.ratio(rv20, rv60).alias("vol_ratio_20_60"),
        ops.ratio(pl.col("range_hl"), pl.col("range_hl_mean_20d")).alias("range_expansion_20d"),
    )
    return ops.in_memory(ops.to_base_rows(ctx.base, traded, FEATURES))


BLOCK = Block(
    name="volatility",
    sources=("equities_bars_daily",),
    availability="bars_same_day",
    lookback=LOOKBACK,
    features=FEATURES,
    compute=compute,
)

BLOCKS: tuple[Block, ...] = (BLOCK,)
