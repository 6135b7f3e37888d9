"""Earnings-calendar block (``earn_*``): scheduled announcement dates and disclosure recency.

Sources and when they may be used:

- ``fins_earnings_date`` (schedules with change history): a row (``PubDate``, ``SchDate``) is
  usable from the first trading day after ``PubDate`` (``next_trading_day``). Rows of one
  (Code, ``FQName``) are versions of that quarter's schedule: a version is in force from its
  availability until the next version of the same quarter is available or its ``SchDate`` has
  passed; a version with a null ``SchDate`` ("to be decided") cancels the earlier date.
- ``equities_earnings_calendar`` (next-day schedule, announced ~19:00 the day before): a row
  dated ``Date`` is usable from the first trading day on or after ``Date``
  (``earnings_calendar``) and says "announcement on ``Date``" on that day only.
- ``fins_summary``: the latest disclosure of any kind (statement or forecast revision), usable
  by the ``statement_disclosure`` rule.

A schedule therefore never appears on a row before it was published: the next scheduled date of
row t is the earliest ``SchDate ≥ t`` among the versions in force on t (see
``gogooku.features.dividends.interval_state``).

``equities_earnings_calendar`` is optional: the endpoint serves only the latest announcement day,
so the store holds the dated snapshots of the days it was fetched on; without any, the block is
built from the schedules alone. ``earn_within_5d`` counts sessions on the trading calendar; when
the announcement falls after the calendar's last trading day and the known sessions do not
already exceed 5, it is null rather than a guess.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from gogooku.features import ops
from gogooku.features.availability import AVAILABLE_FROM, with_available_from
from gogooku.features.base import Block, BlockContext, Feature
from gogooku.features.dividends import interval_state

SCHEDULES = "fins_earnings_date"
NEXT_DAY = "equities_earnings_calendar"
STATEMENTS = "fins_summary"
SOON_SESSIONS = 5

FEATURES: tuple[Feature, ...] = (
    Feature(
        "earn_days_to_next",
        "Calendar days to the next scheduled earnings announcement known by t (0 on the day)",
        "min(SchDate : SchDate >= t, schedule in force on t) - t",
        None,
        "Int32",
    ),
    Feature(
        "earn_within_5d",
        "The next known announcement falls within the next 5 trading sessions (t included)",
        "sessions(t, next SchDate) <= 5, sessions = trading days d with t < d <= SchDate",
        None,
        "Boolean",
    ),
    Feature(
        "earn_days_since_disc",
        "Calendar days since the latest fins_summary disclosure of any type became usable",
        "t - max(available_from : fins_summary record, available_from <= t)",
        None,
        "Int32",
    ),
)


def _schedule_intervals(ctx: BlockContext, last_day) -> pl.LazyFrame:
    c = pl.col
    versions = (
        with_available_from(
            ops.own_codes(ctx.store.scan(SCHEDULES), ctx.base), SCHEDULES, ctx.calendar
        )
        .filter(c(AVAILABLE_FROM) <= last_day)
        .sort("Code", "FQName", AVAILABLE_FROM, "PubDate", "SchDate", nulls_last=True)
        .unique(subset=["Code", "FQName", AVAILABLE_FROM], keep="last", maintain_order=True)
        .with_columns(c(AVAILABLE_FROM).shift(-1).over("Code", "FQName").alias("until"))
        .filter(c("SchDate").is_not_null())
    )
    from_schedules = versions.select(
        "Code",
        c(AVAILABLE_FROM).alias("start"),
        pl.min_horizontal(c("until"), c("SchDate") + timedelta(days=1)).alias("end"),
        c("SchDate").alias("next_date"),
    )
    next_day = (
        with_available_from(
            ops.own_codes(ctx.store.scan(NEXT_DAY), ctx.base), NEXT_DAY, ctx.calendar
        )
        .filter(c(AVAILABLE_FROM) <= last_day)
        .select(
            "Code",
            c(AVAILABLE_FROM).alias("start"),
            (c("Date") + timedelta(days=1)).alias("end"),
            c("Date").alias("next_date"),
        )
    )
    return pl.concat([from_schedules, next_day]).filter(c("start") < c("end"))


def _sessions_between(ctx: BlockContext, first: pl.Expr, last: pl.Expr) -> pl.Expr:
    """Trading days d with ``first < d ≤ last`` (both within the loaded calendar)."""
    days = ctx.calendar.frame()["Date"]
    return pl.lit(days).search_sorted(last, side="right").cast(pl.Int64) - pl.lit(
        days
    ).search_sorted(first, side="right").cast(pl.Int64)


def compute(ctx: BlockContext) -> pl.LazyFrame:
    """Next scheduled announcement and days since the latest disclosure, as of each row."""
    c = pl.col
    rows = ctx.base.select("Code", "Date")
    last_day = rows.select(c("Date").max()).collect().item()
    state = interval_state(
        _schedule_intervals(ctx, last_day), [c("next_date").min().alias("next_date")]
    )
    disclosures = (
        with_available_from(
            ops.own_codes(ctx.store.scan(STATEMENTS), ctx.base), STATEMENTS, ctx.calendar
        )
        .filter(c(AVAILABLE_FROM) <= last_day)
        .select("Code", AVAILABLE_FROM)
        .unique()
        .with_columns(c(AVAILABLE_FROM).alias("disc_at"))
    )
    joined = ctx.asof_join(rows, state, source_name=SCHEDULES, by="Code")
    joined = ctx.asof_join(joined, disclosures, source_name=STATEMENTS, by="Code")
    days_to = (c("next_date") - c("Date")).dt.total_days()
    # Only near dates are counted in sessions; a near date past the calendar's last trading day
    # is decided only when the known sessions already exceed 5 (null otherwise, never a guess).
    near = days_to <= 2 * SOON_SESSIONS + 4
    known_end = pl.min_horizontal(c("next_date"), pl.lit(ctx.calendar.last))
    known_sessions = _sessions_between(ctx, c("Date"), known_end)
    out = joined.with_columns(
        days_to.alias("earn_days_to_next"),
        pl.when(c("next_date").is_null())
        .then(None)
        .when(~near | (known_sessions > SOON_SESSIONS))
        .then(False)
        .when(c("next_date") <= ctx.calendar.last)
        .then(True)
        .alias("earn_within_5d"),
        (c("Date") - c("disc_at")).dt.total_days().alias("earn_days_since_disc"),
    )
    return ops.finalize(out, FEATURES)


BLOCK = Block(
    name="earnings",
    sources=(SCHEDULES, NEXT_DAY, STATEMENTS),
    availability="next_trading_day",
    lookback=0,
    features=FEATURES,
    compute=compute,
    optional_sources=((NEXT_DAY, ()),),
)

BLOCKS: tuple[Block, ...] = (BLOCK,)
