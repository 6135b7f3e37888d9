"""Margin block (``margin``): outstanding margin positions from ``markets_margin_interest``.

Each record is a stock's margin balance (shares) on its application date ``Date``:
L = ``LongVol`` (margin buying), S = ``ShrtVol`` (margin selling), with their standardized
(制度信用, ``*StdVol``) and negotiable (一般信用, ``*NegVol``) parts. The endpoint has two regimes
and the availability rule ``margin_interest`` decides per record:

* weekly records (``Date`` before 2026-09-25, no ``PubDate``): ``Date`` is the week's last
  business day, published the 2nd trading day of the following week and usable the trading day
  after (Friday → published Tuesday → usable Wednesday);
* daily records (from ``Date`` 2026-09-25, ``PubDate`` set): the previous business day's balance,
  usable from the first trading day after ``PubDate`` (the spec gives no publication time).

Features keep one meaning across the switch. Levels (balances, ratios, shares, loan flag, ADV
scaling, staleness) come from the latest usable record, weekly or daily. Week-over-week changes,
``mom4`` and the 52-week z-scores run over the *weekly-sampled* records: every weekly record, and
the daily records dated on the last trading day of their calendar week (usually Friday) — so a
"week" is still a week after 2026-09-28, and the daily record of 2026-09-25 (a Friday) follows
the weekly record of 2026-09-18. Each record carries the statistics of the latest
weekly-sampled record dated on or before it, and one ``asof_join`` on ``available_from``
attaches the latest record already usable::

    net = L − S,  gross = L + S,  credit ratio = L / S,  imbalance = (L − S) / (L + S)
    std share = StdVol / Vol,  negotiable share = NegVol / Vol   (per side)
    wow change of x = x_k − x_(k−1)   (k the weekly-sampled record, k−1 the stock's previous one)
    z52(x) = (x_k − mean_52(x)) / std_52(x)   over the stock's last 52 weekly-sampled records

ADV scaling divides shares by ADV20 = the mean of the stock's raw ``Vo`` (shares, unadjusted like
the margin balances) over its last 20 traded rows up to the row date, i.e. days of volume; it is
null on no-trade rows. Staleness ``margin_days_since`` counts trading days from the latest
record's ``available_from`` to the row (0 on the first day it is usable).
"""

from __future__ import annotations

import polars as pl

from gogooku.features import ops
from gogooku.features.availability import AVAILABLE_FROM, with_available_from
from gogooku.features.base import Block, BlockContext, Feature

SOURCE = "markets_margin_interest"
Z_RECORDS = 52
ADV_WINDOW = 20
MOM_RECORDS = 4

FEATURES: tuple[Feature, ...] = (
    Feature("margin_long_to_adv20", "Margin buying balance in days of volume", "L / ADV20", 20),
    Feature("margin_short_to_adv20", "Margin selling balance in days of volume", "S / ADV20", 20),
    Feature("margin_net_to_adv20", "Net margin balance in days of volume", "(L - S) / ADV20", 20),
    Feature(
        "margin_gross_to_adv20", "Gross margin balance in days of volume", "(L + S) / ADV20", 20
    ),
    Feature("margin_credit_ratio", "Credit ratio (long over short balance)", "L / S", None),
    Feature("margin_imbalance", "Margin imbalance", "(L - S) / (L + S)", None),
    Feature(
        "margin_std_share_long", "Standardized share of the long balance", "LongStdVol / L", None
    ),
    Feature(
        "margin_std_share_short", "Standardized share of the short balance", "ShrtStdVol / S", None
    ),
    Feature(
        "margin_neg_share_long", "Negotiable share of the long balance", "LongNegVol / L", None
    ),
    Feature(
        "margin_neg_share_short", "Negotiable share of the short balance", "ShrtNegVol / S", None
    ),
    Feature(
        "margin_long_pct_wow",
        "Week-over-week relative change of the long balance",
        "L_k / L_(k-1) - 1",
        None,
    ),
    Feature(
        "margin_short_pct_wow",
        "Week-over-week relative change of the short balance",
        "S_k / S_(k-1) - 1",
        None,
    ),
    Feature(
        "margin_d_long_wow_to_adv20",
        "Week-over-week change of the long balance in days of volume",
        "(L_k - L_(k-1)) / ADV20",
        20,
    ),
    Feature(
        "margin_d_short_wow_to_adv20",
        "Week-over-week change of the short balance in days of volume",
        "(S_k - S_(k-1)) / ADV20",
        20,
    ),
    Feature(
        "margin_d_net_wow_to_adv20",
        "Week-over-week change of the net balance in days of volume",
        "((L - S)_k - (L - S)_(k-1)) / ADV20",
        20,
    ),
    Feature(
        "margin_d_imbalance_wow",
        "Week-over-week change of the imbalance",
        "imbalance_k - imbalance_(k-1)",
        None,
    ),
    Feature(
        "margin_gross_mom4",
        "Gross balance relative to its mean over the last 4 records",
        "gross_k / mean_4(gross) - 1",
        None,
    ),
    Feature("margin_long_z52", "52-week z-score of the long balance", "z52(L) over records", None),
    Feature(
        "margin_short_z52", "52-week z-score of the short balance", "z52(S) over records", None
    ),
    Feature(
        "margin_gross_z52",
        "52-week z-score of the gross balance",
        "z52(L + S) over records",
        None,
    ),
    Feature(
        "margin_imbalance_z52",
        "52-week z-score of the imbalance",
        "z52(imbalance) over records",
        None,
    ),
    Feature(
        "margin_loan_issue",
        "Loan issue (貸借銘柄: standardized shorts possible) per the latest record",
        "IssType == '2'",
        None,
        "Boolean",
    ),
    Feature(
        "margin_days_since",
        "Trading days since the latest record became usable",
        "trading days from available_from to Date",
        None,
        "Int32",
    ),
)

LOOKBACK = ops.lookback(FEATURES)


def trading_days_between(calendar, start: pl.Expr, end: pl.Expr) -> pl.Expr:
    """Trading days from ``start`` to ``end`` (both trading days): index(end) − index(start)."""
    days = pl.lit(calendar.frame()["Date"])
    gap = days.search_sorted(end, side="left").cast(pl.Int32) - days.search_sorted(
        start, side="left"
    ).cast(pl.Int32)
    return pl.when(start.is_not_null() & end.is_not_null()).then(gap)


def adv20_shares(base: pl.LazyFrame) -> pl.LazyFrame:
    """``Code, Date, _adv20``: mean raw ``Vo`` over the stock's last 20 traded rows (traded rows)."""
    return ops.traded_rows(base).select(
        ops.CODE, ops.DATE, ops.rolling_mean(pl.col("Vo"), ADV_WINDOW).alias("_adv20")
    )


def record_z(expr: pl.Expr, n: int, key: str = ops.CODE) -> pl.Expr:
    """``(x − mean_n(x)) / std_n(x)`` over the key's last ``n`` records (null until n are present)."""
    mean = expr.rolling_mean(n, min_samples=n).over(key)
    std = expr.rolling_std(n, min_samples=n).over(key)
    return ops.ratio(expr - mean, std)


def _records(ctx: BlockContext) -> pl.LazyFrame:
    """The stock's margin records, one per (Code, Date), sorted, with ``available_from``."""
    records = (
        ops.own_codes(ctx.store.scan(SOURCE), ctx.base)
        .unique(subset=[ops.CODE, ops.DATE], keep="last", maintain_order=True)
        .sort(ops.CODE, ops.DATE)
    )
    return with_available_from(records, SOURCE, ctx.calendar)


def level_records(records: pl.LazyFrame) -> pl.LazyFrame:
    """Every record (weekly, then daily) with its level statistics."""
    long_, short = pl.col("LongVol"), pl.col("ShrtVol")
    return records.with_columns(
        ops.ratio(long_, short).alias("margin_credit_ratio"),
        ops.ratio(long_ - short, long_ + short).alias("margin_imbalance"),
        ops.ratio(pl.col("LongStdVol"), long_).alias("margin_std_share_long"),
        ops.ratio(pl.col("ShrtStdVol"), short).alias("margin_std_share_short"),
        ops.ratio(pl.col("LongNegVol"), long_).alias("margin_neg_share_long"),
        ops.ratio(pl.col("ShrtNegVol"), short).alias("margin_neg_share_short"),
        (pl.col("IssType") == "2").alias("margin_loan_issue"),
    )


def weekly_sampled(records: pl.LazyFrame, calendar) -> pl.LazyFrame:
    """Weekly records, and daily records dated on the last trading day of their week."""
    day = pl.col(ops.DATE)
    week_end = calendar.next_bd_expr(day).dt.truncate("1w") != day.dt.truncate("1w")
    return records.filter(pl.col("PubDate").is_null() | week_end.fill_null(False))


def weekly_records(records: pl.LazyFrame) -> pl.LazyFrame:
    """Week-over-week statistics over the stock's weekly-sampled records."""
    long_, short = pl.col("LongVol"), pl.col("ShrtVol")
    prev = {c: pl.col(c).shift(1).over(ops.CODE) for c in ("LongVol", "ShrtVol", "_imb")}
    return records.with_columns(
        ops.ratio(long_ - short, long_ + short).alias("_imb"), (long_ + short).alias("_gross")
    ).with_columns(
        (long_ - prev["LongVol"]).alias("_dl"),
        (short - prev["ShrtVol"]).alias("_ds"),
        (ops.ratio(long_, prev["LongVol"]) - 1.0).alias("margin_long_pct_wow"),
        (ops.ratio(short, prev["ShrtVol"]) - 1.0).alias("margin_short_pct_wow"),
        (pl.col("_imb") - prev["_imb"]).alias("margin_d_imbalance_wow"),
        (
            ops.ratio(
                pl.col("_gross"),
                pl.col("_gross").rolling_mean(MOM_RECORDS, min_samples=MOM_RECORDS).over("Code"),
            )
            - 1.0
        ).alias("margin_gross_mom4"),
        record_z(long_, Z_RECORDS).alias("margin_long_z52"),
        record_z(short, Z_RECORDS).alias("margin_short_z52"),
        record_z(pl.col("_gross"), Z_RECORDS).alias("margin_gross_z52"),
        record_z(pl.col("_imb"), Z_RECORDS).alias("margin_imbalance_z52"),
    )


_LEVEL_COLUMNS = (
    "margin_credit_ratio",
    "margin_imbalance",
    "margin_std_share_long",
    "margin_std_share_short",
    "margin_neg_share_long",
    "margin_neg_share_short",
    "margin_loan_issue",
)
_WEEKLY_COLUMNS = (
    "margin_long_pct_wow",
    "margin_short_pct_wow",
    "margin_d_imbalance_wow",
    "margin_gross_mom4",
    "margin_long_z52",
    "margin_short_z52",
    "margin_gross_z52",
    "margin_imbalance_z52",
)
_WEEKLY_STATS = ("_dl", "_ds", *_WEEKLY_COLUMNS)


def with_weekly_statistics(records: pl.LazyFrame, calendar) -> pl.LazyFrame:
    """Every record (with its levels) carrying the statistics of the stock's latest
    weekly-sampled record dated on or before it; null where that record became usable after
    this one (never the case while availability rises with ``Date``), so one as-of join on the
    record's ``available_from`` attaches both without look-ahead."""
    weekly = (
        weekly_records(weekly_sampled(records, calendar))
        .select(
            ops.CODE,
            pl.col(ops.DATE).alias("_wk_date"),
            pl.col(AVAILABLE_FROM).alias("_wk_from"),
            *_WEEKLY_STATS,
        )
        .sort("_wk_date")
    )
    carried = (
        level_records(records)
        .sort(ops.DATE)
        .join_asof(
            weekly, left_on=ops.DATE, right_on="_wk_date", by=ops.CODE, check_sortedness=False
        )
        .sort(ops.CODE, ops.DATE)
    )
    usable = pl.col("_wk_from") <= pl.col(AVAILABLE_FROM)
    return carried.with_columns(pl.when(usable).then(pl.col(c)).alias(c) for c in _WEEKLY_STATS)


def compute(ctx: BlockContext) -> pl.LazyFrame:
    """Latest usable margin record per row: its levels, the weekly statistics it carries and
    ADV-scaled balances."""
    rows = ctx.base.select(ops.CODE, ops.DATE).join(
        adv20_shares(ctx.base), on=[ops.CODE, ops.DATE], how="left", maintain_order="left"
    )
    joined = ctx.asof_join(
        rows,
        with_weekly_statistics(_records(ctx), ctx.calendar),
        source_name=SOURCE,
        by=ops.CODE,
        columns=["LongVol", "ShrtVol", *_LEVEL_COLUMNS, *_WEEKLY_STATS],
        order_by=(ops.DATE,),
        keep_availability=AVAILABLE_FROM,
    )
    adv = pl.col("_adv20")
    long_, short = pl.col("LongVol"), pl.col("ShrtVol")
    out = joined.with_columns(
        ops.ratio(long_, adv).alias("margin_long_to_adv20"),
        ops.ratio(short, adv).alias("margin_short_to_adv20"),
        ops.ratio(long_ - short, adv).alias("margin_net_to_adv20"),
        ops.ratio(long_ + short, adv).alias("margin_gross_to_adv20"),
        ops.ratio(pl.col("_dl"), adv).alias("margin_d_long_wow_to_adv20"),
        ops.ratio(pl.col("_ds"), adv).alias("margin_d_short_wow_to_adv20"),
        ops.ratio(pl.col("_dl") - pl.col("_ds"), adv).alias("margin_d_net_wow_to_adv20"),
        trading_days_between(ctx.calendar, pl.col(AVAILABLE_FROM), pl.col(ops.DATE)).alias(
            "margin_days_since"
        ),
    )
    return ops.finalize(out, FEATURES)


BLOCK = Block(
    name="margin",
    sources=(SOURCE, "equities_bars_daily"),
    availability="margin_interest",
    lookback=LOOKBACK,
    features=FEATURES,
    compute=compute,
)

BLOCKS: tuple[Block, ...] = (BLOCK,)
