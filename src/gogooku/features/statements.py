"""Financial statement block (``stmt_*``) from ``fins_summary`` (earnings-release summaries).

Availability: a record is usable from ``available_from`` by the ``statement_disclosure`` rule
(``DiscDate`` if ``DiscTime`` is before that day's close, else the next trading day).

**Versions.** A *statement* is a record whose ``DocType`` contains ``FinancialStatements`` and whose
``CurPerType`` is 1Q, 2Q, 3Q or FY (4Q/5Q/OtherPeriod documents of irregular fiscal years are left
out of the quarterly series). Its *period* is the month of ``CurPerEn``. Several records of one
period (corrections, re-disclosures) are versions: at any time the latest version already
available wins. The block's state changes only on *events*, the availability dates of a stock's
records; at each event ``e`` it is rebuilt from the versions available on ``e``:

- the current period ``p`` is the latest period with a statement available on ``e``;
- ``Y_k`` is the year-to-date value (J-Quants reports Sales/OP/NP cumulative from the start of
  the fiscal year) of period ``p − 3k`` months (k = 0..8), its latest version available on ``e``;
- quarterly increment ``q_k = Y_k`` for a 1Q period, ``Y_k − Y_{k+1}`` when period ``k+1`` is the
  preceding quarter of the same fiscal year (``fq_{k+1} = fq_k − 1``, same ``CurFYEn``), else null;
- ``TTM_0 = q_0 + q_1 + q_2 + q_3`` and ``TTM_4 = q_4 + … + q_7`` (null unless all four exist).

**Forecasts.** Current-year forecasts (``FSales, FOP, FNP``) target ``CurFYEn``; next-year
forecasts (``NxFSales, NxFOP, NxFNp``) target ``NxtFYEn``. Statements and forecast revisions
(``EarnForecastRevision``) both count. Per (stock, target year) the latest forecast available wins
(a field a document leaves empty keeps its previous value); the *revision* compares it with the
previous disclosure of the same target year. ``F(y)`` is the forecast for fiscal year ``y`` in
force on ``e``; ``F⁻(y)`` the one in force the day before the current statement became
available. The *target year* is the current fiscal year ``fy_0`` after 1Q–3Q and the next one
(``NxtFYEn``) after an FY statement.

**Valuation.** Market capitalisation uses the statement's shares (``ShOutFY − TrShFY``, at the
period end) carried forward through later splits with the cumulative split factor
``F(d) = ∏ AdjFactor`` over the stock's stored bars dated ≤ d (the factor of the base frame)::

    mcap_t = (ShOutFY − TrShFY) · F(CurPerEn) · AdjC_t        (= shares now × unadjusted close)

Ratios ``(a − b) / |b|`` are null when ``b`` is zero or null; non-finite values become null.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from gogooku.features import ops
from gogooku.features.availability import AVAILABLE_FROM, with_available_from
from gogooku.features.base import Block, BlockContext, Feature

SOURCE = "fins_summary"
QUARTERS = {"1Q": 1, "2Q": 2, "3Q": 3, "FY": 4}
N_PERIODS = 9  # k = 0..8: two fiscal years of increments plus the quarter before them
ITEMS = {"sales": "Sales", "op": "OP", "np": "NP"}
FORECASTS = {
    "sales": ("FSales", "NxFSales"),
    "op": ("FOP", "NxFOP"),
    "np": ("FNP", "NxFNp"),
    "div": ("FDivAnn", "NxFDivAnn"),
}
ORDER = ("DiscDate", "DiscTime", "DiscNo")
SPLITS = "stored_splits"  # key of the split table in ``BlockContext.shared``

_ITEM_NAMES = {"sales": "sales", "op": "operating profit", "np": "net profit"}

FEATURES: tuple[Feature, ...] = (
    Feature(
        "stmt_fq", "Fiscal quarter of the latest statement (1-3, 4 = FY)", "fq_0", None, "Int8"
    ),
    *(
        Feature(
            f"stmt_{i}_yoy_ttm",
            f"Trailing-twelve-month {_ITEM_NAMES[i]} growth over the TTM a year earlier",
            "(TTM_0 - TTM_4) / |TTM_4|",
            None,
        )
        for i in ITEMS
    ),
    *(
        Feature(
            f"stmt_{i}_yoy_q",
            f"Latest quarter's {_ITEM_NAMES[i]} over the same quarter a year earlier",
            "(q_0 - q_4) / |q_4|",
            None,
        )
        for i in ITEMS
    ),
    Feature("stmt_opm_ttm", "TTM operating margin", "TTM_0(OP) / TTM_0(Sales)", None),
    Feature("stmt_npm_ttm", "TTM net margin", "TTM_0(NP) / TTM_0(Sales)", None),
    Feature("stmt_opm_q", "Operating margin of the latest quarter", "q_0(OP) / q_0(Sales)", None),
    Feature("stmt_roe_ttm", "Return on equity", "TTM_0(NP) / Eq_0", None),
    Feature("stmt_roa_ttm", "Return on assets", "TTM_0(NP) / TA_0", None),
    Feature("stmt_equity_ratio", "Equity over total assets", "Eq_0 / TA_0", None),
    *(
        Feature(
            f"stmt_progress_{i}",
            f"Year-to-date {_ITEM_NAMES[i]} over the full-year forecast (actual/forecast at FY)",
            f"Y_0({ITEMS[i]}) / F(fy_0)",
            None,
        )
        for i in ITEMS
    ),
    *(
        Feature(
            f"stmt_rev_{i}",
            f"Latest revision of the full-year {_ITEM_NAMES[i]} forecast of the target year",
            "(F_latest - F_previous disclosure) / |F_previous disclosure|, same target year",
            None,
        )
        for i in ITEMS
    ),
    *(
        Feature(
            f"stmt_surprise_{i}_q",
            f"Latest quarter's {_ITEM_NAMES[i]} against the pace implied by the prior forecast",
            "(q_0 - E) / |E|, E = (F⁻(fy_0) - (Y_0 - q_0)) / (5 - fq_0)",
            None,
        )
        for i in ("sales", "op")
    ),
    Feature(
        "stmt_days_since_disc",
        "Calendar days since the latest statement version became available",
        "t - available_from(statement of period p)",
        None,
        "Int32",
    ),
    Feature(
        "stmt_acct_change",
        "Latest statement reports an accounting-policy change or restatement",
        "ChgByASRev or ChgNoASRev or RetroRst",
        None,
        "Boolean",
    ),
    Feature(
        "stmt_est_change",
        "Latest statement reports a change in accounting estimates",
        "ChgAcEst",
        None,
        "Boolean",
    ),
    Feature(
        "stmt_scope_change",
        "Latest statement reports a change in subsidiaries or consolidation scope",
        "MatChgSub or SigChgInC",
        None,
        "Boolean",
    ),
    Feature(
        "stmt_consolidated",
        "Latest statement is consolidated",
        "DocType contains '_Consolidated'",
        None,
        "Boolean",
    ),
    Feature(
        "stmt_restated",
        "The latest statement's period was disclosed more than once (a correction)",
        "versions of period p available by t > 1",
        None,
        "Boolean",
    ),
    Feature("stmt_log_mcap", "Log market capitalisation (JPY)", "ln(mcap_t)", None),
    Feature("stmt_ep_ttm", "Earnings yield", "TTM_0(NP) / mcap_t", None),
    Feature("stmt_bp", "Book-to-price", "Eq_0 / mcap_t", None),
    Feature("stmt_sp_ttm", "Sales-to-price", "TTM_0(Sales) / mcap_t", None),
    Feature("stmt_ep_fcst", "Forecast earnings yield", "F(target year)(NP) / mcap_t", None),
    Feature(
        "stmt_rev_div",
        "Latest revision of the annual dividend-per-share forecast of the target year",
        "(D_latest - D_previous disclosure) / |D_previous disclosure|, D = FDivAnn / F(avail)",
        None,
    ),
    Feature(
        "stmt_div_fcst_yield",
        "Forecast annual dividend per share of the target year over the close",
        "(FDivAnn or NxFDivAnn) / F(available_from) / AdjC_t",
        None,
    ),
)

# Computed per row (they need the row date or its close); every other feature is event state.
_ROW_COLUMNS = {
    "stmt_days_since_disc",
    "stmt_log_mcap",
    "stmt_ep_ttm",
    "stmt_bp",
    "stmt_sp_ttm",
    "stmt_ep_fcst",
    "stmt_div_fcst_yield",
}
_STATE_COLUMNS = [f.name for f in FEATURES if f.name not in _ROW_COLUMNS]


def growth(a: pl.Expr, b: pl.Expr) -> pl.Expr:
    """``(a − b) / |b|``, null where ``b`` is zero or null."""
    return ops.ratio(a - b, b.abs())


FLAGS = ("ChgByASRev", "ChgNoASRev", "RetroRst", "ChgAcEst", "MatChgSub", "SigChgInC")
COLUMNS = (
    "Code",
    *ORDER,
    "DocType",
    "CurPerType",
    "CurPerEn",
    "CurFYEn",
    "NxtFYEn",
    *ITEMS.values(),
    "Eq",
    "TA",
    "ShOutFY",
    "TrShFY",
    *FLAGS,
    *(col for pair in FORECASTS.values() for col in pair),
)


def _records(ctx: BlockContext, last_day) -> pl.LazyFrame:
    """``fins_summary`` rows usable by ``last_day``, with ``available_from`` (read once: the
    state below joins them many times)."""
    raw = ops.own_codes(ctx.store.scan(SOURCE).select(COLUMNS), ctx.base)
    return (
        with_available_from(raw, SOURCE, ctx.calendar)
        .filter(pl.col(AVAILABLE_FROM) <= last_day)
        .collect()
        .lazy()
    )


def _statements(records: pl.LazyFrame) -> pl.LazyFrame:
    """One row per (Code, period, available_from): the statement versions, with ``version``."""
    c = pl.col
    return (
        records.filter(
            c("DocType").str.contains("FinancialStatements")
            & c("CurPerType").is_in(list(QUARTERS))
            & c("CurPerEn").is_not_null()
        )
        .with_columns(
            c("CurPerType").replace_strict(QUARTERS, return_dtype=pl.Int8).alias("fq"),
            (c("CurPerEn").dt.year() * 12 + c("CurPerEn").dt.month()).alias("pm"),
        )
        .sort("Code", "pm", AVAILABLE_FROM, *ORDER)
        .unique(subset=["Code", "pm", AVAILABLE_FROM], keep="last", maintain_order=True)
        .with_columns(pl.int_range(pl.len()).over("Code", "pm").alias("version"))
    )


def _forecasts(ctx: BlockContext, records: pl.LazyFrame) -> pl.LazyFrame:
    """Per (Code, target, available_from): forecasts in force and their revision vs the previous.

    The dividend-per-share forecast is divided by ``F(available_from)`` (adjusted-share units),
    so a split between two disclosures is not a revision and yields stay split-safe.
    """
    c = pl.col
    cur = records.select(
        "Code",
        AVAILABLE_FROM,
        *ORDER,
        c("CurFYEn").alias("target"),
        pl.lit(1).alias("_kind"),
        *(c(cur_col).alias(f"f_{i}") for i, (cur_col, _) in FORECASTS.items()),
    )
    nxt = records.select(
        "Code",
        AVAILABLE_FROM,
        *ORDER,
        c("NxtFYEn").alias("target"),
        pl.lit(0).alias("_kind"),
        *(c(nx_col).alias(f"f_{i}") for i, (_, nx_col) in FORECASTS.items()),
    )
    f_cols = [f"f_{i}" for i in FORECASTS]
    both = pl.concat([cur, nxt]).filter(
        c("target").is_not_null() & pl.any_horizontal(c(f_cols).is_not_null())
    )
    both = split_factor_at(ctx, both, AVAILABLE_FROM).with_columns(c("f_div") / c("split_F"))
    # Same target and availability: a current-year forecast beats a next-year one, then the
    # later disclosure wins; empty fields keep the value of the previous disclosure.
    return (
        both.sort("Code", "target", AVAILABLE_FROM, "_kind", *ORDER)
        .with_columns(c(f_cols).forward_fill().over("Code", "target"))
        .unique(subset=["Code", "target", AVAILABLE_FROM], keep="last", maintain_order=True)
        .with_columns(
            growth(c(f), c(f).shift(1).over("Code", "target")).alias(f"rev_{f[2:]}") for f in f_cols
        )
        .select("Code", "target", AVAILABLE_FROM, *f_cols, *(f"rev_{i}" for i in FORECASTS))
    )


def stored_splits(ctx: BlockContext) -> pl.LazyFrame:
    """``Code, Date, split_F`` (∏ AdjFactor over the stock's stored bars up to ``Date``) and the
    availability of every stored bar with ``AdjFactor`` ≠ 1 — the only bars that change the
    product, so only those are kept. Every stock's, read once per build (``ctx.shared``)."""
    splits = ctx.shared.get(SPLITS)
    if splits is None:
        bars = ctx.store.scan("equities_bars_daily").select("Code", "Date", "AdjFactor")
        splits = (
            bars.filter(pl.col("AdjFactor").is_not_null() & (pl.col("AdjFactor") != 1.0))
            .unique(subset=["Code", "Date"], keep="first")
            .sort("Code", "Date")
            .with_columns(pl.col("AdjFactor").cum_prod().over("Code").alias("split_F"))
            .select("Code", "Date", "split_F")
        )
        splits = with_available_from(splits, "equities_bars_daily", ctx.calendar).collect()
        splits = ctx.shared.setdefault(SPLITS, splits)
    return splits.lazy()


def split_factor_at(ctx: BlockContext, rows: pl.LazyFrame, date_col: str) -> pl.LazyFrame:
    """``rows`` plus ``split_F`` = ∏ AdjFactor over the stock's stored bars dated ≤ ``date_col``
    (:func:`stored_splits`)."""
    joined = ctx.asof_join(
        rows,
        stored_splits(ctx),
        source_name="equities_bars_daily",
        by="Code",
        row_date=date_col,
        columns=["split_F"],
    )
    return joined.with_columns(pl.col("split_F").fill_null(1.0))


def _event_state(ctx: BlockContext, records: pl.LazyFrame) -> pl.LazyFrame:
    """The block's state at every event (Code, available_from); see the module docstring."""
    c = pl.col
    stmts = _statements(records).collect().lazy()
    events = records.select("Code", c(AVAILABLE_FROM).alias("ev")).unique()
    running = (
        stmts.group_by("Code", AVAILABLE_FROM)
        .agg(c("pm").max())
        .sort("Code", AVAILABLE_FROM)
        .select("Code", AVAILABLE_FROM, c("pm").cum_max().over("Code").alias("cur_pm"))
    )
    state = ctx.asof_join(events, running, source_name=SOURCE, by="Code", row_date="ev").filter(
        c("cur_pm").is_not_null()
    )
    values = ["Sales", "OP", "NP", "fq", "CurFYEn"]
    for k in range(N_PERIODS):
        extra = (
            [
                "Eq",
                "TA",
                "NxtFYEn",
                "DocType",
                "version",
                "ShOutFY",
                "TrShFY",
                "CurPerEn",
                *FLAGS,
            ]
            if k == 0
            else []
        )
        src = stmts.select(
            "Code",
            "pm",
            AVAILABLE_FROM,
            *(c(v).alias(f"{v}_{k}") for v in values),
            *(c(v).alias(f"{v}_0") for v in extra),
        )
        state = ctx.asof_join(
            state.with_columns((c("cur_pm") - 3 * k).alias("pm")),
            src,
            source_name=SOURCE,
            by=["Code", "pm"],
            row_date="ev",
            keep_availability="stmt_avail" if k == 0 else None,
        ).drop("pm")
    for k in range(N_PERIODS - 1):
        same_year = (c(f"fq_{k + 1}") == c(f"fq_{k}") - 1) & (
            c(f"CurFYEn_{k + 1}") == c(f"CurFYEn_{k}")
        )
        state = state.with_columns(
            pl.when(c(f"fq_{k}") == 1)
            .then(c(f"{v}_{k}"))
            .when(same_year)
            .then(c(f"{v}_{k}") - c(f"{v}_{k + 1}"))
            .alias(f"q{v}_{k}")
            for v in ITEMS.values()
        )
    state = state.with_columns(
        # sum_horizontal ignores nulls: keep a TTM only where all four increments exist.
        *(
            pl.when(pl.all_horizontal(c(f"q{v}_{k}").is_not_null() for k in range(lo, lo + 4)))
            .then(pl.sum_horizontal(c(f"q{v}_{k}") for k in range(lo, lo + 4)))
            .alias(f"ttm{v}_{lo}")
            for v in ITEMS.values()
            for lo in (0, 4)
        ),
        pl.when(c("fq_0") == 4).then(c("NxtFYEn_0")).otherwise(c("CurFYEn_0")).alias("target"),
        (c("stmt_avail") - timedelta(days=1)).alias("before_stmt"),
    )
    # Read by three as-of joins, each its own query: computed once.
    fc = _forecasts(ctx, records).collect().lazy()
    f_cols = [f"f_{i}" for i in FORECASTS]
    rev_cols = [f"rev_{i}" for i in FORECASTS]
    state = ctx.asof_join(
        state,
        fc.select("Code", "target", AVAILABLE_FROM, *f_cols, *rev_cols),
        source_name=SOURCE,
        by=["Code", "target"],
        row_date="ev",
    )
    for suffix, row_date in (("fy0", "ev"), ("prior", "before_stmt")):
        state = ctx.asof_join(
            state.with_columns(c("CurFYEn_0").alias("target")),
            fc.select(
                "Code",
                "target",
                AVAILABLE_FROM,
                *(c(f).alias(f"{f}_{suffix}") for f in f_cols),
            ),
            source_name=SOURCE,
            by=["Code", "target"],
            row_date=row_date,
        )
    state = split_factor_at(ctx, state, "CurPerEn_0")
    return state.with_columns(_state_exprs()).select(
        "Code",
        c("ev").alias(AVAILABLE_FROM),
        "stmt_avail",
        "shares_adj",
        "ttmNP_0",
        "ttmSales_0",
        "Eq_0",
        "f_np",
        "f_div",
        *_STATE_COLUMNS,
    )


def _any_flag(*names: str) -> pl.Expr:
    """True if any reported flag is true; null only when none of them is reported (a field that
    did not exist yet, e.g. ``SigChgInC`` before 2024-07-22, does not null the others)."""
    cols = [pl.col(n) for n in names]
    return (
        pl.when(pl.any_horizontal(col.is_not_null() for col in cols))
        .then(pl.any_horizontal(col.fill_null(False) for col in cols))
        .otherwise(None)
    )


def _state_exprs() -> list[pl.Expr]:
    c = pl.col
    exprs = [
        c("fq_0").alias("stmt_fq"),
        ops.ratio(c("ttmOP_0"), c("ttmSales_0")).alias("stmt_opm_ttm"),
        ops.ratio(c("ttmNP_0"), c("ttmSales_0")).alias("stmt_npm_ttm"),
        ops.ratio(c("qOP_0"), c("qSales_0")).alias("stmt_opm_q"),
        ops.ratio(c("ttmNP_0"), c("Eq_0")).alias("stmt_roe_ttm"),
        ops.ratio(c("ttmNP_0"), c("TA_0")).alias("stmt_roa_ttm"),
        ops.ratio(c("Eq_0"), c("TA_0")).alias("stmt_equity_ratio"),
        _any_flag("ChgByASRev_0", "ChgNoASRev_0", "RetroRst_0").alias("stmt_acct_change"),
        c("ChgAcEst_0").alias("stmt_est_change"),
        _any_flag("MatChgSub_0", "SigChgInC_0").alias("stmt_scope_change"),
        c("DocType_0").str.contains("_Consolidated").alias("stmt_consolidated"),
        c("rev_div").alias("stmt_rev_div"),
        (c("version_0") > 0).alias("stmt_restated"),
        ((c("ShOutFY_0") - c("TrShFY_0").fill_null(0.0)) * c("split_F")).alias("shares_adj"),
    ]
    for i, v in ITEMS.items():
        exprs += [
            growth(c(f"ttm{v}_0"), c(f"ttm{v}_4")).alias(f"stmt_{i}_yoy_ttm"),
            growth(c(f"q{v}_0"), c(f"q{v}_4")).alias(f"stmt_{i}_yoy_q"),
            ops.ratio(c(f"{v}_0"), c(f"f_{i}_fy0")).alias(f"stmt_progress_{i}"),
            c(f"rev_{i}").alias(f"stmt_rev_{i}"),
        ]
    for i in ("sales", "op"):
        v = ITEMS[i]
        expected = (c(f"f_{i}_prior") - (c(f"{v}_0") - c(f"q{v}_0"))) / (5 - c("fq_0"))
        exprs.append(growth(c(f"q{v}_0"), expected).alias(f"stmt_surprise_{i}_q"))
    return exprs


def compute(ctx: BlockContext) -> pl.LazyFrame:
    """Statement state as of each row (latest events available on t) plus valuation ratios."""
    c = pl.col
    rows = ctx.base.select("Code", "Date", "AdjC")
    last_day = rows.select(c("Date").max()).collect().item()
    state = _event_state(ctx, _records(ctx, last_day))
    joined = ctx.asof_join(rows, state, source_name=SOURCE, by="Code")
    mcap = c("shares_adj") * c("AdjC")
    out = joined.with_columns(
        (c("Date") - c("stmt_avail")).dt.total_days().alias("stmt_days_since_disc"),
        mcap.log().alias("stmt_log_mcap"),
        ops.ratio(c("ttmNP_0"), mcap).alias("stmt_ep_ttm"),
        ops.ratio(c("Eq_0"), mcap).alias("stmt_bp"),
        ops.ratio(c("ttmSales_0"), mcap).alias("stmt_sp_ttm"),
        ops.ratio(c("f_np"), mcap).alias("stmt_ep_fcst"),
        ops.ratio(c("f_div"), c("AdjC")).alias("stmt_div_fcst_yield"),
    )
    return ops.finalize(out, FEATURES)


BLOCK = Block(
    name="statements",
    sources=(SOURCE, "equities_bars_daily"),
    availability="statement_disclosure",
    lookback=0,
    features=FEATURES,
    compute=compute,
)

BLOCKS: tuple[Block, ...] = (BLOCK,)
