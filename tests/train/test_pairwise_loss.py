"""The pairwise margin term (``loss.pairwise``): hand values, invariances, masking, ties and a
brute-force reference (its default weight 0 and its reaching the total:
tests/train/test_losses.py)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gogooku.train.losses import pairwise_margin

# one day, five stocks, the last masked (garbage target and forecast)
Y = torch.tensor([[0.04, -0.02, 0.01, -0.03, 99.0]])
M = torch.tensor([[True, True, True, True, False]])


def z(v):
    v = np.asarray(v, dtype=np.float64)
    return (v - v.mean()) / v.std()


def test_hand_value_k_two():
    # top 2 targets: stocks 0 and 2; bottom 2: stocks 3 and 1; p = y itself
    zy = z([0.04, -0.02, 0.01, -0.03])  # 1.461, −0.730, 0.365, −1.095
    gaps = [zy[i] - zy[j] for i in (0, 2) for j in (1, 3)]
    assert min(gaps) >= 1.0
    p = Y.clone()
    assert float(pairwise_margin(p, Y, M, 2, 1.0)[0]) == pytest.approx(0.0, abs=1e-6)
    expected = np.mean([max(0.0, 2.0 - g) for g in gaps])  # (0.905 + 0.540) / 4
    assert float(pairwise_margin(p, Y, M, 2, 2.0)[0]) == pytest.approx(expected, rel=1e-5)


def test_reversed_forecast_pays_margin_plus_gap():
    p = -Y.clone()
    zp = z([-0.04, 0.02, -0.01, 0.03])
    expected = np.mean([1.0 - (zp[i] - zp[j]) for i in (0, 2) for j in (1, 3)])
    assert float(pairwise_margin(p, Y, M, 2, 1.0)[0]) == pytest.approx(expected, rel=1e-5)


def test_k_is_capped_at_half_the_listed_stocks():
    # K = 50 on 4 listed stocks: k = 2, the same four pairs as K = 2
    p = torch.tensor([[0.3, 0.1, -0.2, 0.5, 7.0]])
    assert torch.allclose(pairwise_margin(p, Y, M, 50, 1.0), pairwise_margin(p, Y, M, 2, 1.0))
    # K = 1: the single pair (best, worst) = (stock 0, stock 3)
    zp = z([0.3, 0.1, -0.2, 0.5])
    expected = max(0.0, 1.0 - (zp[0] - zp[3]))
    assert float(pairwise_margin(p, Y, M, 1, 1.0)[0]) == pytest.approx(expected, rel=1e-5)


def test_blind_to_the_forecast_scale_and_shift():
    p = torch.tensor([[0.3, 0.1, -0.2, 0.5, 7.0]])
    assert torch.allclose(
        pairwise_margin(p, Y, M, 2, 1.0), pairwise_margin(5 * p - 2, Y, M, 2, 1.0)
    )


def test_masked_stock_values_do_not_change_the_term():
    p = torch.tensor([[0.3, 0.1, -0.2, 0.5, 7.0]])
    other, y2 = p.clone(), Y.clone()
    other[0, 4], y2[0, 4] = -9.0, -99.0
    assert torch.equal(pairwise_margin(p, Y, M, 2, 1.0), pairwise_margin(other, y2, M, 2, 1.0))


def test_tied_targets_form_no_pair():
    # targets 1, 1, 1, 0 with k = 2: only pairs with a strictly higher target count
    y = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    m = torch.ones(1, 4, dtype=torch.bool)
    p = torch.tensor([[0.0, 1.0, 2.0, 3.0]])
    zp = z([0.0, 1.0, 2.0, 3.0])
    got = float(pairwise_margin(p, y, m, 2, 1.0)[0])
    # the top two are two of the ones; the bottom two are stock 3 and a one: only the pairs
    # (one, stock 3) are strict
    top = torch.where(m, y, -1e9).topk(2).indices[0].tolist()
    expected = np.mean([max(0.0, 1.0 - (zp[i] - zp[3])) for i in top])
    assert got == pytest.approx(expected, rel=1e-5)


def test_a_gradient_step_lowers_the_term():
    p = torch.tensor([[0.3, 0.1, -0.2, 0.5, 7.0]], requires_grad=True)
    before = pairwise_margin(p, Y, M, 2, 1.0).sum()
    before.backward()
    assert p.grad[0, 4] == 0, "a masked stock gets no gradient"
    after = pairwise_margin(p.detach() - 0.01 * p.grad, Y, M, 2, 1.0).sum()
    assert float(after) < float(before.detach())


@settings(max_examples=40, deadline=None)
@given(
    targets=st.lists(st.integers(-1000, 1000), min_size=2, max_size=12, unique=True),
    seed=st.integers(0, 10_000),
    k=st.integers(1, 8),
    margin=st.floats(0.1, 3.0),
)
def test_equals_the_brute_force_sum_over_pairs(targets, seed, k, margin):
    n = len(targets)
    rng = np.random.default_rng(seed)
    listed = rng.random(n + 3) < 0.9
    listed[:2] = True
    y = np.concatenate([np.array(targets, dtype=np.float64), rng.normal(size=3)])
    y[~listed] = rng.normal(size=(~listed).sum()) * 1e3
    p = rng.normal(size=n + 3)
    idx = np.flatnonzero(listed)
    zp = z(p[idx])
    order = np.argsort(-y[idx])
    kk = min(k, len(idx) // 2)
    top, low = order[:kk], order[len(idx) - kk :]
    hinges = [max(0.0, margin - (zp[i] - zp[j])) for i, j in itertools.product(top, low)]
    got = pairwise_margin(
        torch.tensor(p[None], dtype=torch.float32),
        torch.tensor(y[None], dtype=torch.float32),
        torch.tensor(listed[None]),
        k,
        margin,
    )
    assert float(got[0]) == pytest.approx(np.mean(hinges), rel=1e-4, abs=1e-5)
