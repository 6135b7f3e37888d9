"""Interaction blocks (``x_*``): products of other blocks' columns, computed in the builder's stage 2.

Each block is a :class:`DerivedBlock` whose ``requires`` names the blocks whose feature columns it
reads; the dataset builder runs it after those blocks, on the build-range rows with their
columns attached, and skips it (listed in ``features.json``) when one of them is not built.
Interactions are point-wise in their inputs (no windows of their own), so they are exactly as
point-in-time as the inputs; nulls propagate (no imputation). Inputs on very different scales are
first brought to a comparable one (a log, a ratio to 1, a recency weight).

Blocks: ``x_price`` (momentum × volatility regime, reversal × illiquidity, volume × direction),
``x_fins`` (earnings progress and surprise × disclosure recency), ``x_flow`` (investor flow ×
relative strength), ``x_graph`` (peer momentum gap).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from gogooku.features import ops
from gogooku.features.base import Block, BlockContext, Feature

# Half-life-like scale of the disclosure recency weight, in calendar days.
RECENCY_DAYS = 10.0


@dataclass(frozen=True)
class DerivedBlock(Block):
    """A block computed from other blocks' feature columns (``requires``: their block names)."""

    requires: tuple[str, ...] = ()


def _block(
    name: str,
    requires: tuple[str, ...],
    sources: tuple[str, ...],
    availability: str,
    spec: dict[str, tuple],
) -> DerivedBlock:
    """``spec``: feature name -> (description, formula, expression); ``availability`` is the
    rule of the slowest input source."""
    features = tuple(Feature(n, d, f, None) for n, (d, f, _) in spec.items())

    def compute(ctx: BlockContext) -> pl.LazyFrame:
        frame = ctx.base.with_columns(expr.alias(n) for n, (_, _, expr) in spec.items())
        return ops.finalize(frame, features)

    compute.__doc__ = f"Interactions {', '.join(spec)} (formulas in the feature declarations)."
    return DerivedBlock(
        name=name,
        sources=sources,
        availability=availability,
        lookback=0,
        features=features,
        compute=compute,
        requires=requires,
    )


def _col(name: str) -> pl.Expr:
    return pl.col(name).cast(pl.Float64)


def _recency(days: str) -> pl.Expr:
    return (-_col(days) / RECENCY_DAYS).exp()


PRICE = _block(
    "x_price",
    ("returns", "volatility", "liquidity", "technicals", "market"),
    ("equities_bars_daily", "indices_topix"),
    "bars_same_day",
    {
        "x_mom_sharpe_20d": (
            "20-day return per unit of the stock's 20-day volatility",
            "ret_prev_20d / rv_20d",
            ops.ratio(_col("ret_prev_20d"), _col("rv_20d")),
        ),
        "x_mom_mkt_vol_regime": (
            "20-day momentum scaled by the TOPIX volatility regime (rising short-term vol > 0)",
            "ret_prev_20d * (topix_vol_20d / topix_vol_60d - 1)",
            _col("ret_prev_20d") * (ops.ratio(_col("topix_vol_20d"), _col("topix_vol_60d")) - 1),
        ),
        "x_rev_illiq_5d": (
            "5-day reversal weighted by illiquidity",
            "-ret_prev_5d * ln(1 + amihud_20d)",
            -_col("ret_prev_5d") * _col("amihud_20d").log1p(),
        ),
        "x_rvol_dir": (
            "Relative volume signed by today's return direction",
            "volume_ratio_5 * sign(ret_prev_1d)",
            _col("volume_ratio_5") * _col("ret_prev_1d").sign(),
        ),
    },
)

FINS = _block(
    "x_fins",
    ("statements",),
    ("fins_summary", "equities_bars_daily"),
    "statement_disclosure",
    {
        "x_progress_recency": (
            "Operating-profit progress weighted by how recent the statement is",
            f"stmt_progress_op * exp(-stmt_days_since_disc / {RECENCY_DAYS:g})",
            _col("stmt_progress_op") * _recency("stmt_days_since_disc"),
        ),
        "x_surprise_recency": (
            "Quarterly operating-profit surprise weighted by how recent the statement is",
            f"stmt_surprise_op_q * exp(-stmt_days_since_disc / {RECENCY_DAYS:g})",
            _col("stmt_surprise_op_q") * _recency("stmt_days_since_disc"),
        ),
    },
)

FLOW = _block(
    "x_flow",
    ("flows", "sector", "returns"),
    ("equities_investor_types", "equities_master", "equities_bars_daily"),
    "next_trading_day",
    {
        "x_flow_smart_rel": (
            "Section smart-money index times the stock's 5-day strength against its sector",
            "flow_smart_idx * ret_5d_rel_sec33",
            _col("flow_smart_idx") * _col("ret_5d_rel_sec33"),
        ),
        "x_foreign_rel": (
            "Foreigners' net-buying z-score times the stock's 20-day strength against its sector",
            "flow_foreign_net_z52 * ret_20d_rel_sec33",
            _col("flow_foreign_net_z52") * _col("ret_20d_rel_sec33"),
        ),
    },
)

GRAPH = _block(
    "x_graph",
    ("graph", "returns"),
    ("equities_bars_daily",),
    "bars_same_day",
    {
        "x_peer_mom_gap_20d": (
            "Correlation-graph peers' 20-day return minus the stock's own (lead-lag catch-up)",
            "graph_peer_mom_20d - ret_prev_20d",
            _col("graph_peer_mom_20d") - _col("ret_prev_20d"),
        ),
    },
)

BLOCKS: tuple[Block, ...] = (PRICE, FINS, FLOW, GRAPH)
