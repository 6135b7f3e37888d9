"""TDnet block (``td_*``) from ``td_list``: disclosure counts, recency and timing flags.

A disclosure is usable by the ``statement_disclosure`` rule on ``DiscDate``/``DiscTime``, exactly
as a ``fins_summary`` statement: on ``DiscDate`` when that is a trading day and ``DiscTime`` is
strictly before its close (15:00 until 2024-11-04, 15:30 from 2024-11-05, 11:30 on half days),
otherwise from the next trading day. ``a(r)`` below is a record's first usable day and ``t-N``
the trading day ``N`` sessions before t.

- ``td_cnt_<cat>_<N>d`` = #records of the stock in the category with ``t-N < a(r) <= t``: the
  disclosures that became usable in the last ``N`` sessions (``N`` = 5, 20); ``all`` counts every
  record, ``earn``/``div``/``buyback``/``mna`` those with an item code of the category
  (``gogooku.jquants.tdnet.CATEGORIES``); ``td_rev_up_20d``/``td_rev_down_20d`` count upward
  (``201``) / downward (``202``) forecast revisions, ``td_correction_20d`` corrections (``999``);
- ``td_days_since_last`` = ``t - a(r_last)`` in calendar days, ``r_last`` the latest usable record;
- ``td_after_hours`` = ``a(r_last) > DiscDate(r_last)``: the latest usable disclosure came at or
  after its day's close, or on a closed day (the rule's own test, so it matches availability);
- ``td_pre_open`` = a record with ``DiscDate = t`` and ``07:00 <= DiscTime < 09:00`` (usable on t).

Counts are per-stock cumulative counts (attached by hash joins and one forward fill, see
``_attach``), differenced between the row and the stock's row ``N`` back (base rows are its
consecutive trading days); a stock's first ``N`` rows are warm-up rows (null). Before the
source's coverage (``t-N`` earlier than the store's first ``DiscDate``) the counts and
``td_pre_open`` are null, not zero; a stock without any usable record has null
``td_days_since_last`` and ``td_after_hours``.
"""

from __future__ import annotations

from datetime import date, time

import polars as pl

from gogooku.features import ops
from gogooku.features.availability import AVAILABLE_FROM, parse_time, with_available_from
from gogooku.features.base import Block, BlockContext, Feature
from gogooku.jquants import tdnet as items

SOURCE = "td_list"
WINDOWS = (5, 20)
PRE_OPEN = (time(7, 0), time(9, 0))
NOTHING = date(1900, 1, 1)  # "no record yet" in the forward-filled state
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


def _attach(rows: pl.LazyFrame, daily: pl.LazyFrame, cum_cols: list[str]) -> pl.LazyFrame:
    """Each row's state as of its date, by hash joins and a forward fill (no as-of join, no
    per-stock grouping of the base rows; ``rows`` sorted by (Code, Date)).

    A record joins the row dated its ``available_from``; records usable before the stock's
    first row are folded onto that row (the latest decides ``last_at``/``after_hours``), so no
    record reaches a row dated before its ``available_from`` and none usable is lost. Every
    stock's first row gets a state (a "nothing yet" sentinel when it has no record), so a plain
    forward fill never carries one stock's state into the next.
    """
    c = pl.col
    first_row = rows.group_by(ops.CODE).agg(c(ops.DATE).min().alias(ops.DATE))
    records = daily.join(
        first_row.rename({ops.DATE: "first_row"}), on=ops.CODE, how="inner"
    ).select(
        ops.CODE,
        pl.max_horizontal(AVAILABLE_FROM, "first_row").alias(ops.DATE),
        *cum_cols,
        c(AVAILABLE_FROM).alias("last_at"),
        c("after_hours").cast(pl.Int8),
        c("pre_open") & (c(AVAILABLE_FROM) >= c("first_row")),
        pl.lit(1, pl.Int8).alias("order"),
    )
    nothing = first_row.select(
        ops.CODE,
        ops.DATE,
        *(pl.lit(0, pl.Int64).alias(x) for x in cum_cols),
        pl.lit(NOTHING).alias("last_at"),
        pl.lit(-1, pl.Int8).alias("after_hours"),
        pl.lit(False).alias("pre_open"),
        pl.lit(0, pl.Int8).alias("order"),
    )
    per_row = (
        pl.concat([nothing, records])
        .sort(ops.CODE, ops.DATE, "order", "last_at")
        .group_by(ops.CODE, ops.DATE, maintain_order=True)
        .agg(pl.all().exclude("pre_open").last(), c("pre_open").last())
    )
    joined = rows.join(per_row, on=[ops.CODE, ops.DATE], how="left", maintain_order="left")
    carried = [*cum_cols, "last_at", "after_hours"]
    return joined.with_columns(c(carried).forward_fill()).with_columns(
        pl.when(c("last_at") != NOTHING).then(c("last_at")).alias("last_at"),
        pl.when(c("after_hours") >= 0).then(c("after_hours") == 1).alias("after_hours"),
        c("pre_open").fill_null(False) & (c("last_at") == c(ops.DATE)),
    )


def compute(ctx: BlockContext) -> pl.LazyFrame:
    """Counts over 5/20 sessions, recency and timing flags of each row's usable disclosures."""
    c = pl.col
    first = ctx.store.scan(SOURCE).select(c("DiscDate").min()).collect().item()
    cum_cols = [f"cum_{cat}" for cat in ("all", *COUNTED)]
    now = _attach(ctx.base.select(ops.CODE, ops.DATE), _daily(ctx), cum_cols)
    # Base rows are the stock's consecutive trading days sorted by (Code, Date), so the row N
    # back is t-N when it is the same stock's (a plain shift: no per-stock grouping). A stock's
    # first N rows are warm-up rows (null), as in every rolling window. The validity of each
    # window is one column, computed once for all its counts.
    now = now.with_columns(
        (
            (c(ops.DATE) >= pl.lit(ctx.calendar.offset_clipped(first, n)))
            & (c(ops.CODE).shift(n) == c(ops.CODE))
        ).alias(f"valid{n}")
        for n in WINDOWS
    )
    counts = [
        pl.when(c(f"valid{n}"))
        .then(c(f"cum_{cat}") - c(f"cum_{cat}").shift(n))
        .alias(_count_name(cat, n))
        for cat, n in SERIES
    ]
    out = now.with_columns(
        *counts,
        (c(ops.DATE) - c("last_at")).dt.total_days().alias("td_days_since_last"),
        c("after_hours").alias("td_after_hours"),
        pl.when(c(ops.DATE) >= pl.lit(first)).then(c("pre_open")).alias("td_pre_open"),
    )
    return ops.in_memory(ops.finalize(out, FEATURES))


BLOCK = Block(
    name="td",
    sources=(SOURCE,),
    availability="statement_disclosure",
    lookback=max(WINDOWS),  # base rows are every trading day: no no-trade slack needed
    features=FEATURES,
    compute=compute,
)

BLOCKS: tuple[Block, ...] = (BLOCK,)
