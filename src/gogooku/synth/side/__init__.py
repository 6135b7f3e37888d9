"""Observable side datasets of the synthetic market, rendered from ``MarketState`` after prices.

``render_side_tables(state)`` returns every table below keyed by dataset id, each with exactly the
catalogue schema ``gogooku.jquants.endpoints.ENDPOINTS[id].schema``. ``equities_valuation`` and
``fins_details`` are rendered last, from the rendered ``fins_summary`` (and the closes).
"""

from __future__ import annotations

import polars as pl

from gogooku.synth.side.breakdown import render_breakdown
from gogooku.synth.side.dividends import render_dividends
from gogooku.synth.side.earnings import render_earnings
from gogooku.synth.side.edinet import render_edinet
from gogooku.synth.side.fins_details import render_fins_details
from gogooku.synth.side.futures import render_futures
from gogooku.synth.side.indices import render_indices
from gogooku.synth.side.investor_types import render_investor_types
from gogooku.synth.side.margin import render_margin
from gogooku.synth.side.options import render_options
from gogooku.synth.side.short_selling import render_short_selling
from gogooku.synth.side.statements import render_statements
from gogooku.synth.side.tdnet import render_tdnet
from gogooku.synth.side.valuation import render_valuation
from gogooku.synth.state import MarketState

RENDERERS = (
    render_margin,
    render_investor_types,
    render_short_selling,
    render_options,
    render_statements,
    render_earnings,
    render_dividends,
    render_indices,
    render_breakdown,
    render_futures,
    render_tdnet,
    render_edinet,
)

SIDE_DATASETS = (
    "markets_margin_interest",
    "markets_margin_alert",
    "equities_investor_types",
    "markets_short_ratio",
    "markets_short_sale_report",
    "options_225",
    "fins_summary",
    "fins_earnings_date",
    "equities_earnings_calendar",
    "fins_dividend",
    "indices_bars_daily",
    "markets_breakdown",
    "futures",
    "equities_valuation",
    "fins_details",
    "td_list",
    "edinet_major_shareholders",
    "edinet_cross_shareholdings",
    "edinet_large_volume_shareholders",
)


def render_side_tables(state: MarketState) -> dict[str, pl.DataFrame]:
    """Every side dataset of ``state`` (ids in ``SIDE_DATASETS``)."""
    tables: dict[str, pl.DataFrame] = {}
    for render in RENDERERS:
        tables.update(render(state))
    tables.update(render_valuation(state, tables["fins_summary"]))
    tables.update(render_fins_details(state, tables["fins_summary"]))
    return tables


__all__ = ["SIDE_DATASETS", "render_side_tables"]
