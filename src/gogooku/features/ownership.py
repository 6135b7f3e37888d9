"""Ownership block (``own_*``) from the EDINET documents (Standard plan and above).

Every document is usable from its ``edinet_submission`` day (``SubDate`` if submitted before
15:00 JST on a trading day, else the next trading day). Holder lists are the JSON text of the
store (docs/architecture.md, "EDINET documents"); ratios are decimal fractions of shares
outstanding.

**Large holders** (``edinet_large_volume_shareholders``, one report per filing): a holder is the
report's filer, ``Hldrs[0].Name``. On each date a stock's reports become usable, every holder's
latest usable report of the stock is taken (latest ``SubDate``, ``SubTime``); with ``r_j`` their
``TotalShsRatio``::

    own_large_holders         = #{j : r_j >= 5 %}
    own_large_holders_chg_60  = own_large_holders_t - own_large_holders_(t-60 rows)
    own_new_large_holder_20   = 1 if a report with TotalShsRatio >= 5 % and TotalShsRatioLast
                                null or < 5 % (a holder crossing 5 %) became usable within the
                                last 20 trading days (0..19), else 0
    own_lv_days_since         = trading days since the stock's latest report became usable

They are null before the first large-volume report of the whole store is usable (the data's
coverage start: no report before it is not the same as no large holder) and 0 / 0 / null for a
stock without a usable report after it.

**Major holders** (``edinet_major_shareholders``, the annual report's top holders), from the
latest usable report of the stock, over its ``Hldrs`` ratios ``q_k`` (null before the first)::

    own_top10_ratio = Σ_{k <= 10} q_(k)        (the ten largest; concentration)
    own_hhi         = Σ_{k <= 10} q_(k)^2      (Herfindahl index of the listed holders)

**Cross-shareholdings** (``edinet_cross_shareholdings``; optional, as is ``equities_valuation``):
the strategic (cross-)shareholdings the company itself holds, relative to its own value::

    own_cross_share = Report.ListedBookValue / MktCap

with ``ListedBookValue`` the balance-sheet value of the listed strategic holdings of the filer
(million JPY) in its latest usable report and ``MktCap`` (million JPY) of the latest
``equities_valuation`` record usable on the report's first usable day (fixed until the next
report); 0 for a filer reporting none, null without a report or a usable valuation then.

All three sources are merged into one state per (Code, availability date) and attached with one
as-of join.
"""

from __future__ import annotations

import polars as pl

from gogooku.features import ops
from gogooku.features.availability import AVAILABLE_FROM, source_rule, with_available_from
from gogooku.features.base import Block, BlockContext, Feature
from gogooku.features.margin import trading_days_between

LARGE = "edinet_large_volume_shareholders"
MAJOR = "edinet_major_shareholders"
CROSS = "edinet_cross_shareholdings"
VALUATION = "equities_valuation"
THRESHOLD = 0.05
CHG_ROWS = 60
NEW_DAYS = 20
HOLDER = pl.List(pl.Struct({"Name": pl.String, "Ratio": pl.Float64}))
SCOPE = pl.Struct({"ListedBookValue": pl.Float64})

FEATURES: tuple[Feature, ...] = (
    Feature(
        "own_large_holders",
        "Number of holders whose latest large-volume report shows >= 5 % of the shares",
        "#{j : r_j >= 5 %}",
        None,
        "Int16",
    ),
    Feature(
        "own_large_holders_chg_60",
        "Change of the large-holder count over 60 rows",
        "own_large_holders_t - own_large_holders_(t-60)",
        CHG_ROWS + 1,
        "Int16",
    ),
    Feature(
        "own_new_large_holder_20",
        "A holder crossing 5 % was reported (usable) within the last 20 trading days",
        "1{trading days since a first >= 5 % report < 20}",
        None,
        "Int8",
    ),
    Feature(
        "own_lv_days_since",
        "Trading days since the stock's latest large-volume report became usable",
        "trading days from available_from to Date",
        None,
        "Int32",
    ),
    Feature(
        "own_top10_ratio",
        "Sum of the ten largest holders' ratios in the latest annual report (concentration)",
        "sum_(k<=10) q_(k)",
        None,
    ),
    Feature(
        "own_hhi",
        "Herfindahl index of the latest annual report's top holders' ratios",
        "sum_(k<=10) q_(k)^2",
        None,
    ),
    Feature(
        "own_cross_share",
        "Listed strategic holdings' book value over the market capitalisation at the report",
        "Report.ListedBookValue / MktCap",
        None,
    ),
)


def _ratios(column: str) -> pl.Expr:
    """The holders' ratios of a ``Hldrs`` JSON text, largest first, at most ten."""
    decoded = pl.col(column).str.json_decode(HOLDER)
    return (
        decoded.list.eval(pl.element().struct.field("Ratio").drop_nulls())
        .list.sort(descending=True)
        .list.head(10)
    )


def large_holder_states(ctx: BlockContext) -> pl.LazyFrame:
    """Per (Code, availability date of one of its reports): large-holder count, last crossing."""
    reports = (
        with_available_from(ops.own_codes(ctx.store.scan(LARGE), ctx.base), LARGE, ctx.calendar)
        .with_columns(
            pl.col("Hldrs")
            .str.json_decode(HOLDER)
            .list.first()
            .struct.field("Name")
            .fill_null("")
            .alias("_holder"),
            (
                (pl.col("TotalShsRatio") >= THRESHOLD)
                & (
                    pl.col("TotalShsRatioLast").is_null()
                    | (pl.col("TotalShsRatioLast") < THRESHOLD)
                )
            ).alias("_new"),
        )
        .sort(AVAILABLE_FROM, "SubDate", "SubTime")
        .select(ops.CODE, "_holder", AVAILABLE_FROM, "TotalShsRatio", "_new")
    )
    events = reports.group_by(ops.CODE, AVAILABLE_FROM).agg(pl.col("_new").any())
    latest = reports.unique(
        subset=[ops.CODE, "_holder", AVAILABLE_FROM], keep="last", maintain_order=True
    ).rename({AVAILABLE_FROM: "_rep_from"})
    grid = (
        events.select(ops.CODE, AVAILABLE_FROM)
        .join(reports.select(ops.CODE, "_holder").unique(), on=ops.CODE)
        .sort(AVAILABLE_FROM)
    )
    state = grid.join_asof(
        latest.select(ops.CODE, "_holder", "_rep_from", "TotalShsRatio").sort("_rep_from"),
        left_on=AVAILABLE_FROM,
        right_on="_rep_from",
        by=[ops.CODE, "_holder"],
        strategy="backward",
        check_sortedness=False,
    )
    counts = state.group_by(ops.CODE, AVAILABLE_FROM).agg(
        (pl.col("TotalShsRatio") >= THRESHOLD).sum().cast(pl.Int32).alias("own_large_holders")
    )
    last_new = pl.when(pl.col("_new")).then(pl.col(AVAILABLE_FROM))
    return (
        events.join(counts, on=[ops.CODE, AVAILABLE_FROM])
        .sort(ops.CODE, AVAILABLE_FROM)
        .with_columns(last_new.forward_fill().over(ops.CODE).alias("_last_new"))
        .with_columns(pl.col(AVAILABLE_FROM).alias("_last_report"))
        .drop("_new")
    )


def _coverage_start(ctx: BlockContext) -> pl.LazyFrame:
    """One row: the first availability date of any large-volume report in the store."""
    return with_available_from(ctx.store.scan(LARGE), LARGE, ctx.calendar).select(
        pl.col(AVAILABLE_FROM).min().alias("_coverage")
    )


def _latest_per_day(records: pl.LazyFrame, columns: list[str]) -> pl.LazyFrame:
    """The last record (by ``SubDate``, ``SubTime``) of each (Code, availability date)."""
    return (
        records.sort(AVAILABLE_FROM, "SubDate", "SubTime")
        .unique(subset=[ops.CODE, AVAILABLE_FROM], keep="last", maintain_order=True)
        .select(ops.CODE, AVAILABLE_FROM, *columns)
    )


def _major(ctx: BlockContext) -> pl.LazyFrame:
    ratios = _ratios("Hldrs")
    records = ops.own_codes(ctx.store.scan(MAJOR), ctx.base).select(
        ops.CODE,
        "SubDate",
        "SubTime",
        ratios.list.sum().alias("own_top10_ratio"),
        ratios.list.eval(pl.element().pow(2)).list.sum().alias("own_hhi"),
    )
    return _latest_per_day(
        with_available_from(records, MAJOR, ctx.calendar), ["own_top10_ratio", "own_hhi"]
    )


def _cross(ctx: BlockContext) -> pl.LazyFrame:
    """Per (Code, availability date of a report): the report's book value over the market cap of
    the latest valuation record usable on that date (null when none is)."""
    book = pl.col("Report").str.json_decode(SCOPE).struct.field("ListedBookValue")
    records = ops.own_codes(ctx.store.scan(CROSS), ctx.base).select(
        ops.CODE, "SubDate", "SubTime", book.fill_null(0.0).alias("_book")
    )
    reports = _latest_per_day(with_available_from(records, CROSS, ctx.calendar), ["_book"])
    # The valuation record dated before the report's day, checked against its own rule on the
    # few joined rows (next_trading_day: Date < day); applying the rule to every daily record
    # would cost more than the rest of the block.
    rule, dates = source_rule(VALUATION)
    valuation = ops.own_codes(ctx.store.scan(VALUATION), ctx.base).select(
        ops.CODE, "Date", "MktCap"
    )
    return (
        reports.sort(AVAILABLE_FROM)
        .join_asof(
            valuation.sort("Date"),
            left_on=AVAILABLE_FROM,
            right_on="Date",
            by=ops.CODE,
            strategy="backward",
            allow_exact_matches=False,
            check_sortedness=False,
        )
        .with_columns(
            pl.when(rule.expr(ctx.calendar, dates) <= pl.col(AVAILABLE_FROM)).then(pl.col("MktCap"))
        )
        .select(
            ops.CODE,
            AVAILABLE_FROM,
            ops.ratio(pl.col("_book"), pl.col("MktCap")).alias("own_cross_share"),
        )
    )


LARGE_HOLDER_FEATURES = (
    "own_large_holders",
    "own_large_holders_chg_60",
    "own_new_large_holder_20",
    "own_lv_days_since",
)
STATE_COLUMNS = (
    "own_large_holders",
    "_last_new",
    "_last_report",
    "own_top10_ratio",
    "own_hhi",
    "own_cross_share",
)


def ownership_states(ctx: BlockContext) -> pl.LazyFrame:
    """Per (Code, availability date of any of its documents): every source's latest state.

    One frame for one as-of join (each join of the 1.2 M rows of a 1,000-stock, 5-year panel
    costs more than building all the states).
    """
    events = pl.concat([large_holder_states(ctx), _major(ctx), _cross(ctx)], how="diagonal_relaxed")
    return (
        events.group_by(ops.CODE, AVAILABLE_FROM)
        .agg(pl.col(c).drop_nulls().last() for c in STATE_COLUMNS)
        .sort(ops.CODE, AVAILABLE_FROM)
        .with_columns(pl.col(c).forward_fill().over(ops.CODE) for c in STATE_COLUMNS)
    )


def compute(ctx: BlockContext) -> pl.LazyFrame:
    """Large-holder counts and crossings, annual-report concentration and cross-holdings."""
    c = pl.col
    joined = ctx.asof_join(
        ctx.base.select(ops.CODE, ops.DATE),
        ownership_states(ctx),
        source_name="EDINET documents",
        by=ops.CODE,
        columns=list(STATE_COLUMNS),
    )
    covered = c(ops.DATE) >= c("_coverage")
    count = pl.when(covered).then(c("own_large_holders").fill_null(0))
    since_new = trading_days_between(ctx.calendar, c("_last_new"), c(ops.DATE))
    out = (
        joined.join(_coverage_start(ctx), how="cross")
        .with_columns(count.alias("own_large_holders"))
        .with_columns(
            (c("own_large_holders") - ops.lag(c("own_large_holders"), CHG_ROWS)).alias(
                "own_large_holders_chg_60"
            ),
            pl.when(covered)
            .then((since_new < NEW_DAYS).fill_null(False).cast(pl.Int8))
            .alias("own_new_large_holder_20"),
            trading_days_between(ctx.calendar, c("_last_report"), c(ops.DATE)).alias(
                "own_lv_days_since"
            ),
        )
    )
    return ops.in_memory(ops.finalize(out, FEATURES))


BLOCK = Block(
    name="own",
    sources=(LARGE, MAJOR, CROSS, VALUATION),
    availability="edinet_submission",
    lookback=ops.lookback(FEATURES),
    features=FEATURES,
    compute=compute,
    optional_sources=(
        (LARGE, LARGE_HOLDER_FEATURES),
        (CROSS, ("own_cross_share",)),
        (VALUATION, ("own_cross_share",)),
    ),
)

BLOCKS: tuple[Block, ...] = (BLOCK,)
