"""Dividend block (``div_*``) from ``fins_dividend`` (dividend notices, Premium).

A notice is usable from ``available_from`` = the first trading day after ``PubDate``
(``next_trading_day``). Notices of one dividend — same (Code, ``IFTerm``, ``IFCode``): forecast,
result, revisions — are versions: each is in force from its availability until the next version
of the same dividend becomes available; a deleted version (``StatCode`` 3) says nothing.

Every version ``v`` (rate ``D_v`` = ``DivRate``, ex-date ``X_v``, in force on
``[a_v, a_{v+1})``) contributes, on a date ``d`` on which it is in force:

- to the trailing-12-month dividend if ``X_v ≤ d < X_v + 365 days``, the rate in adjusted-share
  units ``D_v / F(X_v)`` (``F(x) = ∏ AdjFactor`` over the stock's stored bars dated ≤ x, the
  factor of the base frame, so a later split does not inflate the sum);
- to the next known ex-date if ``X_v ≥ d`` (an ex-date announced after it passed never counts);
- to the last ex-date if ``X_v ≤ d``.

These states change only at the interval ends, so they are computed on those *change points*
(see :func:`interval_state`) and attached to the panel rows as of each row's date.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from gogooku.features import ops
from gogooku.features.availability import AVAILABLE_FROM, with_available_from
from gogooku.features.base import Block, BlockContext, Feature
from gogooku.features.statements import split_factor_at

SOURCE = "fins_dividend"
TTM_DAYS = 365
ORDER = ("PubDate", "PubTime", "RefNo")

FEATURES: tuple[Feature, ...] = (
    Feature(
        "div_yield_ttm",
        "Trailing-12-month dividends per share over the close",
        "sum(D_v / F(X_v) : X_v in (t-365d, t], known by t) / AdjC_t",
        None,
    ),
    Feature(
        "div_days_to_ex",
        "Calendar days to the next ex-dividend date announced by t (0 on the ex-date)",
        "min(X_v : X_v >= t, known by t) - t",
        None,
        "Int32",
    ),
    Feature(
        "div_days_since_ex",
        "Calendar days since the last ex-dividend date known by t",
        "t - max(X_v : X_v <= t, known by t)",
        None,
        "Int32",
    ),
    Feature(
        "div_days_since_notice",
        "Calendar days since the latest dividend notice became available",
        "t - max(available_from : available_from <= t)",
        None,
        "Int32",
    ),
)


def interval_state(intervals: pl.LazyFrame, aggs: list[pl.Expr]) -> pl.LazyFrame:
    """Aggregates of the intervals in force at each change point, per ``Code``.

    ``intervals``: ``Code``, ``start`` (Date), ``end`` (Date, exclusive; null = open-ended) and
    value columns. Returns ``Code``, ``available_from`` (every distinct start or end) and
    ``aggs`` over the intervals with ``start ≤ available_from < end`` (null when none is in
    force). A state at ``d`` uses only intervals starting on or before ``d``, and ``start`` is
    never before the interval's record became available, so the as-of join of this state on
    ``available_from`` is point-in-time.

    Bounded intervals are matched to the points of the calendar months they span (so the work
    grows with the number of points, not points × intervals); open-ended ones to every point of
    the stock.
    """
    c = pl.col
    points = (
        pl.concat(
            [
                intervals.select("Code", c("start").alias(AVAILABLE_FROM)),
                intervals.select("Code", c("end").alias(AVAILABLE_FROM)),
            ]
        )
        .drop_nulls()
        .unique()
        .with_columns(c(AVAILABLE_FROM).dt.truncate("1mo").alias("_month"))
    )
    value_cols = [n for n in intervals.collect_schema().names() if n != "Code"]
    bounded = intervals.filter(c("end").is_not_null()).with_columns(
        pl.date_ranges(
            c("start").dt.truncate("1mo"),
            (c("end") - timedelta(days=1)).dt.truncate("1mo"),
            "1mo",
        ).alias("_month")
    )
    candidates = pl.concat(
        [
            points.join(bounded.explode("_month"), on=["Code", "_month"], how="inner"),
            points.join(intervals.filter(c("end").is_null()), on="Code", how="inner"),
        ],
        how="diagonal",
    )
    active = (
        candidates.filter(
            (c("start") <= c(AVAILABLE_FROM))
            & (c("end").is_null() | (c(AVAILABLE_FROM) < c("end")))
        )
        .sort("Code", AVAILABLE_FROM, *value_cols)
        .group_by("Code", AVAILABLE_FROM, maintain_order=True)
        .agg(aggs)
    )
    return points.drop("_month").join(active, on=["Code", AVAILABLE_FROM], how="left")


def _versions(ctx: BlockContext, last_day) -> pl.LazyFrame:
    c = pl.col
    notices = (
        with_available_from(ops.own_codes(ctx.store.scan(SOURCE), ctx.base), SOURCE, ctx.calendar)
        .filter(c(AVAILABLE_FROM) <= last_day)
        .sort("Code", "IFTerm", "IFCode", AVAILABLE_FROM, *ORDER)
        .unique(
            subset=["Code", "IFTerm", "IFCode", AVAILABLE_FROM], keep="last", maintain_order=True
        )
        .with_columns(c(AVAILABLE_FROM).shift(-1).over("Code", "IFTerm", "IFCode").alias("until"))
    )
    return split_factor_at(ctx, notices, "ExDate")


def compute(ctx: BlockContext) -> pl.LazyFrame:
    """Dividend yield, ex-date distances and notice staleness as of each row."""
    c = pl.col
    rows = ctx.base.select("Code", "Date", "AdjC")
    last_day = rows.select(c("Date").max()).collect().item()
    all_versions = _versions(ctx, last_day)
    versions = all_versions.filter(
        (c("StatCode") != "3").fill_null(True) & c("ExDate").is_not_null()
    )
    avail, ex, until = c(AVAILABLE_FROM), c("ExDate"), c("until")
    ttm = versions.select(
        "Code",
        pl.max_horizontal(avail, ex).alias("start"),
        pl.min_horizontal(until, ex + timedelta(days=TTM_DAYS)).alias("end"),
        (c("DivRate") / c("split_F")).alias("dps_adj"),
        pl.lit(None, pl.Date).alias("next_ex"),
        pl.lit(None, pl.Date).alias("last_ex"),
    )
    upcoming = versions.select(
        "Code",
        avail.alias("start"),
        pl.min_horizontal(until, ex + timedelta(days=1)).alias("end"),
        pl.lit(None, pl.Float64).alias("dps_adj"),
        ex.alias("next_ex"),
        pl.lit(None, pl.Date).alias("last_ex"),
    )
    past = versions.select(
        "Code",
        pl.max_horizontal(avail, ex).alias("start"),
        until.alias("end"),
        pl.lit(None, pl.Float64).alias("dps_adj"),
        pl.lit(None, pl.Date).alias("next_ex"),
        ex.alias("last_ex"),
    )
    intervals = pl.concat([ttm, upcoming, past]).filter(
        c("end").is_null() | (c("start") < c("end"))
    )
    state = interval_state(
        intervals,
        [
            c("dps_adj").sum().alias("dps_ttm"),
            c("next_ex").min().alias("next_ex"),
            c("last_ex").max().alias("last_ex"),
        ],
    )
    notices = (
        all_versions.select("Code", AVAILABLE_FROM)
        .unique()
        .with_columns(c(AVAILABLE_FROM).alias("notice_at"))
    )
    joined = ctx.asof_join(rows, state, source_name=SOURCE, by="Code")
    joined = ctx.asof_join(joined, notices, source_name=SOURCE, by="Code")
    out = joined.with_columns(
        ops.ratio(c("dps_ttm").fill_null(0.0), c("AdjC")).alias("div_yield_ttm"),
        (c("next_ex") - c("Date")).dt.total_days().alias("div_days_to_ex"),
        (c("Date") - c("last_ex")).dt.total_days().alias("div_days_since_ex"),
        (c("Date") - c("notice_at")).dt.total_days().alias("div_days_since_notice"),
    ).with_columns(
        # Before the stock's first notice nothing is known: no yield, not a zero yield.
        pl.when(c("notice_at").is_not_null()).then(c("div_yield_ttm")).alias("div_yield_ttm")
    )
    return ops.finalize(out, FEATURES)


BLOCK = Block(
    name="dividends",
    sources=(SOURCE, "equities_bars_daily"),
    availability="next_trading_day",
    lookback=0,
    features=FEATURES,
    compute=compute,
)

BLOCKS: tuple[Block, ...] = (BLOCK,)
