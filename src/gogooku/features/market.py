"""Market block (``market``): TOPIX of the same day and the stock against it.

TOPIX columns of the base frame (``topix_O/H/L/C``) are the index bar of the row's own date, which
is published (~16:30) before the decision time (19:00) — no staleness. The index series is built
once per date from the rows where ``topix_C`` is present, excluding 2020-10-01 (the halt: no index
was computed, whatever the vendor row carries); index features are null on that date and the
next day's index return spans back to 2020-09-30.

Index features over the index's last n dates (C the TOPIX close, C₋₁ the previous one):
returns C/C₋ₕ − 1; volatility std_n(ln C/C₋₁)·√245; trend C/SMA_n(C) − 1; drawdown
C/max₂₅₀(C) − 1.

Stock versus TOPIX runs over the stock's traded rows: r = AdjC/AdjC₋₁ − 1 and m = topix_C /
topix_C₋₁ − 1 over the same span (the previous traded row of the stock), and over n rows::

    β = cov_n(r, m) / var_n(m),  cov_n(r, m) = mean_n(r·m) − mean_n(r)·mean_n(m)
    α = mean_n(r) − β·mean_n(m)        (daily)
    ρ = cov_n(r, m) / sqrt(var_n(r)·var_n(m))
    idio σ = sqrt(max(var_n(r) − β²·var_n(m), 0))·√245
    resid_ret_1d = r_t − α − β·m_t

(population moments, var_n(x) = mean_n(x²) − mean_n(x)²; OLS of r on m over the window).
"""

from __future__ import annotations

import polars as pl

from gogooku.features import ops
from gogooku.features.base import Block, BlockContext, Feature

INDEX_HORIZONS = (1, 5, 20, 60)
INDEX_VOL_WINDOWS = (20, 60)
INDEX_TREND_WINDOWS = (50, 200)
DRAWDOWN_WINDOW = 250
BETA_WINDOWS = (20, 60)
EXCESS_HORIZONS = (5, 20)

A = ops.SQRT_ANNUALISATION

_INDEX_FEATURES: tuple[Feature, ...] = (
    *(
        Feature(f"topix_ret_{h}d", f"TOPIX {h}-day return", f"C_t / C_(t-{h}) - 1", h + 1)
        for h in INDEX_HORIZONS
    ),
    *(
        Feature(
            f"topix_vol_{w}d",
            f"TOPIX realised volatility over {w} days, annualised",
            f"std_{w}(ln(C/C_prev)) * sqrt(245)",
            w + 1,
        )
        for w in INDEX_VOL_WINDOWS
    ),
    *(
        Feature(
            f"topix_trend_{w}",
            f"TOPIX relative to its {w}-day moving average",
            f"C_t / SMA_{w}(C) - 1",
            w,
        )
        for w in INDEX_TREND_WINDOWS
    ),
    Feature(
        "topix_dd_250d",
        "TOPIX drawdown from its 250-day closing high",
        "C_t / max_250(C) - 1",
        DRAWDOWN_WINDOW,
    ),
    Feature("topix_ret_overnight", "TOPIX overnight return", "O_t / C_prev - 1", 2),
    Feature("topix_ret_intraday", "TOPIX open-to-close return", "C_t / O_t - 1", None),
    Feature("topix_range", "TOPIX day range", "(H - L) / C", None),
)

_STOCK_FEATURES: tuple[Feature, ...] = (
    *(
        Feature(
            f"beta_{w}d",
            f"OLS beta of daily returns on TOPIX over {w} traded days",
            f"cov_{w}(r, m) / var_{w}(m)",
            w + 1,
        )
        for w in BETA_WINDOWS
    ),
    Feature(
        "alpha_60d",
        "OLS intercept (daily) of returns on TOPIX over 60 traded days",
        "mean_60(r) - beta_60d mean_60(m)",
        61,
    ),
    Feature(
        "corr_60d",
        "Correlation of daily returns with TOPIX over 60 traded days",
        "cov_60(r, m) / sqrt(var_60(r) var_60(m))",
        61,
    ),
    Feature(
        "idio_vol_60d",
        "Residual (idiosyncratic) volatility vs TOPIX over 60 days, annualised",
        "sqrt(max(var_60(r) - beta_60d^2 var_60(m), 0)) * sqrt(245)",
        61,
    ),
    Feature(
        "resid_ret_1d",
        "Today's return net of the 60-day market model",
        "r_t - alpha_60d - beta_60d m_t",
        61,
    ),
    *(
        Feature(
            f"excess_ret_{h}d",
            f"Stock minus TOPIX return over the last {h} traded rows",
            f"AdjC_t / AdjC_(t-{h}) - topix_C_t / topix_C_(t-{h})",
            h + 1,
        )
        for h in EXCESS_HORIZONS
    ),
)

FEATURES: tuple[Feature, ...] = _INDEX_FEATURES + _STOCK_FEATURES

LOOKBACK = ops.lookback(FEATURES)


def index_series(base: pl.LazyFrame) -> pl.LazyFrame:
    """One TOPIX bar per date (halt day and missing closes excluded), sorted by date."""
    return (
        base.filter(pl.col("topix_C").is_not_null() & ~pl.col("is_halt_20201001"))
        .group_by(ops.DATE)
        .agg(pl.col("topix_O", "topix_H", "topix_L", "topix_C").first())
        .sort(ops.DATE)
    )


def index_features(base: pl.LazyFrame) -> pl.LazyFrame:
    """``Date`` + the TOPIX features, over the index's own dates."""
    c, o, h, l_ = (pl.col(f"topix_{x}") for x in ("C", "O", "H", "L"))
    logr = (c / c.shift(1)).log()
    return index_series(base).select(
        ops.DATE,
        *((c / c.shift(k) - 1.0).alias(f"topix_ret_{k}d") for k in INDEX_HORIZONS),
        *(
            logr.rolling_std(w, min_samples=w).mul(A).alias(f"topix_vol_{w}d")
            for w in INDEX_VOL_WINDOWS
        ),
        *(
            (c / c.rolling_mean(w, min_samples=w) - 1.0).alias(f"topix_trend_{w}")
            for w in INDEX_TREND_WINDOWS
        ),
        (c / c.rolling_max(DRAWDOWN_WINDOW, min_samples=DRAWDOWN_WINDOW) - 1.0).alias(
            "topix_dd_250d"
        ),
        (o / c.shift(1) - 1.0).alias("topix_ret_overnight"),
        (c / o - 1.0).alias("topix_ret_intraday"),
        ops.ratio(h - l_, c).alias("topix_range"),
    )


def compute(ctx: BlockContext) -> pl.LazyFrame:
    """TOPIX features by date and the stock's market-model statistics."""
    stock_c, mkt_c = pl.col("AdjC"), pl.col("topix_C")
    traded = ops.traded_rows(ctx.base).with_columns(
        (stock_c / ops.lag(stock_c) - 1.0).alias("_r"),
        (mkt_c / ops.lag(mkt_c) - 1.0).alias("_m"),
        *(
            (stock_c / ops.lag(stock_c, k) - mkt_c / ops.lag(mkt_c, k)).alias(f"excess_ret_{k}d")
            for k in EXCESS_HORIZONS
        ),
    )
    r, m = pl.col("_r"), pl.col("_m")
    pair = pl.when(r.is_not_null() & m.is_not_null())
    rp, mp = pair.then(r), pair.then(m)
    moments = {}
    for w in BETA_WINDOWS:
        moments[w] = {
            "r": ops.rolling_mean(rp, w),
            "m": ops.rolling_mean(mp, w),
            "rm": ops.rolling_mean(rp * mp, w),
            "rr": ops.rolling_mean(rp * rp, w),
            "mm": ops.rolling_mean(mp * mp, w),
        }
    traded = traded.with_columns(
        *(expr.alias(f"_{name}{w}") for w, named in moments.items() for name, expr in named.items())
    )

    def mom(name: str, w: int) -> pl.Expr:
        return pl.col(f"_{name}{w}")

    def cov(w: int) -> pl.Expr:
        return mom("rm", w) - mom("r", w) * mom("m", w)

    def var(x: str, w: int) -> pl.Expr:
        return mom(x + x, w) - mom(x, w).pow(2)

    traded = traded.with_columns(
        *(ops.ratio(cov(w), var("m", w)).alias(f"beta_{w}d") for w in BETA_WINDOWS),
        ops.ratio(cov(60), (var("r", 60) * var("m", 60)).sqrt()).alias("corr_60d"),
    )
    beta = pl.col("beta_60d")
    traded = traded.with_columns(
        (mom("r", 60) - beta * mom("m", 60)).alias("alpha_60d"),
        (var("r", 60) - beta.pow(2) * var("m", 60))
        .clip(lower_bound=0.0)
        .sqrt()
        .mul(A)
        .alias("idio_vol_60d"),
    )
    traded = traded.with_columns(
        (r - pl.col("alpha_60d") - beta * m).alias("resid_ret_1d"),
    )
    stock = ops.to_base_rows(ctx.base, traded, _STOCK_FEATURES)
    joined = stock.join(index_features(ctx.base), on=ops.DATE, how="left", maintain_order="left")
    return ops.in_memory(ops.finalize(joined, FEATURES))


BLOCK = Block(
    name="market",
    sources=("equities_bars_daily", "indices_topix"),
    availability="bars_same_day",
    lookback=LOOKBACK,
    features=FEATURES,
    compute=compute,
    cross_sectional=True,
)

BLOCKS: tuple[Block, ...] = (BLOCK,)
