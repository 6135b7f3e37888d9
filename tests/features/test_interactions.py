"""Interaction blocks: formulas by hand, declared requirements, stage-2 build, skip rules."""

from __future__ import annotations

import math
from datetime import date

import polars as pl
import pytest

from gogooku.dataset.asof import asof_join
from gogooku.dataset.plan import plan_blocks, requires
from gogooku.features.base import BlockContext
from gogooku.features.interactions import BLOCKS, FINS, FLOW, GRAPH, PRICE, RECENCY_DAYS
from gogooku.features.registry import BLOCKS as REGISTRY

from .conftest import graph_calendar

ROWS = pl.DataFrame(
    {
        "Code": ["13010", "13010", "72030"],
        "Date": [date(2023, 3, 1), date(2023, 3, 2), date(2023, 3, 1)],
        "ret_prev_1d": [0.01, -0.02, None],
        "ret_prev_5d": [0.05, -0.04, 0.0],
        "ret_prev_20d": [0.10, 0.20, -0.3],
        "rv_20d": [0.25, 0.0, 0.5],
        "topix_vol_20d": [0.2, 0.3, 0.2],
        "topix_vol_60d": [0.16, 0.2, 0.16],
        "amihud_20d": [1.5, 0.0, 3.0],
        "volume_ratio_5": [2.0, 0.5, 1.0],
        "stmt_progress_op": [0.8, None, 0.5],
        "stmt_surprise_op_q": [0.1, 0.2, -0.5],
        "stmt_days_since_disc": pl.Series([0, 5, 20], dtype=pl.Int32),
        "flow_smart_idx": [1.2, 1.2, -0.5],
        "flow_foreign_net_z52": [2.0, 2.0, 0.0],
        "ret_5d_rel_sec33": [0.03, -0.01, 0.02],
        "ret_20d_rel_sec33": [0.04, 0.05, -0.1],
        "graph_peer_mom_20d": [0.15, None, 0.1],
    }
)


def _run(block) -> pl.DataFrame:
    ctx = BlockContext(ROWS.lazy(), graph_calendar(), None, asof_join)
    out = block.compute(ctx).collect()
    assert out.columns == ["Code", "Date", *block.feature_names]
    return out


def test_price_interactions_by_hand():
    out = _run(PRICE)
    assert out["x_mom_sharpe_20d"].to_list()[0] == pytest.approx(0.10 / 0.25)
    assert out["x_mom_sharpe_20d"][1] is None  # zero volatility: no ratio, no infinity
    assert out["x_mom_sharpe_20d"][2] == pytest.approx(-0.3 / 0.5)
    assert out["x_mom_mkt_vol_regime"].to_list() == pytest.approx(
        [0.10 * (0.2 / 0.16 - 1), 0.20 * (0.3 / 0.2 - 1), -0.3 * (0.2 / 0.16 - 1)]
    )
    assert out["x_rev_illiq_5d"].to_list() == pytest.approx([-0.05 * math.log1p(1.5), 0.0, 0.0])
    assert out["x_rvol_dir"].to_list()[:2] == pytest.approx([2.0, -0.5])
    assert out["x_rvol_dir"][2] is None  # no return: null propagates


def test_fins_flow_graph_interactions_by_hand():
    fins = _run(FINS)
    decay = [math.exp(-d / RECENCY_DAYS) for d in (0, 5, 20)]
    assert fins["x_progress_recency"][0] == pytest.approx(0.8 * decay[0])
    assert fins["x_progress_recency"][1] is None
    assert fins["x_progress_recency"][2] == pytest.approx(0.5 * decay[2])
    assert fins["x_surprise_recency"].to_list() == pytest.approx(
        [0.1 * decay[0], 0.2 * decay[1], -0.5 * decay[2]]
    )
    flow = _run(FLOW)
    assert flow["x_flow_smart_rel"].to_list() == pytest.approx([0.036, -0.012, -0.01])
    assert flow["x_foreign_rel"].to_list() == pytest.approx([0.08, 0.1, 0.0])
    graph = _run(GRAPH)
    assert graph["x_peer_mom_gap_20d"][0] == pytest.approx(0.05)
    assert graph["x_peer_mom_gap_20d"][1] is None
    assert graph["x_peer_mom_gap_20d"][2] == pytest.approx(0.4)


def _fails_without(block, column: str) -> bool:
    ctx = BlockContext(ROWS.drop(column).lazy(), graph_calendar(), None, asof_join)
    try:
        block.compute(ctx).collect()
    except pl.exceptions.ColumnNotFoundError:
        return True
    return False


def test_every_input_is_a_column_of_a_required_block():
    inputs = [c for c in ROWS.columns if c not in ("Code", "Date")]
    for block in BLOCKS:
        assert requires(block), block.name
        provided = {f for name in requires(block) for f in REGISTRY[name].feature_names}
        needed = {c for c in inputs if _fails_without(block, c)}
        assert needed, block.name
        assert needed <= provided, (block.name, needed - provided)


class _Store:
    """Only answers whether a dataset has rows (what block selection asks)."""

    def __init__(self, present: set[str]) -> None:
        self.present = present

    def scan(self, dataset: str) -> pl.LazyFrame:
        days = [date(2023, 1, 4)] if dataset in self.present else []
        return pl.LazyFrame({"Date": days}, schema={"Date": pl.Date})


def test_derived_blocks_are_skipped_when_a_required_block_is_not_built():
    store = _Store({"equities_bars_daily", "indices_topix", "fins_summary"})
    selected, skipped = plan_blocks(
        [
            "returns",
            "volatility",
            "liquidity",
            "technicals",
            "market",
            "x_price",
            "x_fins",
            "x_flow",
        ],
        store,
        REGISTRY,
    )
    assert [b.name for b in selected] == [
        "returns",
        "volatility",
        "liquidity",
        "technicals",
        "market",
        "x_price",
    ]
    assert skipped == {
        "x_fins": "requires block(s) statements, which are not built",
        "x_flow": "no raw data for source(s) equities_investor_types",
    }


def test_a_derived_block_may_only_require_registered_plain_blocks():
    from dataclasses import replace

    from gogooku.dataset.build import BuildError

    chained = replace(GRAPH, name="x_chained", requires=("x_price",))
    unknown = replace(GRAPH, name="x_unknown", requires=("nope",))
    for block in (chained, unknown):
        registry = {**REGISTRY, block.name: block}
        with pytest.raises(BuildError, match=f"block '{block.name}' requires"):
            plan_blocks([block.name], _Store(set()), registry)
