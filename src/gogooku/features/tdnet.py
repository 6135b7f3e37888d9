"""TDnet block (``td_*``) from ``td_list``: disclosure counts, recency and timing flags.

A disclosure is usable by the ``statement_disclosure`` rule on ``DiscDate``/``DiscTime``, exactly
as a ``fins_summary`` statement: on ``DiscDate`` when that is a trading day and ``DiscTime`` is
strictly before its close (15:00 until 2024-11-04, 15:30 from 2024-11-05, 11:30 on half days),
otherwise from the next trading day. ``a(r)`` below is a record's first usable day, ``d(t)`` the
index of trading day ``t`` on the calendar, and ``t-N`` the trading day ``N`` sessions before t.

- ``td_cnt_<cat>_<N>d`` = #records of the stock in the category with ``t-N < a(r) <= t``: the
  disclosures that became usable in the last ``N`` sessions (``N`` = 5, 20); ``all`` counts every
  record, ``earn``/``div``/``buyback``/``mna`` those with an item code of the category
  (``gogooku.jquants.tdnet.CATEGORIES``); ``td_rev_up_20d``/``td_rev_down_20d`` count upward
  (``201``) / downward (``202``) forecast revisions, ``td_correction_20d`` corrections (``999``);
- ``td_days_since_last`` = ``t - a(r_last)`` in calendar days, ``r_last`` the latest usable record;
- ``td_after_hours`` = ``a(r_last) > DiscDate(r_last)``: the latest usable disclosure came at or
  after its day's close, or on a closed day (the rule's own test, so it matches availability);
- ``td_pre_open`` = a record with ``DiscDate = t`` and ``07:00 <= DiscTime < 09:00`` (usable on t).

Counts are cumulative sums per stock differenced at ``t`` and ``t-N`` (two as-of joins, no row
loop). Before the source's coverage (``t-N`` earlier than the store's first ``DiscDate``) the
counts and ``td_pre_open`` are null, not zero; a stock without any usable record has null
``td_days_since_last`` and ``td_after_hours``.
"""

from __future__ import annotations

from datetime import time

import polars as pl

from gogooku.features import ops
from gogooku.features.availability import AVAILABLE_FROM, parse_time, with_available_from
from gogooku.features.base import Block, BlockContext, Feature
from gogooku.jquants import tdnet as items

SOURCE = "td_list"
WINDOWS = (5, 20)
PRE_OPEN = (time(7, 0), time(9, 0))
COUNTED: dict[str, tuple[str, ...]] = {
    **items.CATEGORIES,
    "rev_up": (items.REVISION_UP,),
    "rev_down": (items.REVISION_DOWN,),
    "correction": (items.CORRECTION,),
}


def _count_name(cat: str, n: int) -> str:
    if cat in ("rev_up", "rev_down", "correction"):
        return f"td_{cat}_{n}d"
    return f"td_cnt_{cat}_{n}d"


SERIES: tuple[tuple[str, int], ...] = (
    *((cat, n) for cat in ("all", *items.CATEGORIES) for n in WINDOWS),
    ("rev_up", 20),
    ("rev_down", 20),
    ("correction", 20),
)

FEATURES: tuple[Feature, ...] = (
    *(
        Feature(
            _count_name(cat, n),
            f"TDnet disclosures ({cat}) that became usable in the last {n} sessions",
            f"#{{r in {cat}: t-{n} < available_from(r) <= t}}",
            n,
            "Int32",
        )
        for cat, n in SERIES
    ),
    Feature(
        "td_days_since_last",
        "Calendar days since the latest usable TDnet disclosure became usable",
        "t - available_from(r_last)",
        None,
        "Int32",
    ),
    Feature(
        "td_after_hours",
        "The latest usable disclosure came at/after its day's close or on a closed day",
        "available_from(r_last) > DiscDate(r_last)",
        None,
        "Boolean",
    ),
    Feature(
        "td_pre_open",
        "A disclosure on t between 07:00 and 09:00 (before the open, usable on t)",
        "exists r: DiscDate(r) = t and 07:00 <= DiscTime(r) < 09:00",
        None,
        "Boolean",
    ),
)


def _daily(ctx: BlockContext) -> pl.LazyFrame:
    """Per (Code, available_from): cumulative counts, the last record's after-hours flag and
    whether a pre-open disclosure of that very day is among the records."""
    c = pl.col
    codes = c("DiscItems").fill_null("").str.split("|")
    records = with_available_from(
        ops.own_codes(ctx.store.scan(SOURCE), ctx.base).select(
            "Code", "DiscDate", "DiscTime", "DiscItems"
        ),
        SOURCE,
        ctx.calendar,
    )
    clock = parse_time(c("DiscTime"))
    pre_open = (c("DiscDate") == c(AVAILABLE_FROM)) & clock.is_between(*PRE_OPEN, closed="left")
    cum = [c(f"n_{cat}").cum_sum().over("Code").alias(f"cum_{cat}") for cat in ("all", *COUNTED)]
    return (
        records.group_by("Code", AVAILABLE_FROM)
        .agg(
            pl.len().cast(pl.Int64).alias("n_all"),
            *(
                pl.any_horizontal(codes.list.contains(code) for code in group)
                .sum()
                .cast(pl.Int64)
                .alias(f"n_{cat}")
                for cat, group in COUNTED.items()
            ),
            (c(AVAILABLE_FROM) > c("DiscDate"))
            .sort_by("DiscDate", "DiscTime", nulls_last=True)
            .last()
            .alias("after_hours"),
            pre_open.fill_null(False).any().alias("pre_open"),
        )
        .sort("Code", AVAILABLE_FROM)
        .with_columns(cum)
    )


def compute(ctx: BlockContext) -> pl.LazyFrame:
    """Counts over 5/20 sessions, recency and timing flags of each row's usable disclosures."""
    c = pl.col
    days = ctx.calendar.frame()["Date"]
    first = ctx.store.scan(SOURCE).select(c("DiscDate").min()).collect().item()
    index = pl.lit(days).search_sorted(c(ops.DATE), side="left").cast(pl.Int64)
    rows = ctx.base.select(ops.CODE, ops.DATE).with_columns(
        pl.when(index >= n).then(pl.lit(days).gather(index - n)).alias(f"lag{n}") for n in WINDOWS
    )
    daily = _daily(ctx)
    cum_cols = [f"cum_{cat}" for cat in ("all", *COUNTED)]
    now = ctx.asof_join(rows, daily, source_name=SOURCE, by="Code", keep_availability="last_at")
    for n in WINDOWS:
        then = daily.select("Code", AVAILABLE_FROM, *(c(x).alias(f"{x}_{n}") for x in cum_cols))
        now = ctx.asof_join(now, then, source_name=SOURCE, by="Code", row_date=f"lag{n}")
    covered = {n: c(f"lag{n}") >= pl.lit(first) for n in WINDOWS}
    counts = [
        pl.when(covered[n])
        .then(c(f"cum_{cat}").fill_null(0) - c(f"cum_{cat}_{n}").fill_null(0))
        .alias(_count_name(cat, n))
        for cat, n in SERIES
    ]
    out = now.with_columns(
        *counts,
        (c(ops.DATE) - c("last_at")).dt.total_days().alias("td_days_since_last"),
        c("after_hours").alias("td_after_hours"),
        pl.when(c(ops.DATE) >= pl.lit(first))
        .then(c("pre_open").fill_null(False) & (c("last_at") == c(ops.DATE)))
        .alias("td_pre_open"),
    )
    return ops.finalize(out, FEATURES)


BLOCK = Block(
    name="td",
    sources=(SOURCE,),
    availability="statement_disclosure",
    lookback=max(WINDOWS),
    features=FEATURES,
    compute=compute,
)

BLOCKS: tuple[Block, ...] = (BLOCK,)
