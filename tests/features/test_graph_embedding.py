"""Graph-embedding block: node2vec walks, communities, alignment over refreshes, point in time."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import polars as pl
import pytest

from gogooku.features.graph import GraphConfig, compute_graph
from gogooku.features.graph_embedding import (
    FEATURES,
    EmbeddingConfig,
    compute,
    embed,
    embedding_refresh_days,
    node2vec_walks,
    procrustes,
    refresh_graphs,
)

from .conftest import price_context

CONFIG = EmbeddingConfig()


def _edges(pairs: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Both directions of the undirected ``pairs``, sorted by (src, dst)."""
    both = sorted({(a, b) for a, b in pairs} | {(b, a) for a, b in pairs})
    return np.array([a for a, _ in both]), np.array([b for _, b in both])


def _csr(n: int, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(np.bincount(src, minlength=n))])


def _cliques(sizes: tuple[int, ...]) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """Disjoint cliques of the given sizes: (n, src, dst, clique label of each node)."""
    label = np.repeat(np.arange(len(sizes)), sizes)
    n = label.size
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n) if label[i] == label[j]]
    return (n, *_edges(pairs), label)


def _cosine(w: np.ndarray) -> np.ndarray:
    unit = w / np.linalg.norm(w, axis=1, keepdims=True)
    return unit @ unit.T


@pytest.mark.parametrize("seed", [0, 1])
def test_two_disconnected_cliques_are_closer_within_than_across(seed):
    n, src, dst, label = _cliques((6, 6))
    state = embed(n, src, dst, np.arange(n), None, CONFIG, np.random.default_rng(seed))
    assert state.codes.tolist() == list(range(n))
    cos = _cosine(state.w)
    same = label[:, None] == label[None, :]
    off_diagonal = ~np.eye(n, dtype=bool)
    assert cos[same & off_diagonal].min() > cos[~same].max()


def test_walks_follow_edges_and_p_q_bias_the_return_step():
    n, src, dst, _ = _cliques((4, 4))
    indptr = _csr(n, src, dst)
    rng = np.random.default_rng(3)
    walks = node2vec_walks(indptr, dst, np.arange(n).repeat(20), 12, 1.0, 1.0, rng)
    edge = set(zip(src.tolist(), dst.tolist(), strict=True))
    assert all((a, b) in edge for w in walks for a, b in itertools.pairwise(w))
    # A cycle of 6: with 1/p ≈ 0 a walk never steps back, with 1/p huge it almost always does.
    src, dst = _edges([(i, (i + 1) % 6) for i in range(6)])
    indptr = _csr(6, src, dst)
    ahead = node2vec_walks(indptr, dst, np.arange(6).repeat(10), 10, 1e9, 1.0, rng)
    assert (ahead[:, 2:] != ahead[:, :-2]).all()
    back = node2vec_walks(indptr, dst, np.arange(6).repeat(10), 10, 1e-6, 1.0, rng)
    assert (back[:, 2:] == back[:, :-2]).mean() > 0.99


def test_procrustes_recovers_a_rotation():
    rng = np.random.default_rng(0)
    target = rng.normal(size=(30, 8))
    rot, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    np.testing.assert_allclose(procrustes(target @ rot.T, target), rot, atol=1e-10)


def _communities(n_per: int = 10, k: int = 3, seed: int = 5):
    """k dense random communities with a few bridges: (n, src, dst)."""
    rng = np.random.default_rng(seed)
    n = n_per * k
    pairs = [
        (i, j)
        for i in range(n)
        for j in range(i + 1, n)
        if (i // n_per == j // n_per and rng.random() < 0.6) or rng.random() < 0.02
    ]
    return (n, *_edges(pairs))


def test_an_unchanged_graph_keeps_its_embedding_at_the_next_refresh():
    """Warm start plus Procrustes: the next refresh of the same graph stays in the previous
    refresh's frame, even when that frame is an arbitrary rotation of the first run's."""
    n, src, dst = _communities()
    codes = np.arange(n) * 3  # code positions need not be the node positions
    first = embed(n, src, dst, codes, None, CONFIG, np.random.default_rng(1))
    rot, _ = np.linalg.qr(np.random.default_rng(2).normal(size=(CONFIG.dim, CONFIG.dim)))
    for frame in (np.eye(CONFIG.dim), rot):
        previous = replace(first, w=first.w @ frame, c=first.c @ frame)
        again = embed(n, src, dst, codes, previous, CONFIG, np.random.default_rng(7))
        assert np.array_equal(again.codes, first.codes)
        change = np.linalg.norm(again.w - previous.w) / np.linalg.norm(previous.w)
        assert change < 0.15, change
    # Without the warm start and alignment a fresh run lands in an unrelated frame.
    fresh = embed(n, src, dst, codes, None, CONFIG, np.random.default_rng(7))
    assert np.linalg.norm(fresh.w - first.w) / np.linalg.norm(first.w) > 0.5


def test_embedding_is_deterministic_for_a_seed():
    n, src, dst = _communities()
    runs = [embed(n, src, dst, np.arange(n), None, CONFIG, np.random.default_rng(4)) for _ in "ab"]
    assert np.array_equal(runs[0].w, runs[1].w)


def _market(days: int = 150, seed: int = 1) -> dict[str, np.ndarray]:
    """Two correlated clusters of 6 stocks and one independent stock (no edge: null)."""
    rng = np.random.default_rng(seed)
    f = rng.normal(0, 0.02, size=(2, days))
    rets = {f"{1000 + k}0": f[k // 6] + rng.normal(0, 0.01, size=days) for k in range(12)}
    rets["30000"] = rng.normal(0, 0.02, size=days)
    return rets


def test_block_refreshes_monthly_on_the_graph_blocks_graph_and_nulls_non_nodes():
    ctx, days = price_context(_market())
    codes, _, graphs = refresh_graphs(ctx)
    monthly = set(embedding_refresh_days(ctx.calendar.frame()["Date"]).to_list())
    assert [days[r] for r, *_ in graphs] == sorted(d for d in monthly if d in days[59:150])
    _, edges = compute_graph(ctx, GraphConfig())
    for r, nodes, src, dst in graphs:
        mine = sorted(zip(codes.gather(nodes[src]), codes.gather(nodes[dst]), strict=True))
        theirs = edges.filter(pl.col("Date") == days[r]).sort("src", "dst")
        assert mine == list(theirs.select("src", "dst").iter_rows())
    out = compute(ctx).collect()
    names = [f.name for f in FEATURES]
    first = days[graphs[0][0]]
    assert out.filter(pl.col("Date") < first).select(names).null_count().sum_horizontal()[0] == (
        out.filter(pl.col("Date") < first).height * len(names)
    )
    later = out.filter(pl.col("Date") >= first)
    assert later.filter(pl.col("Code") == "30000")["gemb_0"].is_null().all()
    assert later.filter(pl.col("Code") != "30000")["gemb_0"].is_not_null().all()
    # Forward-filled: constant from a refresh day to the next, different across refreshes.
    starts = pl.DataFrame({"Date": [days[r] for r, *_ in graphs], "period": range(len(graphs))})
    one = later.filter(pl.col("Code") == "10000").join_asof(starts, on="Date")
    assert (one.group_by("period").agg(pl.col("gemb_0").n_unique())["gemb_0"] == 1).all()
    assert one["gemb_0"].n_unique() == len(graphs)


def test_rebuild_on_truncated_history_gives_identical_values():
    cut_pos = 110  # 2023-06-15, after three refreshes (04-03, 05-01, 06-05)
    rets = _market()
    full_ctx, days = price_context(rets)
    cut_ctx, _ = price_context({k: v[: cut_pos + 1] for k, v in rets.items()})
    late = compute(full_ctx).collect().filter(pl.col("Date") <= days[cut_pos])
    early = compute(cut_ctx).collect()
    assert early["gemb_0"].is_not_null().any()
    assert early.equals(late)
