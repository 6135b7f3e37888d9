"""Full-statement block (``stmt_*`` balance-sheet and cash-flow ratios) from ``fins_details``.

Each record (one statement, line items from ``FS``, ``gogooku.jquants.fs_labels``) is usable by
the same rule as ``fins_summary``: on ``DiscDate`` when ``DiscTime`` is before that day's close,
else from the next trading day. A row (Code, Date) takes the last usable record. Per record, with
``q`` the quarter of ``PerType`` (Q1..Q3 = 1..3, FY = 4), flows year-to-date as reported and
``avgTA = (TA + TA_prev) / 2`` (``TA_prev`` the stock's previous statement; ``TA`` alone when
there is none)::

    stmt_accruals         = (NP - CFO) (4 / q) / avgTA         (annualised, Sloan)
    stmt_cash_conversion  = clip(CFO / |NP|, -5, 5)             (null when NP = 0)
    stmt_capex_intensity  = |Capex| / Sales                     (both year-to-date)
    stmt_leverage         = TL / TA                             (total liabilities over assets)
    stmt_current_ratio    = CurA / CurL
    stmt_asset_growth     = TA / TA_1y - 1

The three cash-flow ratios exist only on statements with a cash-flow statement (2Q and FY for
most filers); a record without one carries the value of the stock's latest record that had one.
``TA_1y`` is the ``TA`` of the stock's latest statement disclosed at least 300 days before this
one, if disclosed within 430 days (the same quarter a year earlier). Sector ranks are per date
within the row's ``S33`` over the stocks with a value: ``(rank - 1) / (n - 1)``, average ranks for
ties, null with fewer than two values.
"""

from __future__ import annotations

import polars as pl

from gogooku.features import ops
from gogooku.features.availability import AVAILABLE_FROM, with_available_from
from gogooku.features.base import Block, BlockContext, Feature

SOURCE = "fins_details"
CASH_CONVERSION_BOUND = 5.0
YEAR_AGO_MIN_DAYS = 300
YEAR_AGO_MAX_DAYS = 430
RANKED = ("stmt_accruals", "stmt_leverage")
_QUARTER = {"Q1": 1, "Q2": 2, "Q3": 3, "FY": 4}

FEATURES: tuple[Feature, ...] = (
    Feature(
        "stmt_accruals",
        "Accruals over average total assets, annualised (latest cash-flow statement)",
        "(NP - CFO) * 4 / q / ((TA + TA_prev) / 2)",
        None,
    ),
    Feature(
        "stmt_cash_conversion",
        "Operating cash flow over |net income| (latest cash-flow statement), clipped to ±5",
        "clip(CFO / |NP|, -5, 5)",
        None,
    ),
    Feature(
        "stmt_capex_intensity",
        "Capital expenditure over sales (latest cash-flow statement)",
        "|Capex| / Sales",
        None,
    ),
    Feature("stmt_leverage", "Total liabilities over total assets", "TL / TA", None),
    Feature("stmt_current_ratio", "Current assets over current liabilities", "CurA / CurL", None),
    Feature(
        "stmt_asset_growth",
        "Total-asset growth over a year",
        "TA / TA_1y - 1 (full statements)",
        None,
    ),
    *(ops.sector_rank_feature(name) for name in RANKED),
)


def record_ratios(records: pl.LazyFrame) -> pl.LazyFrame:
    """Per record (sorted by Code, availability, DiscDate, DiscNo): the six ratios, cash-flow
    ratios carried forward from the stock's latest record with a cash-flow statement."""
    c = pl.col
    q = c("PerType").replace_strict(_QUARTER, default=None, return_dtype=pl.Float64)
    avg_ta = (
        pl.when(c("TA_prev").is_not_null()).then((c("TA") + c("TA_prev")) / 2).otherwise(c("TA"))
    )
    ordered = records.sort("Code", AVAILABLE_FROM, "DiscDate", "DiscNo")
    year_ago = ordered.select(
        "Code", c("DiscDate").alias("_prior_date"), c("TA").alias("TA_1y")
    ).sort("_prior_date")
    with_prior = (
        ordered.with_columns(
            c("TA").shift(1).over("Code").alias("TA_prev"),
            (c("DiscDate") - pl.duration(days=YEAR_AGO_MIN_DAYS)).alias("_back"),
        )
        .sort("_back")
        .join_asof(
            year_ago,
            left_on="_back",
            right_on="_prior_date",
            by="Code",
            strategy="backward",
            tolerance=f"{YEAR_AGO_MAX_DAYS - YEAR_AGO_MIN_DAYS}d",
            check_sortedness=False,
        )
        .sort("Code", AVAILABLE_FROM, "DiscDate", "DiscNo")
    )
    cash = ops.ratio(c("CFO"), c("NP").abs()).clip(-CASH_CONVERSION_BOUND, CASH_CONVERSION_BOUND)
    return with_prior.with_columns(
        ops.ratio((c("NP") - c("CFO")) * 4 / q, avg_ta)
        .forward_fill()
        .over("Code")
        .alias("stmt_accruals"),
        cash.forward_fill().over("Code").alias("stmt_cash_conversion"),
        ops.ratio(c("Capex").abs(), c("Sales"))
        .forward_fill()
        .over("Code")
        .alias("stmt_capex_intensity"),
        ops.ratio(c("TL"), c("TA")).alias("stmt_leverage"),
        ops.ratio(c("CurA"), c("CurL")).alias("stmt_current_ratio"),
        (ops.ratio(c("TA"), c("TA_1y")) - 1).alias("stmt_asset_growth"),
    )


def compute(ctx: BlockContext) -> pl.LazyFrame:
    """The ratios of the last usable statement per row, and their S33 ranks."""
    c = pl.col
    rows = ctx.base.select(ops.CODE, ops.DATE, "S33")
    items = ("PerType", "TA", "TL", "CurA", "CurL", "Sales", "NP", "CFO", "Capex")
    raw = ctx.store.scan(SOURCE).select("Code", "DiscDate", "DiscTime", "DiscNo", *items)
    ratios = record_ratios(with_available_from(raw, SOURCE, ctx.calendar))
    base_names = [f.name for f in FEATURES if f.name not in {f"{n}_rank_s33" for n in RANKED}]
    records = ratios.select("Code", AVAILABLE_FROM, "DiscDate", "DiscNo", *base_names)
    joined = ctx.asof_join(
        rows,
        records,
        source_name=SOURCE,
        by="Code",
        columns=base_names,
        order_by=("DiscDate", "DiscNo"),
    )
    out = joined.with_columns(ops.sector_rank(c(name)).alias(f"{name}_rank_s33") for name in RANKED)
    return ops.finalize(out, FEATURES)


BLOCK = Block(
    name="statement_details",
    sources=(SOURCE, "equities_master"),
    availability="statement_disclosure",
    lookback=0,
    features=FEATURES,
    compute=compute,
    cross_sectional=True,
)

BLOCKS: tuple[Block, ...] = (BLOCK,)
