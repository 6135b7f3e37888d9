"""The graph block's cache-blocked passes (correlations written into reused storage and finished
row block by row block, top-k on row blocks, the sorted union) give exactly the values of the
straightforward whole-matrix expressions they replace."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gogooku.features import graph


def _whole_matrix_rho(x: np.ndarray, min_obs: int) -> torch.Tensor:
    """The correlations with fresh N × N temporaries and whole-matrix element-wise operations."""
    x = x[~np.isnan(x).all(axis=1)]
    w, n = x.shape
    observed = ~np.isnan(x)
    complete = observed.all(axis=0)
    order = np.concatenate([np.flatnonzero(complete), np.flatnonzero(~complete)])
    nc = int(complete.sum())
    x = x[:, order]
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        flat = torch.from_numpy(np.flatnonzero(~(np.nanmax(x, axis=0) > np.nanmin(x, axis=0))))
        centred = np.nan_to_num(x - np.nanmean(x, axis=0), nan=0.0)
    xt = torch.from_numpy(centred.astype(np.float32))
    mask = torch.from_numpy(np.ascontiguousarray(observed[:, order])).to(torch.float32)
    rho = torch.empty((n, n))
    if nc:
        sd = xt[:, :nc].pow(2).mean(dim=0).sqrt()
        z = xt[:, :nc] / torch.where(sd > 0, sd, 1.0)
        rho[:nc, :nc] = (z.T @ z).div_(w)
        if w < min_obs:
            rho[:nc, :nc] = float("nan")
    if nc < n:
        part = graph._incomplete_part(xt, mask, nc, min_obs)
        rho[:, nc:] = part
        rho[nc:, :] = part.T
    rho.index_fill_(0, flat, float("nan")).index_fill_(1, flat, float("nan"))
    rho.fill_diagonal_(float("nan"))
    return rho.clamp_(-1.0, 1.0)


def _whole_matrix_edges(rho: torch.Tensor, threshold: float, top_k: int):
    n = rho.shape[0]
    k = min(top_k, n - 1)
    values, cand = torch.topk(rho.abs().nan_to_num_(nan=-1.0), k, dim=1)
    keep = (values >= threshold).numpy()
    src = np.repeat(np.arange(n), k).reshape(n, k)[keep]
    dst = cand.numpy()[keep]
    pairs = np.unique(np.concatenate([src * n + dst, dst * n + src]))
    src, dst = pairs // n, pairs % n
    return src, dst, rho[torch.from_numpy(src), torch.from_numpy(dst)].numpy().astype(np.float64)


def _panel(seed: int, n: int, w: int, p_incomplete: float) -> np.ndarray:
    """Returns with a common factor (many |ρ| above the threshold), some incomplete columns, a
    market-wide halt day and a flat column."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 0.02, size=(w, 1)) + rng.normal(0, 0.02, size=(w, n))
    incomplete = rng.random(n) < p_incomplete
    x[(rng.random((w, n)) < 0.15) & incomplete] = np.nan
    x[w // 2, :] = np.nan
    x[:, n // 3] = np.where(np.isnan(x[:, n // 3]), np.nan, 0.01)
    return x


@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.sampled_from([2, 63, 64, 65, 150, 300]),
    p_incomplete=st.sampled_from([0.0, 0.1, 1.0]),
)
def test_blocked_correlation_and_edges_equal_the_whole_matrix_expressions(seed, n, p_incomplete):
    torch.set_num_threads(1)
    x = _panel(seed, n, 61, p_incomplete)
    want = _whole_matrix_rho(x, 40)
    storage = torch.full((n * n + 5,), 123.0)  # reused storage holding stale values
    got, _ = graph.masked_correlation(x, 40, out=storage)
    assert got.data_ptr() == storage.data_ptr()
    assert torch.equal(got.nan_to_num(7.0), want.nan_to_num(7.0))
    assert torch.equal(graph.masked_correlation(x, 40)[0].nan_to_num(7.0), want.nan_to_num(7.0))
    for threshold, top_k in [(0.3, 10), (0.0, 3)]:
        for a, b in zip(
            graph.knn_edges(got, threshold, top_k),
            _whole_matrix_edges(want, threshold, top_k),
            strict=True,
        ):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("n", [40, 70])
def test_blocked_correlation_with_fewer_days_than_min_obs_is_all_nan(n):
    x = _panel(5, n, 30, 0.1)
    got, _ = graph.masked_correlation(x, 40, out=torch.empty(n * n))
    assert got.isnan().all()
    assert torch.equal(got.isnan(), _whole_matrix_rho(x, 40).isnan())


def _sparse_product_pagerank(src, dst, weight, n, damping):
    """PageRank with the transition matrix as the sparse product diag(1 / out) · A, transposed."""
    from scipy import sparse

    adj = sparse.csr_matrix((weight, (src, dst)), shape=(n, n))
    out = np.asarray(adj.sum(axis=1)).ravel()
    dangling = out == 0
    trans = sparse.diags(np.where(dangling, 0.0, 1.0 / np.where(dangling, 1.0, out))) @ adj
    trans_t = trans.T.tocsr()
    pr = np.full(n, 1.0 / n)
    for _ in range(200):
        nxt = (1.0 - damping) / n + damping * (trans_t @ pr + pr[dangling].sum() / n)
        done = np.abs(nxt - pr).sum() < 1e-12
        pr = nxt
        if done:
            break
    return pr * n


@pytest.mark.parametrize("seed, threshold, top_k", [(1, 0.3, 10), (2, 0.0, 3), (3, 0.5, 2)])
def test_pagerank_equals_the_sparse_product_form_bit_for_bit(seed, threshold, top_k):
    torch.set_num_threads(1)
    rho, _ = graph.masked_correlation(_panel(seed, 150, 61, 0.1), 40)
    src, dst, w = graph.knn_edges(rho, threshold, top_k)
    assert (np.bincount(src, minlength=150) == 0).any()  # the flat column: a dangling node
    got = graph.pagerank(src, dst, np.abs(w), 150, 0.85)
    np.testing.assert_array_equal(got, _sparse_product_pagerank(src, dst, np.abs(w), 150, 0.85))


@pytest.mark.parametrize("n", [1, 64, 65, 97, 130, 517, 1200, 4003])
def test_gram_of_the_blocks_up_to_the_diagonal_equals_the_whole_product_bit_for_bit(n):
    """``_gram`` computes the row blocks up to the diagonal and mirrors them; each element is the
    same sum as in ``zᵀ z`` (into a strided view of reused storage, as ``masked_correlation``
    calls it)."""
    torch.set_num_threads(1)
    z = torch.from_numpy(np.random.default_rng(n).normal(size=(60, n)).astype(np.float32))
    storage = torch.full((n + 3, n + 3), 123.0)
    graph._gram(z, storage[:n, :n])
    assert torch.equal(storage[:n, :n], z.T @ z)
    assert torch.equal(storage[:n, :n], storage[:n, :n].T)
    assert (storage[n:] == 123.0).all() and (storage[:, n:] == 123.0).all()
