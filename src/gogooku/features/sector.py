"""Sector block (``sector``): 33- and 17-sector aggregates, the stock against its sector, ids.

Sector membership is the row's own ``S33``/``S17`` (the master as of that date). For each date
and sector, aggregates run over the member stocks whose return is present that day (a stock
with a missing return — no trade, warm-up — is left out rather than counted as zero)::

    sec_ret_{h}d = mean over members of ret_prev_{h}d     (equal weight)
    sec_breadth  = share of members with ret_prev_1d > 0
    sec_disp     = cross-sectional std of members' ret_prev_1d (ddof 1)
    sec_n        = number of listed members that day (rows of the sector, traded or not)
    sec_vol_20d  = std over the sector's last 20 dates of sec_ret_1d · √245
    ret_{h}d_rel = ret_prev_{h}d − sec_ret_{h}d
    ret_20d_z    = (ret_prev_20d − sec_ret_20d) / std of members' ret_prev_20d

with ``ret_prev_{h}d`` as in the returns block. ``sec_vol_20d`` runs over the dates on which the
sector had at least one member return (2020-10-01 has none and is skipped). The equal-weight
market aggregates (``mkt_ew_*``) are the same statistics over all stocks.

Integer ids for embeddings come from the fixed J-Quants code tables (``S33_CODES``,
``S17_CODES``, ``MARKET_CODES``): id = 1 + position in the table, 0 for a missing or unknown
code. They never depend on which stocks are in the data.
"""

from __future__ import annotations

import polars as pl

from gogooku.features import ops
from gogooku.features.base import Block, BlockContext, Feature
from gogooku.features.returns import with_horizon_returns

S33_CODES: tuple[str, ...] = (
    "0050", "1050", "2050", "3050", "3100", "3150", "3200", "3250", "3300", "3350", "3400",
    "3450", "3500", "3550", "3600", "3650", "3700", "3750", "3800", "4050", "5050", "5100",
    "5150", "5200", "5250", "6050", "6100", "7050", "7100", "7150", "7200", "8050", "9050",
    "9999",
)  # fmt: skip
S17_CODES: tuple[str, ...] = (*(str(i) for i in range(1, 18)), "99")
MARKET_CODES: tuple[str, ...] = (
    "0101", "0102", "0104", "0105", "0106", "0107", "0109", "0111", "0112", "0113",
)  # fmt: skip

STATIC_ID_TABLES: dict[str, tuple[str, ...]] = {
    "sector33_id": S33_CODES,
    "sector17_id": S17_CODES,
    "market_id": MARKET_CODES,
}

HORIZONS = (1, 5, 20, 60)
REL_HORIZONS = (1, 5, 20)
LEVELS = (("sec33", "S33", "33-sector"), ("sec17", "S17", "17-sector"))
VOL_WINDOW = 20


def _level_features(prefix: str, label: str) -> tuple[Feature, ...]:
    return (
        *(
            Feature(
                f"{prefix}_ret_{h}d",
                f"Equal-weight {label} mean of members' {h}-day returns"
                + (" (sector momentum)" if h == 60 else ""),
                f"mean over members with a return of ret_prev_{h}d",
                h + 1,
            )
            for h in HORIZONS
        ),
        Feature(
            f"{prefix}_vol_20d",
            f"Volatility of the {label} equal-weight daily return, annualised",
            f"std over the sector's last 20 dates of {prefix}_ret_1d * sqrt(245)",
            VOL_WINDOW + 1,
        ),
        Feature(
            f"{prefix}_breadth_1d",
            f"Share of {label} members up today",
            "mean over members of (ret_prev_1d > 0)",
            2,
        ),
        Feature(
            f"{prefix}_disp_1d",
            f"Cross-sectional dispersion of {label} members' daily returns",
            "std over members of ret_prev_1d",
            2,
        ),
        Feature(
            f"{prefix}_n",
            f"Listed members of the stock's {label} today",
            "count of rows with the same sector code and Date",
            None,
        ),
        *(
            Feature(
                f"ret_{h}d_rel_{prefix}",
                f"Stock minus {label} {h}-day return",
                f"ret_prev_{h}d - {prefix}_ret_{h}d",
                h + 1,
            )
            for h in REL_HORIZONS
        ),
        Feature(
            f"ret_20d_z_{prefix}",
            f"Stock's 20-day return standardised within its {label}",
            f"(ret_prev_20d - {prefix}_ret_20d) / std over members of ret_prev_20d",
            21,
        ),
    )


_MARKET_EW_FEATURES: tuple[Feature, ...] = (
    Feature(
        "mkt_ew_ret_1d", "Equal-weight mean daily return of all stocks", "mean(ret_prev_1d)", 2
    ),
    Feature(
        "mkt_ew_ret_20d", "Equal-weight mean 20-day return of all stocks", "mean(ret_prev_20d)", 21
    ),
    Feature("mkt_breadth_1d", "Share of all stocks up today", "mean(ret_prev_1d > 0)", 2),
    Feature("mkt_disp_1d", "Cross-sectional std of all daily returns", "std(ret_prev_1d)", 2),
)

_ID_FEATURES: tuple[Feature, ...] = (
    Feature(
        "sector33_id",
        "33-sector id for embeddings (fixed code table; 0 = unknown)",
        "1 + index of S33 in S33_CODES, else 0",
        None,
        "Int16",
    ),
    Feature(
        "sector17_id",
        "17-sector id for embeddings (fixed code table; 0 = unknown)",
        "1 + index of S17 in S17_CODES, else 0",
        None,
        "Int16",
    ),
    Feature(
        "market_id",
        "Market segment id for embeddings (fixed code table; 0 = unknown)",
        "1 + index of Mkt in MARKET_CODES, else 0",
        None,
        "Int16",
    ),
)

FEATURES: tuple[Feature, ...] = (
    *(f for prefix, _, label in LEVELS for f in _level_features(prefix, label)),
    *_MARKET_EW_FEATURES,
    *_ID_FEATURES,
)

LOOKBACK = ops.lookback(FEATURES)


def code_id(column: str, table: tuple[str, ...]) -> pl.Expr:
    """``1 + position`` of the code in ``table``; 0 for null or unknown codes."""
    mapping = {code: i + 1 for i, code in enumerate(table)}
    return pl.col(column).replace_strict(mapping, default=0, return_dtype=pl.Int16).fill_null(0)


def _cross_section(frame: pl.LazyFrame, keys: list[str], prefix: str) -> pl.LazyFrame:
    r1 = pl.col("ret_prev_1d")
    return frame.group_by(keys).agg(
        *(pl.col(f"ret_prev_{h}d").mean().alias(f"{prefix}_ret_{h}d") for h in HORIZONS),
        (r1.drop_nulls() > 0).mean().alias(f"{prefix}_breadth_1d"),
        r1.std().alias(f"{prefix}_disp_1d"),
        pl.col("ret_prev_20d").std().alias(f"_{prefix}_sd20"),
        pl.len().alias(f"{prefix}_n"),
    )


def _sector_frame(frame: pl.LazyFrame, column: str, prefix: str) -> pl.LazyFrame:
    agg = _cross_section(frame.filter(pl.col(column).is_not_null()), [ops.DATE, column], prefix)
    ret1 = pl.col(f"{prefix}_ret_1d")
    vol = (
        agg.filter(ret1.is_not_null())
        .sort(column, ops.DATE)
        .select(
            ops.DATE,
            column,
            ret1.rolling_std(VOL_WINDOW, min_samples=VOL_WINDOW)
            .over(column)
            .mul(ops.SQRT_ANNUALISATION)
            .alias(f"{prefix}_vol_20d"),
        )
    )
    return agg.join(vol, on=[ops.DATE, column], how="left")


def compute(ctx: BlockContext) -> pl.LazyFrame:
    """Sector and equal-weight market aggregates, relative returns and code-table ids."""
    rows = with_horizon_returns(ctx.base, HORIZONS).select(
        ops.CODE, ops.DATE, "S33", "S17", "Mkt", *(f"ret_prev_{h}d" for h in HORIZONS)
    )
    out = rows
    for prefix, column, _ in LEVELS:
        out = out.join(
            _sector_frame(rows, column, prefix),
            on=[ops.DATE, column],
            how="left",
            maintain_order="left",
        )
        out = out.with_columns(
            *(
                (pl.col(f"ret_prev_{h}d") - pl.col(f"{prefix}_ret_{h}d")).alias(
                    f"ret_{h}d_rel_{prefix}"
                )
                for h in REL_HORIZONS
            ),
            ops.ratio(
                pl.col("ret_prev_20d") - pl.col(f"{prefix}_ret_20d"), pl.col(f"_{prefix}_sd20")
            ).alias(f"ret_20d_z_{prefix}"),
        )
    market = _cross_section(rows, [ops.DATE], "mkt_ew").select(
        ops.DATE,
        "mkt_ew_ret_1d",
        "mkt_ew_ret_20d",
        pl.col("mkt_ew_breadth_1d").alias("mkt_breadth_1d"),
        pl.col("mkt_ew_disp_1d").alias("mkt_disp_1d"),
    )
    out = out.join(market, on=ops.DATE, how="left", maintain_order="left").with_columns(
        code_id("S33", S33_CODES).alias("sector33_id"),
        code_id("S17", S17_CODES).alias("sector17_id"),
        code_id("Mkt", MARKET_CODES).alias("market_id"),
    )
    return ops.in_memory(ops.finalize(out, FEATURES))


BLOCK = Block(
    name="sector",
    sources=("equities_bars_daily", "equities_master"),
    availability="bars_same_day",
    lookback=LOOKBACK,
    features=FEATURES,
    compute=compute,
    cross_sectional=True,
)

BLOCKS: tuple[Block, ...] = (BLOCK,)
