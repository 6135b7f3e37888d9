"""Short selling: sector short ratios (block ``short_ratio``) and large short positions
(block ``short_positions``).

**Sector short ratios** (``markets_short_ratio``): per (``Date``, 33-sector ``S33``) the value of
selling excluding short sales E = ``SellExShortVa``, short sales under the price restriction
W = ``ShrtWithResVa`` and without it N = ``ShrtNoResVa``; usable the next trading day (rule
``next_trading_day`` on ``Date``). Sector-level values carry the canonical ``sector_short_*``
names; market-level and relative values the ``ss_*`` names::

    sector_short_share          = (W + N) / (E + W + N)
    sector_short_restrict_share = W / (W + N)
    sector_short_share_chg_5d   = share_k − share_(k−5)        (the sector's records)
    sector_short_share_z60      = z60(share)                    (the sector's last 60 records)
    ss_mkt_short_share          = Σ(W + N) / Σ(E + W + N)       (over all sectors of the date)
    ss_mkt_restrict_share       = ΣW / Σ(W + N)
    ss_mkt_short_share_z60      = z60(ss_mkt_short_share)       (the market's last 60 dates)
    ss_rel_short_share          = sector_short_share − ss_mkt_short_share   (same record date)

Sector values reach a stock through its ``S33`` as of the row date.

**Large short positions** (``markets_short_sale_report``): a report is one short seller's
position in a stock as a ratio of shares outstanding ``ShrtPosToSO`` on ``CalcDate``, disclosed
on ``DiscDate`` and usable the next trading day. A reporter is (``SSName``, ``DICName``,
``FundName``). On each date a stock's reports become usable, every reporter's latest usable
report of that stock is taken (latest ``CalcDate``, then ``DiscDate``); reporters whose latest
ratio is below the 0.5 % reporting threshold have closed their reportable position. With r_j the
latest ratios ≥ 0.5 %::

    ssp_ratio_sum = Σ r_j,  ssp_reporters = #j,  ssp_max_ratio = max r_j
    ssp_concentration = max r_j / Σ r_j  (null when no open position)
    ssp_ratio_sum_chg_20d = ssp_ratio_sum_t − ssp_ratio_sum_(t−20 rows)
    ssp_days_since = trading days since the stock's latest report became usable

Values are null for a stock before its first usable report (no report is not the same as
knowing there is no position), 0 after every reporter fell below the threshold.
"""

from __future__ import annotations

import polars as pl

from gogooku.features import ops
from gogooku.features.availability import AVAILABLE_FROM, with_available_from
from gogooku.features.base import Block, BlockContext, Feature
from gogooku.features.margin import record_z, trading_days_between

RATIO_SOURCE = "markets_short_ratio"
REPORT_SOURCE = "markets_short_sale_report"
Z_RECORDS = 60
CHG_RECORDS = 5
CHG_ROWS = 20
REPORT_THRESHOLD = 0.005
REPORTER = ("SSName", "DICName", "FundName")

RATIO_FEATURES: tuple[Feature, ...] = (
    Feature(
        "sector_short_share",
        "Short sales' share of selling value in the stock's 33-sector",
        "(W + N) / (E + W + N)",
        None,
    ),
    Feature(
        "sector_short_restrict_share",
        "Share of the sector's short sales under the price restriction",
        "W / (W + N)",
        None,
    ),
    Feature(
        "sector_short_share_chg_5d",
        "Change of the sector short share over 5 records",
        "share_k - share_(k-5)",
        None,
    ),
    Feature(
        "sector_short_share_z60",
        "60-record z-score of the sector short share",
        "z60(sector_short_share)",
        None,
    ),
    Feature(
        "ss_mkt_short_share",
        "Market-wide short sales' share of selling value",
        "sum(W + N) / sum(E + W + N)",
        None,
    ),
    Feature(
        "ss_mkt_restrict_share",
        "Market-wide share of short sales under the price restriction",
        "sum(W) / sum(W + N)",
        None,
    ),
    Feature(
        "ss_mkt_short_share_z60",
        "60-date z-score of the market short share",
        "z60(ss_mkt_short_share)",
        None,
    ),
    Feature(
        "ss_rel_short_share",
        "Sector short share minus the market short share",
        "sector_short_share - ss_mkt_short_share",
        None,
    ),
)

POSITION_FEATURES: tuple[Feature, ...] = (
    Feature(
        "ssp_ratio_sum",
        "Sum of the reported large short positions (ratio of shares outstanding)",
        "sum_j r_j over reporters' latest ratios >= 0.5 %",
        None,
    ),
    Feature(
        "ssp_reporters",
        "Number of reporters with an open reportable short position",
        "count_j (r_j >= 0.5 %)",
        None,
        "Int16",
    ),
    Feature("ssp_max_ratio", "Largest reported short position", "max_j r_j", None),
    Feature(
        "ssp_concentration",
        "Largest position over the sum of positions",
        "max_j r_j / sum_j r_j",
        None,
    ),
    Feature(
        "ssp_ratio_sum_chg_20d",
        "Change of the summed short positions over 20 rows",
        "ssp_ratio_sum_t - ssp_ratio_sum_(t-20)",
        CHG_ROWS + 1,
    ),
    Feature(
        "ssp_days_since",
        "Trading days since the stock's latest report became usable",
        "trading days from available_from to Date",
        None,
        "Int32",
    ),
)


def sector_records(ctx: BlockContext) -> pl.LazyFrame:
    """Per (S33, Date) short shares and their record statistics, with ``available_from``."""
    e, w, n = pl.col("SellExShortVa"), pl.col("ShrtWithResVa"), pl.col("ShrtNoResVa")
    share, mkt = pl.col("sector_short_share"), pl.col("ss_mkt_short_share")
    records = (
        ctx.store.scan(RATIO_SOURCE)
        .unique(subset=["S33", ops.DATE], keep="last", maintain_order=True)
        .sort("S33", ops.DATE)
        .with_columns(
            ops.ratio(w + n, e + w + n).alias("sector_short_share"),
            ops.ratio(w, w + n).alias("sector_short_restrict_share"),
        )
        .with_columns(
            (share - share.shift(CHG_RECORDS).over("S33")).alias("sector_short_share_chg_5d"),
            record_z(share, Z_RECORDS, "S33").alias("sector_short_share_z60"),
        )
    )
    market = (
        records.group_by(ops.DATE)
        .agg(
            ops.ratio((w + n).sum(), (e + w + n).sum()).alias("ss_mkt_short_share"),
            ops.ratio(w.sum(), (w + n).sum()).alias("ss_mkt_restrict_share"),
        )
        .sort(ops.DATE)
        .with_columns(
            ops.ratio(
                mkt - mkt.rolling_mean(Z_RECORDS, min_samples=Z_RECORDS),
                mkt.rolling_std(Z_RECORDS, min_samples=Z_RECORDS),
            ).alias("ss_mkt_short_share_z60")
        )
    )
    joined = records.join(market, on=ops.DATE, how="left").with_columns(
        (share - pl.col("ss_mkt_short_share")).alias("ss_rel_short_share")
    )
    return with_available_from(joined, RATIO_SOURCE, ctx.calendar)


def compute_ratio(ctx: BlockContext) -> pl.LazyFrame:
    """Sector and market short shares attached by the stock's S33 as of the row date."""
    # Read by two as-of joins, each its own query: computed once.
    records = sector_records(ctx).collect().lazy()
    sector_cols = [
        "sector_short_share",
        "sector_short_restrict_share",
        "sector_short_share_chg_5d",
        "sector_short_share_z60",
        "ss_rel_short_share",
    ]
    joined = ctx.asof_join(
        ctx.base.select(ops.CODE, ops.DATE, "S33"),
        records,
        source_name=RATIO_SOURCE,
        by="S33",
        columns=sector_cols,
    )
    market = records.unique(subset=[ops.DATE], keep="first").select(
        AVAILABLE_FROM, "ss_mkt_short_share", "ss_mkt_restrict_share", "ss_mkt_short_share_z60"
    )
    joined = ctx.asof_join(joined, market, source_name=f"{RATIO_SOURCE} (market)")
    return ops.finalize(joined, RATIO_FEATURES)


def position_states(ctx: BlockContext) -> pl.LazyFrame:
    """Per (Code, availability date of one of its reports): the open positions' statistics.

    Each of the stock's reporters is joined, as of that date, to its latest usable report
    (a backward as-of on ``available_from`` within (Code, reporter)).
    """
    reports = (
        with_available_from(
            ops.own_codes(ctx.store.scan(REPORT_SOURCE), ctx.base), REPORT_SOURCE, ctx.calendar
        )
        .with_columns(pl.col(c).fill_null("") for c in REPORTER)
        .sort(AVAILABLE_FROM, "CalcDate", "DiscDate")
        .unique(subset=[ops.CODE, *REPORTER, AVAILABLE_FROM], keep="last", maintain_order=True)
        .select(ops.CODE, *REPORTER, AVAILABLE_FROM, "CalcDate", "ShrtPosToSO")
    )
    events = reports.select(ops.CODE, AVAILABLE_FROM).unique()
    reporters = reports.select(ops.CODE, *REPORTER).unique()
    # a total order: each (Code, date) group then sums its reporters' floats in one fixed order
    grid = events.join(reporters, on=ops.CODE).sort(AVAILABLE_FROM, ops.CODE, *REPORTER)
    # Latest report per reporter as of each event: the newest CalcDate among reports usable by
    # then (a late-disclosed report for an older CalcDate does not replace a newer one).
    latest = (
        reports.sort(ops.CODE, *REPORTER, AVAILABLE_FROM)
        .with_columns(pl.col("CalcDate").cum_max().over(ops.CODE, *REPORTER).alias("_newest"))
        .filter(pl.col("CalcDate") == pl.col("_newest"))
        .rename({AVAILABLE_FROM: "_rep_from"})
        .sort("_rep_from")
    )
    state = grid.join_asof(
        latest.select(ops.CODE, *REPORTER, "_rep_from", "ShrtPosToSO"),
        left_on=AVAILABLE_FROM,
        right_on="_rep_from",
        by=[ops.CODE, *REPORTER],
        strategy="backward",
        check_sortedness=False,
    )
    open_ratio = (
        pl.when(pl.col("ShrtPosToSO") >= REPORT_THRESHOLD)
        .then(pl.col("ShrtPosToSO"))
        .otherwise(0.0)
    )
    return (
        state.with_columns(open_ratio.alias("_open"))
        .group_by(ops.CODE, AVAILABLE_FROM)
        .agg(
            pl.col("_open").sum().alias("ssp_ratio_sum"),
            (pl.col("_open") > 0).sum().alias("ssp_reporters"),
            pl.col("_open").max().alias("ssp_max_ratio"),
        )
        .with_columns(
            ops.ratio(pl.col("ssp_max_ratio"), pl.col("ssp_ratio_sum")).alias("ssp_concentration")
        )
    )


def compute_positions(ctx: BlockContext) -> pl.LazyFrame:
    """Open large short positions of the stock as of the row date."""
    joined = ctx.asof_join(
        ctx.base.select(ops.CODE, ops.DATE),
        position_states(ctx),
        source_name=REPORT_SOURCE,
        by=ops.CODE,
        keep_availability=AVAILABLE_FROM,
    )
    total = pl.col("ssp_ratio_sum")
    out = joined.with_columns(
        (total - ops.lag(total, CHG_ROWS)).alias("ssp_ratio_sum_chg_20d"),
        trading_days_between(ctx.calendar, pl.col(AVAILABLE_FROM), pl.col(ops.DATE)).alias(
            "ssp_days_since"
        ),
    )
    return ops.finalize(out, POSITION_FEATURES)


RATIO_BLOCK = Block(
    name="short_ratio",
    sources=(RATIO_SOURCE, "equities_master"),
    availability="next_trading_day",
    lookback=ops.lookback(RATIO_FEATURES),
    features=RATIO_FEATURES,
    compute=compute_ratio,
)

POSITION_BLOCK = Block(
    name="short_positions",
    sources=(REPORT_SOURCE,),
    availability="next_trading_day",
    lookback=ops.lookback(POSITION_FEATURES),
    features=POSITION_FEATURES,
    compute=compute_positions,
)

BLOCKS: tuple[Block, ...] = (RATIO_BLOCK, POSITION_BLOCK)
