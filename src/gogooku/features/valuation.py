"""Valuation block (``val_*``) from ``equities_valuation`` (daily PER/PBR per stock).

A record dated ``d`` is usable from the first trading day after ``d`` (``next_trading_day``):
the API publishes ~16:30 JST, but the time is approximate, so the rule stays conservative and a
row on ``t`` sees the valuation of the previous trading day (at that day's close).

Ratios are taken as yields — earnings yield ``1 / PER``, book-to-price ``1 / PBR``, forward
earnings yield ``1 / FwdPER`` — so a loss gives a small negative value instead of a PER that
flips sign and blows up as EPS crosses zero. A dividend yield is not part of this source (the
API has no dividend field); ``div_yield_ttm`` of the dividends block carries it.

Sector ranks are per date within the row's own 33-sector ``S33`` over the stocks with a value:
``(rank - 1) / (n - 1)`` with average ranks for ties, 0 the lowest yield (the most expensive),
1 the highest; null when fewer than two stocks of the sector have a value. Changes are over the
stock's own last 20 rows.
"""

from __future__ import annotations

import polars as pl

from gogooku.features import ops
from gogooku.features.availability import with_available_from
from gogooku.features.base import Block, BlockContext, Feature

SOURCE = "equities_valuation"
CHANGE = 20
YIELDS = (
    ("val_ey", "PER", "Trailing earnings yield (1 / PER; EPS / close)"),
    ("val_bp", "PBR", "Book-to-price (1 / PBR; BPS / close)"),
    ("val_fey", "FwdPER", "Forward earnings yield (1 / FwdPER; forecast EPS / close)"),
)
RANKED = ("val_ey", "val_bp")

FEATURES: tuple[Feature, ...] = (
    *(Feature(name, text, f"1 / {col}_(t-1)", None) for name, col, text in YIELDS),
    *(ops.sector_rank_feature(name) for name in RANKED),
    *(
        Feature(
            f"{name}_chg{CHANGE}",
            f"Change of {name} over the stock's last {CHANGE} rows",
            f"{name}_t - {name}_(t-{CHANGE})",
            CHANGE,
        )
        for name in RANKED
    ),
)


def compute(ctx: BlockContext) -> pl.LazyFrame:
    """Yields from the latest usable valuation record, their sector ranks and 20-day changes."""
    c = pl.col
    rows = ctx.base.select(ops.CODE, ops.DATE, "S33")
    records = with_available_from(
        ctx.store.scan(SOURCE).select("Code", "Date", "PER", "PBR", "FwdPER"),
        SOURCE,
        ctx.calendar,
    ).drop("Date")
    joined = ctx.asof_join(rows, records, source_name=SOURCE, by="Code")
    out = joined.with_columns(
        ops.ratio(pl.lit(1.0), c(col)).alias(name) for name, col, _ in YIELDS
    ).with_columns(
        *(ops.sector_rank(c(name)).alias(f"{name}_rank_s33") for name in RANKED),
        *((c(name) - ops.lag(c(name), CHANGE)).alias(f"{name}_chg{CHANGE}") for name in RANKED),
    )
    return ops.finalize(out, FEATURES)


BLOCK = Block(
    name="valuation",
    sources=(SOURCE, "equities_master"),
    availability="next_trading_day",
    lookback=CHANGE,
    features=FEATURES,
    compute=compute,
    cross_sectional=True,
)

BLOCKS: tuple[Block, ...] = (BLOCK,)
