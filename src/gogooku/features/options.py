"""Index options block (``options``): Nikkei 225 option bars (``options_225``), market-level.

The bars of trade date d (day and night sessions, settlement, ``IV`` in %, underlying ``UnderPx``)
are usable from the next trading day (rule ``next_trading_day`` on ``Date``). Per trade date,
over contracts with ``IV`` > 0, strike K, moneyness m = ln(K / UnderPx), τ = ``SQD`` − d in
calendar days, and only expiries with τ ≥ 7 (the expiring week's IV is dominated by the SQ)::

    ATM IV of an expiry   = mean IV of its contracts at the strike closest to UnderPx
    opt_iv_atm_near       = ATM IV of the nearest expiry
    IV_T (T = 30, 60)     = sqrt(w(T) / T), w(τ) = ATM_IV(τ)² · τ linearly interpolated in τ
                            between the expiries at or below and just above T; the nearest
                            expiry's ATM IV when all expiries are beyond T; null when all are
                            before T
    opt_term_slope_30_60  = IV_60 − IV_30
    opt_skew_5pct         = mean IV of puts with K/S in [0.93, 0.97] − mean IV of calls with
                            K/S in [1.03, 1.07], nearest expiry
    opt_pc_oi_ratio       = Σ OI(puts) / Σ OI(calls);  opt_pc_vol_ratio = Σ Vo(puts) / Σ Vo(calls)
    opt_oi_log            = ln Σ OI                     (all contracts of the date)
    opt_iv_shock          = (ΔIV_30 − mean_60(ΔIV_30)) / std_60(ΔIV_30), ΔIV_30 the change from
                            the previous trade date (over the last 60 trade dates)
    opt_near_days_to_sq   = SQD of the nearest expiry − row Date, calendar days

Attached to every stock (a global as-of join). The variance risk premium compares the latest
usable IV_30 with TOPIX realised volatility up to the row date (TOPIX of day t is usable on t)::

    opt_vrp = (IV_30 / 100)² − (std_20(ln C/C_prev) · √245)²   (TOPIX closes, as in ``market``)

TOPIX is an optional source: without TOPIX rows (a Kaggle home) the block is built and
``opt_vrp`` is null.
"""

from __future__ import annotations

import polars as pl

from gogooku.features import ops
from gogooku.features.availability import with_available_from
from gogooku.features.base import Block, BlockContext, Feature
from gogooku.features.market import index_series

SOURCE = "options_225"
MIN_DAYS = 7
TARGETS = (30, 60)
SKEW_PUT = (0.93, 0.97)
SKEW_CALL = (1.03, 1.07)
SHOCK_WINDOW = 60
RV_WINDOW = 20
PUT, CALL = "1", "2"

FEATURES: tuple[Feature, ...] = (
    Feature("opt_iv_atm_near", "ATM implied volatility of the nearest expiry (%)", "ATM IV", None),
    Feature(
        "opt_iv_30d",
        "30-day constant-maturity ATM implied volatility (%)",
        "sqrt(w(30) / 30), w = ATM_IV^2 tau interpolated in tau (flat before the nearest)",
        None,
    ),
    Feature(
        "opt_iv_60d",
        "60-day constant-maturity ATM implied volatility (%)",
        "sqrt(w(60) / 60), w = ATM_IV^2 tau interpolated in tau (flat before the nearest)",
        None,
    ),
    Feature("opt_term_slope_30_60", "IV term slope (60d minus 30d)", "IV_60 - IV_30", None),
    Feature(
        "opt_skew_5pct",
        "OTM put minus OTM call IV at about 5 % moneyness, nearest expiry",
        "mean IV(puts, K/S in [0.93,0.97]) - mean IV(calls, K/S in [1.03,1.07])",
        None,
    ),
    Feature("opt_pc_oi_ratio", "Put/call open interest ratio", "sum OI(P) / sum OI(C)", None),
    Feature("opt_pc_vol_ratio", "Put/call volume ratio", "sum Vo(P) / sum Vo(C)", None),
    Feature("opt_oi_log", "Log total open interest", "ln(sum OI)", None),
    Feature(
        "opt_iv_shock",
        "z-score of the daily change of the 30-day IV over 60 trade dates",
        "(dIV_30 - mean_60(dIV_30)) / std_60(dIV_30)",
        None,
    ),
    Feature(
        "opt_vrp",
        "Variance risk premium: implied minus realised TOPIX variance, annualised",
        "(IV_30 / 100)^2 - (std_20(ln C/C_prev) sqrt(245))^2",
        RV_WINDOW + 1,
    ),
    Feature(
        "opt_near_days_to_sq",
        "Calendar days from the row date to the SQ of the nearest expiry used",
        "SQD_near - Date",
        None,
        "Int16",
    ),
)

LOOKBACK = ops.lookback(FEATURES)

_DATE_COLUMNS = [f.name for f in FEATURES if f.name not in {"opt_vrp", "opt_near_days_to_sq"}]


def _interpolated(expiries: pl.LazyFrame, target: int) -> pl.LazyFrame:
    """``Date, iv_<target>``: ATM IV at ``target`` days from total variance interpolated in τ."""
    lower = (
        expiries.filter(pl.col("_tau") <= target)
        .group_by(ops.DATE)
        .agg(pl.all().sort_by("_tau").last())
        .select(ops.DATE, pl.col("_tau").alias("_t1"), pl.col("_w").alias("_w1"))
    )
    upper = (
        expiries.filter(pl.col("_tau") > target)
        .group_by(ops.DATE)
        .agg(pl.all().sort_by("_tau").first())
        .select(ops.DATE, pl.col("_tau").alias("_t2"), pl.col("_w").alias("_w2"))
    )
    t1, t2, w1, w2 = (pl.col(c) for c in ("_t1", "_t2", "_w1", "_w2"))
    inside = ((w1 + (w2 - w1) * (target - t1) / (t2 - t1)) / target).sqrt()
    value = (
        pl.when(t1 == target)
        .then((w1 / target).sqrt())
        .when(t1.is_null())
        .then((w2 / t2).sqrt())
        .otherwise(inside)
    )
    return (
        expiries.select(ops.DATE)
        .unique()
        .join(lower, on=ops.DATE, how="left")
        .join(upper, on=ops.DATE, how="left")
        .select(ops.DATE, value.alias(f"opt_iv_{target}d"))
    )


def daily_surface(ctx: BlockContext) -> pl.LazyFrame:
    """One row per trade date with the option features (before attachment) and ``SQD_near``."""
    bars = (
        ctx.store.scan(SOURCE)
        .filter((pl.col("IV") > 0) & (pl.col("UnderPx") > 0) & (pl.col("Strike") > 0))
        .with_columns(
            (pl.col("Strike") / pl.col("UnderPx")).alias("_k"),
            (pl.col("SQD") - pl.col(ops.DATE)).dt.total_days().alias("_tau"),
        )
    )
    flows = bars.group_by(ops.DATE).agg(
        ops.ratio(
            pl.col("OI").filter(pl.col("PCDiv") == PUT).sum(),
            pl.col("OI").filter(pl.col("PCDiv") == CALL).sum(),
        ).alias("opt_pc_oi_ratio"),
        ops.ratio(
            pl.col("Vo").filter(pl.col("PCDiv") == PUT).sum(),
            pl.col("Vo").filter(pl.col("PCDiv") == CALL).sum(),
        ).alias("opt_pc_vol_ratio"),
        pl.col("OI").sum().log().alias("opt_oi_log"),
    )
    usable = bars.filter(pl.col("_tau") >= MIN_DAYS).with_columns(
        pl.col("_k").log().abs().alias("_dist")
    )
    expiries = (
        usable.filter(pl.col("_dist") == pl.col("_dist").min().over(ops.DATE, "SQD"))
        .group_by(ops.DATE, "SQD")
        .agg(pl.col("IV").mean().alias("_atm"), pl.col("_tau").first())
        .with_columns((pl.col("_atm").pow(2) * pl.col("_tau")).alias("_w"))
    )
    near_sqd = usable.group_by(ops.DATE).agg(pl.col("SQD").min().alias("SQD_near"))
    near = usable.join(near_sqd, on=ops.DATE).filter(pl.col("SQD") == pl.col("SQD_near"))
    k = pl.col("_k")
    skew = near.group_by(ops.DATE, "SQD_near").agg(
        (
            pl.col("IV").filter((pl.col("PCDiv") == PUT) & k.is_between(*SKEW_PUT)).mean()
            - pl.col("IV").filter((pl.col("PCDiv") == CALL) & k.is_between(*SKEW_CALL)).mean()
        ).alias("opt_skew_5pct")
    )
    atm_near = expiries.join(near_sqd, on=ops.DATE).filter(pl.col("SQD") == pl.col("SQD_near"))
    frame = flows.join(skew, on=ops.DATE, how="left").join(
        atm_near.select(ops.DATE, pl.col("_atm").alias("opt_iv_atm_near")), on=ops.DATE, how="left"
    )
    for target in TARGETS:
        frame = frame.join(_interpolated(expiries, target), on=ops.DATE, how="left")
    d_iv = pl.col("opt_iv_30d") - pl.col("opt_iv_30d").shift(1)
    return frame.sort(ops.DATE).with_columns(
        (pl.col("opt_iv_60d") - pl.col("opt_iv_30d")).alias("opt_term_slope_30_60"),
        ops.ratio(
            d_iv - d_iv.rolling_mean(SHOCK_WINDOW, min_samples=SHOCK_WINDOW),
            d_iv.rolling_std(SHOCK_WINDOW, min_samples=SHOCK_WINDOW),
        ).alias("opt_iv_shock"),
    )


def topix_realised_var(base: pl.LazyFrame) -> pl.LazyFrame:
    """``Date, _rv2``: annualised 20-day realised TOPIX variance over the index's own dates."""
    logr = (pl.col("topix_C") / pl.col("topix_C").shift(1)).log()
    return index_series(base).select(
        ops.DATE,
        (logr.rolling_std(RV_WINDOW, min_samples=RV_WINDOW) * ops.SQRT_ANNUALISATION)
        .pow(2)
        .alias("_rv2"),
    )


def compute(ctx: BlockContext) -> pl.LazyFrame:
    """The latest usable option surface summary, broadcast to every stock."""
    surface = with_available_from(daily_surface(ctx), SOURCE, ctx.calendar)
    rows = ctx.base.select(ops.CODE, ops.DATE).join(
        topix_realised_var(ctx.base), on=ops.DATE, how="left", maintain_order="left"
    )
    joined = ctx.asof_join(rows, surface, source_name=SOURCE, columns=[*_DATE_COLUMNS, "SQD_near"])
    out = joined.with_columns(
        ((pl.col("opt_iv_30d") / 100.0).pow(2) - pl.col("_rv2")).alias("opt_vrp"),
        (pl.col("SQD_near") - pl.col(ops.DATE)).dt.total_days().alias("opt_near_days_to_sq"),
    )
    return ops.finalize(out, FEATURES)


BLOCK = Block(
    name="options",
    sources=(SOURCE, "indices_topix"),
    availability="next_trading_day",
    lookback=LOOKBACK,
    features=FEATURES,
    compute=compute,
    cross_sectional=True,
    optional_sources=(("indices_topix", ("opt_vrp",)),),
)

BLOCKS: tuple[Block, ...] = (BLOCK,)
