"""Graph block: masked correlation, k-NN edges, node features by hand, weekly refresh, PIT."""

from __future__ import annotations

import networkx as nx  # a dependency of torch
import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gogooku.features.graph import (
    FEATURES,
    GraphConfig,
    compute_artifacts,
    compute_graph,
    knn_edges,
    masked_correlation,
    pagerank,
    refresh_days,
)

from .conftest import price_context


def _brute_rho(x: np.ndarray, min_obs: int) -> np.ndarray:
    n = x.shape[1]
    out = np.full((n, n), np.nan)
    for i in range(n):
        for j in range(n):
            both = ~np.isnan(x[:, i]) & ~np.isnan(x[:, j])
            if i != j and both.sum() >= min_obs:
                a, b = x[both, i], x[both, j]
                if np.ptp(a) > 0 and np.ptp(b) > 0:
                    out[i, j] = np.corrcoef(a, b)[0, 1]
    return out


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), p_missing=st.sampled_from([0.0, 0.05, 0.3]))
def test_masked_correlation_equals_pairwise_complete_corrcoef(seed, p_missing):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 0.02, size=(30, 7))
    x[:, 1] = 0.5 * x[:, 0] + x[:, 1]
    x[rng.random(x.shape) < p_missing] = np.nan
    x[3, :] = np.nan  # a market-wide halt: no pair uses the day
    x[:, 6] = np.where(np.isnan(x[:, 6]), np.nan, 0.01)  # flat column: no correlation
    rho, order = masked_correlation(x, min_obs=20)
    expected = _brute_rho(x[:, order], 20)
    got = rho.numpy()
    assert np.array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_allclose(got[~np.isnan(got)], expected[~np.isnan(expected)], atol=2e-5)


def test_knn_edges_keep_top_k_above_threshold_and_symmetrise():
    import torch

    rho = torch.tensor(
        [
            [np.nan, 0.9, -0.8, 0.2],
            [0.9, np.nan, 0.5, 0.1],
            [-0.8, 0.5, np.nan, 0.35],
            [0.2, 0.1, 0.35, np.nan],
        ],
        dtype=torch.float32,
    )
    src, dst, w = knn_edges(rho, threshold=0.3, top_k=1)
    # Choices: 0->1 (0.9), 1->0 (0.9), 2->0 (|-0.8|), 3->2 (0.35); union, both directions.
    pairs = {(int(a), int(b)): round(float(c), 4) for a, b, c in zip(src, dst, w, strict=True)}
    assert pairs == {
        (0, 1): 0.9,
        (1, 0): 0.9,
        (0, 2): -0.8,
        (2, 0): -0.8,
        (2, 3): 0.35,
        (3, 2): 0.35,
    }


def test_pagerank_of_a_star_by_hand():
    # Star 0-1, 0-2 (unit weights): PR solves p0 = 0.05 + 0.85 (p1 + p2), p1 = p2 = 0.05 + 0.425 p0.
    src, dst = np.array([0, 1, 0, 2]), np.array([1, 0, 2, 0])
    pr = pagerank(src, dst, np.ones(4), 3, 0.85) / 3
    p0 = (0.05 + 0.85 * 0.1) / (1 - 0.85 * 0.85)
    np.testing.assert_allclose(pr, [p0, 0.05 + 0.425 * p0, 0.05 + 0.425 * p0], atol=1e-10)


def _two_clusters(n_per: int = 6, days: int = 150, seed: int = 1):
    rng = np.random.default_rng(seed)
    f = rng.normal(0, 0.02, size=(2, days))
    rets = {}
    for k in range(2 * n_per):
        cluster = k // n_per
        rets[f"{1000 + k}0"] = f[cluster] + rng.normal(0, 0.01, size=days)
    return rets


def test_planted_two_cluster_market_neighbours_stay_in_their_cluster():
    rets = _two_clusters()
    ctx, _days = price_context(rets)
    table, edges = compute_graph(ctx, GraphConfig(top_k=3))
    cluster = {code: int(code[:4]) - 1000 >= 6 for code in rets}
    assert edges.height > 0
    same = [cluster[a] == cluster[b] for a, b in edges.select("src", "dst").iter_rows()]
    assert all(same)
    last = table.filter(pl.col("Date") == table["Date"].max())
    assert last.height == 12
    assert (last["graph_component_size"] == 6).all()
    assert (last["graph_degree"] >= 3).all()
    assert (last["graph_peer_corr_mean"] > 0.6).all()


def test_node_features_by_hand_on_three_stocks():
    rng = np.random.default_rng(7)
    f = rng.normal(0, 0.02, size=150)
    g = rng.normal(0, 0.02, size=150)
    g = g - f * (f @ g) / (f @ f)  # orthogonal to f: C is correlated with neither A nor B
    rets = {"10000": f, "20000": f + rng.normal(0, 0.002, size=150), "30000": g}
    ctx, days = price_context(rets)
    table, edges = compute_graph(ctx, GraphConfig())
    base = ctx.base.collect()
    t = days[149]
    row = {r["Code"]: r for r in table.filter(pl.col("Date") == t).iter_rows(named=True)}
    assert row["10000"]["graph_degree"] == 1 and row["20000"]["graph_degree"] == 1
    assert row["30000"]["graph_degree"] == 0
    assert row["30000"]["graph_peer_corr_mean"] is None or np.isnan(
        row["30000"]["graph_peer_corr_mean"]
    )
    assert row["10000"]["graph_component_size"] == 2 and row["30000"]["graph_component_size"] == 1
    # Peer momentum of A on t is B's own 5- and 20-row return on t.
    closes = base.filter(pl.col("Code") == "20000")["AdjC"].to_numpy()
    assert row["10000"]["graph_peer_mom_5d"] == pytest.approx(closes[-1] / closes[-6] - 1)
    assert row["10000"]["graph_peer_mom_20d"] == pytest.approx(closes[-1] / closes[-21] - 1)
    assert row["30000"]["graph_peer_mom_5d"] is None or np.isnan(row["30000"]["graph_peer_mom_5d"])
    # The correlation is the Pearson correlation of the 60 returns ending at the refresh day.
    refresh = edges["Date"].max()
    r_idx = days.index(refresh)
    ca = base.filter(pl.col("Code") == "10000")["AdjC"].to_numpy()
    ra, rb = ca[1:] / ca[:-1] - 1, closes[1:] / closes[:-1] - 1
    rho = np.corrcoef(ra[r_idx - 60 : r_idx], rb[r_idx - 60 : r_idx])[0, 1]
    assert row["10000"]["graph_peer_corr_max"] == pytest.approx(rho, abs=1e-5)
    # PageRank, n = 3: the isolated C teleports uniformly, so p_c = 0.05 + 0.85 p_c / 3 and
    # p_a = p_b = 0.05 + 0.85 (p_b + p_c / 3); the feature is 3 p.
    p_c = 0.05 / (1 - 0.85 / 3)
    p_a = (0.05 + 0.85 * p_c / 3) / (1 - 0.85)
    assert row["10000"]["graph_pagerank"] == pytest.approx(3 * p_a, abs=1e-9)
    assert row["30000"]["graph_pagerank"] == pytest.approx(3 * p_c, abs=1e-9)


def test_weekly_refresh_rule_and_staleness():
    ctx, days = price_context(_two_clusters())
    table, edges = compute_graph(ctx, GraphConfig(top_k=3))
    refresh = set(refresh_days(ctx.calendar.frame()["Date"]).to_list())
    assert set(edges["Date"].unique().to_list()) <= refresh
    # A refresh day is the first trading day of its ISO week.
    for day in refresh:
        prev = [d for d in days if d < day]
        assert not prev or prev[-1].isocalendar()[:2] != day.isocalendar()[:2]
    code = table.filter(pl.col("Code") == "10000").sort("Date")
    stale = code["graph_days_since_refresh"].to_list()
    dates = code["Date"].to_list()
    for d, s in zip(dates, stale, strict=True):
        assert days[days.index(d) - int(s)] in refresh
        assert all(x not in refresh for x in days[days.index(d) - int(s) + 1 : days.index(d) + 1])
    # Within a week the graph (degree, PageRank) is the refresh day's.
    week = code.with_columns(r=pl.col("Date").dt.week()).group_by("r")
    assert (week.agg(pl.col("graph_pagerank").n_unique())["graph_pagerank"] == 1).all()


@pytest.mark.parametrize("cut_pos", [80, 83, 120])
def test_future_invariance_of_graph_features_and_edges(cut_pos):
    rets = _two_clusters(days=150)
    halts = [70, 90]
    full_ctx, days = price_context(rets, no_trade={"10020": halts})
    cut = days[cut_pos]
    cut_ctx, _ = price_context(
        {k: v[: cut_pos + 1] for k, v in rets.items()},
        {"10020": [h for h in halts if h <= cut_pos]},
    )
    full_out, full_files = compute_artifacts(full_ctx)
    cut_out, cut_files = compute_artifacts(cut_ctx)
    names = [f.name for f in FEATURES]
    early = cut_out.collect()
    late = full_out.collect().filter(pl.col("Date") <= cut)
    assert early.select("Code", "Date").equals(late.select("Code", "Date"))
    assert early["graph_degree"].null_count() < early.height
    for name in names:
        assert early[name].equals(late[name]), name
    full_edges = full_files["graph_edges.parquet"].filter(pl.col("Date") <= cut)
    assert cut_files["graph_edges.parquet"].equals(full_edges)


def test_no_trade_rows_are_missing_returns_and_nodes_need_min_obs():
    rets = _two_clusters(days=150)
    ctx, days = price_context(rets, no_trade={"10000": list(range(60, 150, 2))})
    table, _ = compute_graph(ctx, GraphConfig(top_k=3))
    late = table.filter(pl.col("Date") >= days[130])
    # Half its days untraded: fewer than 40 returns in 60 days, so 10000 is not a node.
    assert "10000" not in late["Code"].to_list()
    assert late["Code"].n_unique() == 11


def test_pagerank_of_a_triangle_and_an_isolated_node_by_hand():
    # Triangle 0-1-2 (unit weights) and isolated 3, n = 4: the isolated node teleports uniformly,
    # so q = 0.0375 + 0.85 q / 4 = 1/21 and the triangle shares the rest, p = (1 - q) / 3 = 20/63.
    src, dst = np.array([0, 0, 1, 1, 2, 2]), np.array([1, 2, 0, 2, 0, 1])
    pr = pagerank(src, dst, np.ones(6), 4, 0.85)
    np.testing.assert_allclose(pr, [80 / 63, 80 / 63, 80 / 63, 4 / 21], atol=1e-10)


def test_weighted_pagerank_solves_its_linear_system():
    # Weighted 4-node graph 0-1 (0.9), 0-2 (0.4), 1-2 (0.6), 2-3 (0.35), both directions:
    # PR = 0.15 / 4 + 0.85 Pᵀ PR with P_ij = w_ij / Σ_j w_ij, solved directly.
    pairs = {(0, 1): 0.9, (0, 2): 0.4, (1, 2): 0.6, (2, 3): 0.35}
    edges = sorted({**pairs, **{(b, a): w for (a, b), w in pairs.items()}}.items())
    src = np.array([a for (a, _), _ in edges])
    dst = np.array([b for (_, b), _ in edges])
    w = np.array([x for _, x in edges])
    a = np.zeros((4, 4))
    a[src, dst] = w
    p = a / a.sum(axis=1, keepdims=True)
    want = np.linalg.solve(np.eye(4) - 0.85 * p.T, np.full(4, 0.15 / 4)) * 4
    np.testing.assert_allclose(pagerank(src, dst, w, 4, 0.85), want, atol=1e-10)
    g = nx.DiGraph()
    g.add_weighted_edges_from(zip(src.tolist(), dst.tolist(), w.tolist(), strict=True))
    ref = nx.pagerank(g, alpha=0.85, weight="weight", tol=1e-14)
    np.testing.assert_allclose(pagerank(src, dst, w, 4, 0.85), [4 * ref[i] for i in range(4)])
