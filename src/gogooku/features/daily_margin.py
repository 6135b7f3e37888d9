"""Daily margin block (``daily_margin``): daily-published margin balances (``markets_margin_alert``).

Only stocks under daily publication / margin regulation have records. A record is the balance
(shares) on the application date ``AppDate``, published on ``PubDate`` and usable from the next
trading day (rule ``next_trading_day`` on ``PubDate``). A later publication for the same
``AppDate`` is a revision. Point in time, the row sees the newest application date already
usable and, for it, the latest usable publication: before joining, a record is dropped when a
record with a later ``AppDate`` became usable on or before it (within the stock, sorted by
``available_from`` then ``AppDate``, a record is kept iff its ``AppDate`` equals the running
maximum), and ties on one availability date keep the latest (``AppDate``, ``PubDate``).

With L = ``LongOut``, S = ``ShrtOut`` (shares), ΔL = ``LongOutChg``, ΔS = ``ShrtOutChg``
(published changes from the previous application date)::

    dmi_long_ratio = LongOutRatio (% of listed shares),  dmi_short_ratio = ShrtOutRatio
    dmi_sl_ratio = SLRatio (S / L in %),  dmi_imbalance = (L − S) / (L + S)
    dmi_long_chg_pct = ΔL / (L − ΔL),  dmi_short_chg_pct = ΔS / (S − ΔS)
    *_to_adv20 = shares / ADV20   (ADV20: mean raw Vo over the last 20 traded rows, see margin)
    z60(x) = (x_t − mean_60(x)) / std_60(x) over the stock's last 60 panel rows of the attached
             value (the daily-filled series; null until 60 rows carry a value)

Staleness: trading days from ``available_from`` and from ``AppDate`` to the row.
"""

from __future__ import annotations

import polars as pl

from gogooku.features import ops
from gogooku.features.availability import AVAILABLE_FROM, with_available_from
from gogooku.features.base import Block, BlockContext, Feature
from gogooku.features.margin import adv20_shares, trading_days_between

SOURCE = "markets_margin_alert"
Z_ROWS = 60

REASONS = {
    "Restricted": "dmi_reason_restricted",
    "DailyPublication": "dmi_reason_daily_publication",
    "Monitoring": "dmi_reason_monitoring",
    "RestrictedByJSF": "dmi_reason_restricted_by_jsf",
    "PrecautionByJSF": "dmi_reason_precaution_by_jsf",
    "UnclearOrSecOnAlert": "dmi_reason_unclear_or_alert",
}

FEATURES: tuple[Feature, ...] = (
    Feature("dmi_long_ratio", "Margin buying balance, % of listed shares", "LongOutRatio", None),
    Feature("dmi_short_ratio", "Margin selling balance, % of listed shares", "ShrtOutRatio", None),
    Feature("dmi_sl_ratio", "Short over long balance (%)", "SLRatio", None),
    Feature("dmi_imbalance", "Daily margin imbalance", "(L - S) / (L + S)", None),
    Feature(
        "dmi_long_chg_pct",
        "Relative change of the long balance since the previous application date",
        "LongOutChg / (L - LongOutChg)",
        None,
    ),
    Feature(
        "dmi_short_chg_pct",
        "Relative change of the short balance since the previous application date",
        "ShrtOutChg / (S - ShrtOutChg)",
        None,
    ),
    Feature("dmi_long_to_adv20", "Long balance in days of volume", "L / ADV20", 20),
    Feature("dmi_short_to_adv20", "Short balance in days of volume", "S / ADV20", 20),
    Feature(
        "dmi_d_net_to_adv20",
        "Change of the net balance in days of volume",
        "(LongOutChg - ShrtOutChg) / ADV20",
        20,
    ),
    Feature(
        "dmi_long_ratio_z60",
        "60-day z-score of the long ratio (daily-filled)",
        "z60(dmi_long_ratio)",
        Z_ROWS,
    ),
    Feature(
        "dmi_short_ratio_z60",
        "60-day z-score of the short ratio (daily-filled)",
        "z60(dmi_short_ratio)",
        Z_ROWS,
    ),
    *(
        Feature(name, f"Publication reason {field}", f"PubReason.{field}", None, "Boolean")
        for field, name in REASONS.items()
    ),
    Feature(
        "dmi_reason_count",
        "Number of publication reasons set",
        "sum of the PubReason flags",
        None,
        "Int8",
    ),
    Feature(
        "dmi_tse_reg_class",
        "TSE margin regulation class code as a number",
        "int(TSEMrgnRegCls)",
        None,
        "Int16",
    ),
    Feature(
        "dmi_days_since_pub",
        "Trading days since the latest record became usable",
        "trading days from available_from to Date",
        None,
        "Int32",
    ),
    Feature(
        "dmi_days_since_app",
        "Trading days since the latest record's application date",
        "trading days from on_or_after(AppDate) to Date",
        None,
        "Int32",
    ),
)

LOOKBACK = ops.lookback(FEATURES)


def point_in_time_records(ctx: BlockContext) -> pl.LazyFrame:
    """The alert records with ``available_from``, superseded publications removed (docstring)."""
    raw = ops.own_codes(ctx.store.scan(SOURCE), ctx.base)
    reasons = [
        pl.col("PubReason").struct.field(field).alias(name) for field, name in REASONS.items()
    ]
    records = with_available_from(raw, SOURCE, ctx.calendar).with_columns(*reasons)
    return (
        records.sort(ops.CODE, AVAILABLE_FROM, "AppDate", "PubDate")
        .filter(pl.col("AppDate") == pl.col("AppDate").cum_max().over(ops.CODE))
        .with_columns(
            pl.sum_horizontal(pl.col(name).cast(pl.Int8) for name in REASONS.values())
            .cast(pl.Int8)
            .alias("dmi_reason_count"),
            pl.col("TSEMrgnRegCls").cast(pl.Int16, strict=False).alias("dmi_tse_reg_class"),
            ctx.calendar.on_or_after_expr(pl.col("AppDate")).alias("_app_day"),
        )
    )


def compute(ctx: BlockContext) -> pl.LazyFrame:
    """Latest usable daily margin record per row, ADV-scaled and standardised."""
    rows = ctx.base.select(ops.CODE, ops.DATE).join(
        adv20_shares(ctx.base), on=[ops.CODE, ops.DATE], how="left", maintain_order="left"
    )
    joined = ctx.asof_join(
        rows,
        point_in_time_records(ctx),
        source_name=SOURCE,
        by=ops.CODE,
        columns=[
            "LongOut",
            "ShrtOut",
            "LongOutChg",
            "ShrtOutChg",
            "LongOutRatio",
            "ShrtOutRatio",
            "SLRatio",
            "_app_day",
            *REASONS.values(),
            "dmi_reason_count",
            "dmi_tse_reg_class",
        ],
        order_by=("AppDate", "PubDate"),
        keep_availability=AVAILABLE_FROM,
    )
    long_, short = pl.col("LongOut"), pl.col("ShrtOut")
    d_long, d_short, adv = pl.col("LongOutChg"), pl.col("ShrtOutChg"), pl.col("_adv20")
    out = joined.with_columns(
        pl.col("LongOutRatio").alias("dmi_long_ratio"),
        pl.col("ShrtOutRatio").alias("dmi_short_ratio"),
        pl.col("SLRatio").alias("dmi_sl_ratio"),
        ops.ratio(long_ - short, long_ + short).alias("dmi_imbalance"),
        ops.ratio(d_long, long_ - d_long).alias("dmi_long_chg_pct"),
        ops.ratio(d_short, short - d_short).alias("dmi_short_chg_pct"),
        ops.ratio(long_, adv).alias("dmi_long_to_adv20"),
        ops.ratio(short, adv).alias("dmi_short_to_adv20"),
        ops.ratio(d_long - d_short, adv).alias("dmi_d_net_to_adv20"),
        trading_days_between(ctx.calendar, pl.col(AVAILABLE_FROM), pl.col(ops.DATE)).alias(
            "dmi_days_since_pub"
        ),
        trading_days_between(ctx.calendar, pl.col("_app_day"), pl.col(ops.DATE)).alias(
            "dmi_days_since_app"
        ),
    ).with_columns(
        *(
            ops.ratio(
                pl.col(x) - ops.rolling_mean(pl.col(x), Z_ROWS), ops.rolling_std(pl.col(x), Z_ROWS)
            ).alias(f"{x}_z60")
            for x in ("dmi_long_ratio", "dmi_short_ratio")
        )
    )
    return ops.finalize(out, FEATURES)


BLOCK = Block(
    name="daily_margin",
    sources=(SOURCE, "equities_bars_daily"),
    availability="next_trading_day",
    lookback=LOOKBACK,
    features=FEATURES,
    compute=compute,
)

BLOCKS: tuple[Block, ...] = (BLOCK,)
