"""Builder integration: stage-2 interactions on stage-1 columns, graph_edges.parquet, incremental,
opt-in and history-dependent blocks."""

from __future__ import annotations

import json
from datetime import date

import polars as pl
import pytest

from gogooku.dataset.build import build_dataset
from gogooku.dataset.plan import requested_blocks
from gogooku.features.registry import BLOCKS

from ..support.tables import TableStore

BLOCK_NAMES = ["returns", "volatility", "liquidity", "technicals", "market", "graph"]
BLOCK_NAMES += ["x_price", "x_graph"]


@pytest.fixture(scope="module")
def store():
    from gogooku.synth.config import SynthConfig
    from gogooku.synth.market import generate_market

    config = SynthConfig(seed=4, stocks=20, start=date(2022, 1, 4), end=date(2023, 6, 30))
    return TableStore(generate_market(config, side_tables=False).tables)


@pytest.mark.slow
def test_stage_two_interactions_edges_and_incremental_build(store):
    full = build_dataset(
        "full",
        date(2022, 9, 1),
        date(2023, 6, 30),
        blocks=BLOCK_NAMES,
        store=store,
        show_progress=False,
    )
    panel = pl.read_parquet(full.path / "panel.parquet")
    assert full.blocks == tuple(BLOCK_NAMES)
    # Stage 2 read the stage-1 columns of the same rows.
    expected = (pl.col("ret_prev_20d").cast(pl.Float64) / pl.col("rv_20d").cast(pl.Float64)).cast(
        pl.Float32
    )
    check = panel.select(expected.alias("e"), "x_mom_sharpe_20d").drop_nulls()
    assert check.height > 1000
    assert check["e"].equals(check["x_mom_sharpe_20d"])
    gap = panel.select(
        (pl.col("graph_peer_mom_20d").cast(pl.Float64) - pl.col("ret_prev_20d").cast(pl.Float64))
        .cast(pl.Float32)
        .alias("e"),
        "x_peer_mom_gap_20d",
    ).drop_nulls()
    assert gap.height > 1000 and gap["e"].equals(gap["x_peer_mom_gap_20d"])
    # The edge list opens with the graph in force on the first day and ends by the last one.
    edges = pl.read_parquet(full.path / "graph_edges.parquet")
    assert edges.columns == ["Date", "src", "dst", "weight"]
    assert edges["Date"].min() <= date(2022, 9, 1) < edges["Date"].unique().sort()[1]
    assert edges["Date"].max() <= date(2023, 6, 30)
    assert set(edges["src"]) <= set(panel["Code"])
    index = json.loads((full.path / "features.json").read_text())
    assert index["skipped"] == []
    names = {c["name"]: c for c in index["columns"]}
    assert names["x_mom_sharpe_20d"]["block"] == "x_price"
    assert names["graph_degree"]["dtype"] == "Int32"

    # Incremental: build to an earlier end, then extend; panel and edges equal the full build.
    build_dataset(
        "inc",
        date(2022, 9, 1),
        date(2023, 3, 31),
        blocks=BLOCK_NAMES,
        store=store,
        show_progress=False,
    )
    inc = build_dataset(
        "inc",
        date(2022, 9, 1),
        date(2023, 6, 30),
        blocks=BLOCK_NAMES,
        store=store,
        show_progress=False,
    )
    assert inc.incremental
    inc_panel = pl.read_parquet(inc.path / "panel.parquet")
    for name in [
        f for b in BLOCK_NAMES for f in BLOCKS[b].feature_names if b.startswith(("graph", "x_"))
    ]:
        assert inc_panel[name].equals(panel[name]), name
    assert pl.read_parquet(inc.path / "graph_edges.parquet").equals(edges)


@pytest.mark.slow
def test_opt_in_history_dependent_block_is_requested_by_name_and_never_extended(store):
    """``gemb`` joins the default blocks only by name, and a dataset holding it is rebuilt in
    full (its embeddings chain from the build's first refresh) with the values of a fresh build."""
    assert "gemb" not in requested_blocks(None, BLOCKS)
    assert requested_blocks(["default", "gemb"], BLOCKS) == [
        *(n for n in BLOCKS if n != "gemb"),
        "gemb",
    ]
    assert requested_blocks(["gemb", "returns", "gemb"], BLOCKS) == ["gemb", "returns"]
    kwargs = {"blocks": ["returns", "gemb"], "store": store, "show_progress": False}
    build_dataset("emb", date(2022, 9, 1), date(2023, 3, 31), **kwargs)
    again = build_dataset("emb", date(2022, 9, 1), date(2023, 6, 30), **kwargs)
    fresh = build_dataset("emb2", date(2022, 9, 1), date(2023, 6, 30), **kwargs)
    assert not again.incremental
    panel = pl.read_parquet(again.path / "panel.parquet")
    assert panel.equals(pl.read_parquet(fresh.path / "panel.parquet"))
    assert panel["gemb_0"].is_not_null().mean() > 0.5
    index = json.loads((again.path / "features.json").read_text())
    assert {c["name"]: c["block"] for c in index["columns"]}["gemb_7"] == "gemb"
