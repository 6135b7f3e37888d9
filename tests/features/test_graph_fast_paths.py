"""The graph block's fast paths equal the straightforward computation: refresh days on several
threads equal one thread, and node rows scattered into the base rows by position equal the node
table left-joined onto the base rows on (Code, Date)."""

from __future__ import annotations

import numpy as np
import polars as pl

from gogooku.features import graph, ops
from gogooku.features.graph import FEATURES, compute_artifacts, compute_graph, refresh_days

from .conftest import price_context

DELISTED = "10110"


def _market():
    """Two six-stock clusters over 150 days, one stock with untraded days and one whose last row
    is a refresh day (a node on it, so its node rows run past its last base row)."""
    rng = np.random.default_rng(3)
    f = rng.normal(0, 0.02, size=(2, 150))
    rets = {f"{1000 + k}0": f[k // 6] + rng.normal(0, 0.01, size=150) for k in range(12)}
    _, days = price_context(rets)
    refresh = refresh_days(pl.Series(days))
    last = days.index(next(d for d in refresh if days.index(d) >= 100))
    rets[DELISTED] = rets[DELISTED][: last + 1]
    return price_context(rets, no_trade={"10020": [70, 71, 90]})


def test_refresh_days_on_threads_equal_one_thread(monkeypatch):
    ctx, _ = _market()
    monkeypatch.setattr(graph, "_WORKERS", 1)
    table_one, edges_one = compute_graph(ctx)
    monkeypatch.setattr(graph, "_WORKERS", 3)
    table_many, edges_many = compute_graph(ctx)
    assert table_one.height > 0 and edges_one.height > 0
    assert table_one.equals(table_many)
    assert edges_one.equals(edges_many)


def test_scattered_node_rows_equal_the_node_table_joined_onto_the_base_rows():
    ctx, _ = _market()
    table, edges = compute_graph(ctx)
    keys = ctx.base.select("Code", "Date")
    joined = keys.join(table.lazy(), on=["Code", "Date"], how="left", maintain_order="left")
    want = ops.finalize(joined, FEATURES).collect()
    got, files = compute_artifacts(ctx)
    assert got.collect().equals(want)
    assert files[graph.EDGES_FILE].equals(edges)
    # The delisted stock's node rows after its last base row are not base rows: left out.
    last = ctx.base.filter(pl.col("Code") == DELISTED).select(pl.col("Date").max()).collect()
    after = table.filter((pl.col("Code") == DELISTED) & (pl.col("Date") > last.item()))
    assert after.height > 0
    assert want["graph_degree"].null_count() > 0
