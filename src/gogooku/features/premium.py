"""Premium-plan blocks: trading breakdown (``bd_*``) and TOPIX futures (``fut_*``).

Both sources are dated by trade date ``d`` and published in the evening or at night, so a record
is usable from the first trading day after ``d`` (``next_trading_day``). Features are computed on
the source's own record series (rolling windows over each stock's breakdown records, over each
futures contract's daily records) and then attached as of each row's date; a record older than
``MAX_AGE_DAYS`` calendar days is not attached (the value is null rather than stale).

Breakdown (per stock and day; values ``Va`` in JPY)::

    sell = LongSellVa + ShrtNoMrgnVa + MrgnSellNewVa + MrgnSellCloseVa
    buy  = LongBuyVa + MrgnBuyNewVa + MrgnBuyCloseVa

TOPIX futures (``ProdCat`` = ``TOPIXF``): the *front* contract of day d is the central contract
month (``CCMFlag``; the largest open interest if no row is flagged), the *next* one the contract
with the nearest ``SQD`` after the front's. ``TOPIX_d`` is the TOPIX close of d.

Morning-session features (``am_*``, from the Premium-only ``M*``/``A*`` fields of the daily bars)
are the block ``am`` of ``gogooku.features.session``; the builder skips it by column
(``Block.required_columns``) on stores whose bars hold no session values.
"""

from __future__ import annotations

import polars as pl

from gogooku.features import ops
from gogooku.features.availability import AVAILABLE_FROM, with_available_from
from gogooku.features.base import Block, BlockContext, Feature

BREAKDOWN = "markets_breakdown"
FUTURES = "futures"
MAX_AGE_DAYS = 7
Z_WINDOW = 60
MIN_STD = 1e-6

BD_FEATURES: tuple[Feature, ...] = (
    Feature(
        "bd_short_share",
        "Short selling (with and without margin) as a share of selling value",
        "(ShrtNoMrgnVa + MrgnSellNewVa) / sell",
        None,
    ),
    Feature(
        "bd_short_share_ma5",
        "5-record mean of the short-selling share",
        "mean_5(bd_short_share) over the stock's breakdown records",
        5,
    ),
    Feature(
        "bd_short_share_z60",
        "Short-selling share relative to its 60-record history",
        "(x - mean_60(x)) / std_60(x), x = bd_short_share; null if std_60 <= 1e-6",
        Z_WINDOW,
    ),
    Feature(
        "bd_margin_buy_new_share",
        "New margin buying as a share of buying value",
        "MrgnBuyNewVa / buy",
        None,
    ),
    Feature(
        "bd_margin_buy_new_z60",
        "New-margin-buying share relative to its 60-record history",
        "(x - mean_60(x)) / std_60(x), x = bd_margin_buy_new_share; null if std_60 <= 1e-6",
        Z_WINDOW,
    ),
    Feature(
        "bd_credit_new_net",
        "New margin buying minus new margin selling over total value",
        "(MrgnBuyNewVa - MrgnSellNewVa) / (buy + sell)",
        None,
    ),
    Feature(
        "bd_margin_close_share",
        "Margin positions being closed (both sides) over total value",
        "(MrgnBuyCloseVa + MrgnSellCloseVa) / (buy + sell)",
        None,
    ),
    Feature(
        "bd_long_net",
        "Cash (long) buying minus cash selling over total value",
        "(LongBuyVa - LongSellVa) / (buy + sell)",
        None,
    ),
)

FUT_FEATURES: tuple[Feature, ...] = (
    Feature(
        "fut_basis", "Front TOPIX future over spot TOPIX", "Settle_front,d / TOPIX_d - 1", None
    ),
    Feature(
        "fut_carry_ann",
        "Annualised basis of the front contract",
        "fut_basis * 365 / (SQD_front - d in days)",
        None,
    ),
    Feature(
        "fut_term_slope",
        "Next over front contract settlement",
        "Settle_next,d / Settle_front,d - 1",
        None,
    ),
    Feature(
        "fut_night_ret",
        "Night-session move of the front contract",
        "EC_front,d / EO_front,d - 1",
        None,
    ),
    Feature(
        "fut_ret_1d",
        "Daily settlement return of the front contract",
        "Settle_d / Settle_{d-1} - 1, same contract",
        2,
    ),
    Feature(
        "fut_oi_chg_1d",
        "Daily change of the front contract's open interest",
        "OI_d / OI_{d-1} - 1, same contract",
        2,
    ),
    Feature(
        "fut_days_to_sq",
        "Calendar days from t to the front contract's special quotation day",
        "SQD_front - t",
        None,
        "Int32",
    ),
)


def _zscore(x: pl.Expr, w: int) -> pl.Expr:
    """``(x − mean_w) / std_w`` over the stock's records; null where ``std_w ≤ MIN_STD`` (a
    flat window, whose rolling std is round-off)."""
    mean = x.rolling_mean(w, min_samples=w).over("Code")
    std = x.rolling_std(w, min_samples=w).over("Code")
    return pl.when(std > MIN_STD).then((x - mean) / std)


def breakdown_compute(ctx: BlockContext) -> pl.LazyFrame:
    """Order-type shares per breakdown record, attached to the rows as of each date."""
    c = pl.col
    rows = ctx.base.select("Code", "Date")
    last_day = rows.select(c("Date").max()).collect().item()
    sell = c("LongSellVa") + c("ShrtNoMrgnVa") + c("MrgnSellNewVa") + c("MrgnSellCloseVa")
    buy = c("LongBuyVa") + c("MrgnBuyNewVa") + c("MrgnBuyCloseVa")
    total = sell + buy
    usable = with_available_from(
        ops.own_codes(ctx.store.scan(BREAKDOWN), rows), BREAKDOWN, ctx.calendar
    ).filter(c(AVAILABLE_FROM) <= last_day)
    records = (
        ops.last_per_day_sorted(usable)
        .with_columns(
            ops.ratio(c("ShrtNoMrgnVa") + c("MrgnSellNewVa"), sell).alias("bd_short_share"),
            ops.ratio(c("MrgnBuyNewVa"), buy).alias("bd_margin_buy_new_share"),
            ops.ratio(c("MrgnBuyNewVa") - c("MrgnSellNewVa"), total).alias("bd_credit_new_net"),
            ops.ratio(c("MrgnBuyCloseVa") + c("MrgnSellCloseVa"), total).alias(
                "bd_margin_close_share"
            ),
            ops.ratio(c("LongBuyVa") - c("LongSellVa"), total).alias("bd_long_net"),
        )
        .with_columns(
            c("bd_short_share")
            .rolling_mean(5, min_samples=5)
            .over("Code")
            .alias("bd_short_share_ma5"),
            _zscore(c("bd_short_share"), Z_WINDOW).alias("bd_short_share_z60"),
            _zscore(c("bd_margin_buy_new_share"), Z_WINDOW).alias("bd_margin_buy_new_z60"),
        )
        .select("Code", AVAILABLE_FROM, *(f.name for f in BD_FEATURES))
    )
    joined = ctx.asof_join(
        rows, records, source_name=BREAKDOWN, by="Code", max_age_days=MAX_AGE_DAYS
    )
    return ops.finalize(joined, BD_FEATURES)


def _futures_state(ctx: BlockContext, last_day) -> pl.LazyFrame:
    c = pl.col
    contracts = (
        ctx.store.scan(FUTURES)
        .filter(c("ProdCat") == "TOPIXF")
        .unique(subset=["Code", "Date"], keep="last")
        .sort("Code", "Date")
        .with_columns(
            (c("Settle") / c("Settle").shift(1).over("Code") - 1.0).alias("ret_1d"),
            (c("OI") / c("OI").shift(1).over("Code") - 1.0).alias("oi_chg"),
        )
    )
    front = (
        contracts.sort(
            "Date", "CCMFlag", "OI", "SQD", descending=[False, True, True, False], nulls_last=True
        )
        .unique(subset=["Date"], keep="first", maintain_order=True)
        .select(
            "Date",
            c("Settle").alias("front_settle"),
            c("SQD").alias("front_sqd"),
            (c("EC") / c("EO") - 1.0).alias("fut_night_ret"),
            c("ret_1d").alias("fut_ret_1d"),
            c("oi_chg").alias("fut_oi_chg_1d"),
        )
    )
    nxt = (
        contracts.join(front.select("Date", "front_sqd"), on="Date")
        .filter(c("SQD") > c("front_sqd"))
        .sort("Date", "SQD")
        .unique(subset=["Date"], keep="first", maintain_order=True)
        .select("Date", c("Settle").alias("next_settle"))
    )
    topix = ctx.store.scan("indices_topix").select("Date", c("C").alias("topix_close"))
    state = (
        front.join(nxt, on="Date", how="left")
        .join(topix, on="Date", how="left")
        .with_columns((c("front_settle") / c("topix_close") - 1.0).alias("fut_basis"))
        .with_columns(
            ops.ratio(c("fut_basis") * 365.0, (c("front_sqd") - c("Date")).dt.total_days()).alias(
                "fut_carry_ann"
            ),
            (c("next_settle") / c("front_settle") - 1.0).alias("fut_term_slope"),
        )
    )
    return (
        with_available_from(state, FUTURES, ctx.calendar)
        .filter(c(AVAILABLE_FROM) <= last_day)
        .select(
            AVAILABLE_FROM,
            "front_sqd",
            *(f.name for f in FUT_FEATURES if f.name != "fut_days_to_sq"),
        )
    )


def futures_compute(ctx: BlockContext) -> pl.LazyFrame:
    """Front/next TOPIX futures state of the latest usable trade date, the same for every stock."""
    c = pl.col
    rows = ctx.base.select("Code", "Date")
    dates = rows.select("Date").unique().sort("Date")
    last_day = dates.select(c("Date").max()).collect().item()
    per_date = ctx.asof_join(
        dates, _futures_state(ctx, last_day), source_name=FUTURES, max_age_days=MAX_AGE_DAYS
    ).with_columns((c("front_sqd") - c("Date")).dt.total_days().alias("fut_days_to_sq"))
    joined = rows.join(per_date, on="Date", how="left", maintain_order="left")
    return ops.in_memory(ops.finalize(joined, FUT_FEATURES))


BREAKDOWN_BLOCK = Block(
    name="breakdown",
    sources=(BREAKDOWN,),
    availability="next_trading_day",
    lookback=0,
    features=BD_FEATURES,
    compute=breakdown_compute,
)

FUTURES_BLOCK = Block(
    name="futures",
    sources=(FUTURES, "indices_topix"),
    availability="next_trading_day",
    lookback=0,
    features=FUT_FEATURES,
    compute=futures_compute,
)

BLOCKS: tuple[Block, ...] = (BREAKDOWN_BLOCK, FUTURES_BLOCK)
