"""Loss terms: hand-computed values, gradient signs on a toy day, errors, properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gogooku.train.config import LossConfig
from gogooku.train.losses import (
    LossError,
    compute_loss,
    listnet,
    pearson,
    pearson_days,
    pinball,
    rank_ic_days,
    rank_ic_surrogate,
    soft_topk_sharpe,
)

# one toy day, four stocks, the last one masked (its target and forecast are garbage)
Y = torch.tensor([[0.03, -0.01, 0.01, 99.0]])
M = torch.tensor([[True, True, True, False]])
P0 = torch.tensor([[0.0, 0.0, 0.0, 5.0]])


def grad_of(fn, p=P0):
    p = p.clone().requires_grad_(True)
    fn(p).sum().backward()
    return p.grad[0]


def test_listnet_hand_value_and_gradient_sign():
    z = (Y[0, :3] - Y[0, :3].mean()) / Y[0, :3].std(unbiased=False)
    target = torch.softmax(z, 0)
    # equal forecasts: log softmax = −log 3 on each valid stock
    assert float(listnet(P0, Y, M, 1.0)[0]) == pytest.approx(math.log(3), rel=1e-5)
    g = grad_of(lambda p: listnet(p, Y, M, 1.0))
    # ∂L/∂p = softmax(p) − softmax(z): the best stock (0) is pushed up, the worst (1) down
    assert torch.allclose(g[:3], torch.full((3,), 1 / 3) - target, atol=1e-6)
    assert g[0] < 0 < g[1]
    assert g[3] == 0


def test_rank_ic_surrogate_hand_value_and_gradient_sign():
    p = torch.tensor([[1.0, 2.0, 4.0, -7.0]])
    # ranks of the valid targets 0.03, -0.01, 0.01 are 2, 0, 1
    expected = np.corrcoef([1, 2, 4], [2, 0, 1])[0, 1]
    assert float(rank_ic_surrogate(p, Y, M)[0]) == pytest.approx(expected, abs=1e-5)
    g = grad_of(lambda q: -rank_ic_surrogate(q, Y, M), p)
    assert g[0] < 0, "raising the best stock's forecast raises the correlation with the ranks"
    assert g[1] > 0
    assert g[3] == 0


def test_rank_ic_surrogate_reads_only_the_order_of_the_targets():
    p = torch.tensor([[0.3, -0.2, 0.1, 0.0, 0.5]])
    m = torch.ones(1, 5, dtype=torch.bool)
    y = torch.tensor([[0.01, -0.02, 0.00, 0.03, 0.02]])
    outlier = y.clone()
    outlier[0, 3] = 5.0  # a +500 % day keeps its rank
    assert torch.equal(rank_ic_surrogate(p, y, m), rank_ic_surrogate(p, outlier, m))
    assert float(pearson(p, y, m)[0]) != pytest.approx(float(pearson(p, outlier, m)[0]))


def test_cs_ic_hand_value_and_gradient_sign():
    p = torch.tensor([[1.0, 2.0, 3.0, -7.0]])
    expected = np.corrcoef([1, 2, 3], [0.03, -0.01, 0.01])[0, 1]
    assert float(pearson(p, Y, M)[0]) == pytest.approx(expected, abs=1e-5)
    g = grad_of(lambda q: -pearson(q, Y, M), p)
    assert g[0] < 0, "raising the best stock's forecast raises the IC"
    assert g[1] > 0
    assert g[3] == 0


def test_pinball_hand_value_and_gradient_sign():
    z = (Y[0, :3] - Y[0, :3].mean()) / Y[0, :3].std(unbiased=False)
    q = torch.zeros(1, 4, 2)
    levels = (0.2, 0.8)
    by_hand = np.mean(
        [[max(t * float(zi), (t - 1) * float(zi)) for t in levels] for zi in z.tolist()]
    )
    assert float(pinball(q, Y, M, levels)[0]) == pytest.approx(by_hand, rel=1e-5)
    qg = q.clone().requires_grad_(True)
    pinball(qg, Y, M, levels).sum().backward()
    # stock 0 lies above every quantile (z > 0): raising them lowers the loss
    assert (qg.grad[0, 0] < 0).all()
    assert (qg.grad[0, 1] > 0).all(), "stock 1 lies below: its quantiles move down"
    assert (qg.grad[0, 3] == 0).all()


def test_sharpe_gradient_sign_and_value():
    # equal forecasts: equal weights, the equal-weight excess return is 0
    assert float(soft_topk_sharpe(P0, Y, M, 0.5)[0]) == pytest.approx(0.0, abs=1e-6)
    g = grad_of(lambda p: soft_topk_sharpe(p, Y, M, 0.5), torch.tensor([[0.1, 0.0, -0.1, 3.0]]))
    assert g[0] < 0 < g[1]
    assert g[3] == 0


def _batch(seed: int = 0, b: int = 2, n: int = 12, h: int = 3):
    g = torch.Generator().manual_seed(seed)
    y = torch.randn(b, n, h, generator=g)
    point = torch.randn(b, n, h, generator=g)
    q = point.unsqueeze(-1) + torch.tensor([-1.0, 0.0, 1.0])
    y_mask = torch.ones(b, n, h, dtype=torch.bool)
    return point, q, y, y_mask


def test_total_is_the_weighted_sum_of_the_terms():
    point, q, y, y_mask = _batch()
    cfg = LossConfig(main_weight=3.0)
    r = compute_loss(point, q, (0.1, 0.5, 0.9), y, y_mask, [1, 5, 20], cfg, 5)
    weights = {"rank": 0.5, "cs_ic": 0.3, "sharpe": 0.1, "quantile": 0.1}
    omega = {1: 1.0, 5: 3.0, 20: 1.0}
    by_hand = sum(omega[h] * sum(weights[t] * r.terms[t][h] for t in weights) for h in omega) / sum(
        omega.values()
    )
    assert float(r.total) == pytest.approx(by_hand, rel=1e-5)
    assert r.n_pairs == 6


def test_every_loss_field_changes_the_total():
    point, q, y, y_mask = _batch(1)
    base = LossConfig(
        top_rank=0.2, listnet=0.2, pairwise=0.2, mse=0.2, sortino=0.2, dmn=0.2, dmn_turnover=0.1
    )
    codes = torch.arange(point.shape[1]).expand(point.shape[0], -1)
    changes = {
        "rank": 0.9,
        "cs_ic": 0.0,
        "sharpe": 0.7,
        "quantile": 0.0,
        "main_weight": 5.0,
        "listnet": 0.0,
        "listnet_temperature": 0.3,
        "sharpe_temperature": 0.5,
        "top_rank": 0.0,
        "top_k": 1,
        "pairwise": 0.0,
        "pairwise_k": 1,
        "pairwise_margin": 0.2,
        "mse": 0.0,
        "sortino": 0.0,
        "dmn": 0.0,
        "dmn_cost_bp": 500.0,
        "dmn_turnover": 0.0,
    }
    assert set(changes) == set(LossConfig.model_fields)
    levels, horizons = (0.1, 0.5, 0.9), [1, 5, 20]
    ref = float(compute_loss(point, q, levels, y, y_mask, horizons, base, 5, codes).total)
    for name, value in changes.items():
        cfg = base.model_copy(update={name: value})
        got = float(compute_loss(point, q, levels, y, y_mask, horizons, cfg, 5, codes).total)
        assert got != pytest.approx(ref, rel=1e-6), f"loss.{name} did not change the loss"
    other_main = compute_loss(point, q, levels, y, y_mask, horizons, base, 20, codes).total
    assert float(other_main) != pytest.approx(ref, rel=1e-6), "main_horizon did not change the loss"


@pytest.mark.parametrize("term", ["top_rank", "listnet", "pairwise", "mse", "sortino"])
def test_optional_terms_are_off_by_default_and_reach_the_total(term):
    assert getattr(LossConfig(), term) == 0.0
    point, _, y, y_mask = _batch(3)
    base = LossConfig(quantile=0.0)
    ref = compute_loss(point, None, (), y, y_mask, [1, 5, 20], base, 5)
    assert term not in ref.terms
    got = compute_loss(
        point, None, (), y, y_mask, [1, 5, 20], base.model_copy(update={term: 1.0}), 5
    )
    assert set(got.terms[term]) == {1, 5, 20}
    assert float(got.total) != pytest.approx(float(ref.total), rel=1e-6)


def test_no_valid_target_is_an_error_not_a_zero_loss():
    point, q, y, y_mask = _batch()
    cfg = LossConfig()
    with pytest.raises(LossError, match="no valid target"):
        compute_loss(point, q, (0.1, 0.5, 0.9), y, torch.zeros_like(y_mask), [1, 5, 20], cfg, 5)
    one_stock = torch.zeros_like(y_mask)
    one_stock[:, 0] = True
    with pytest.raises(LossError, match="no valid target"):
        compute_loss(point, q, (0.1, 0.5, 0.9), y, one_stock, [1, 5, 20], cfg, 5)
    with pytest.raises(LossError, match="no valid target"):
        constant = torch.ones_like(y)
        compute_loss(point, q, (0.1, 0.5, 0.9), constant, y_mask, [1, 5, 20], cfg, 5)


def test_shape_and_head_errors():
    point, q, y, y_mask = _batch()
    cfg = LossConfig()
    with pytest.raises(LossError, match="same"):
        compute_loss(point[:, :3], q, (0.1, 0.5, 0.9), y, y_mask, [1, 5, 20], cfg, 5)
    with pytest.raises(LossError, match="quantile head"):
        compute_loss(point, None, (), y, y_mask, [1, 5, 20], cfg, 5)
    with pytest.raises(LossError, match="main horizon 10"):
        compute_loss(point, q, (0.1, 0.5, 0.9), y, y_mask, [1, 5, 20], cfg, 10)


def test_masked_stocks_do_not_change_the_loss():
    point, q, y, y_mask = _batch(2)
    y_mask[:, -2:] = False
    cfg = LossConfig()
    a = compute_loss(point, q, (0.1, 0.5, 0.9), y, y_mask, [1, 5, 20], cfg, 5).total
    point2, y2 = point.clone(), y.clone()
    point2[:, -2:] = 1e6
    y2[:, -2:] = float("nan")
    b = compute_loss(point2, q, (0.1, 0.5, 0.9), y2, y_mask, [1, 5, 20], cfg, 5).total
    assert float(a) == pytest.approx(float(b), rel=1e-6)
    assert torch.isfinite(b)


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(st.integers(-100, 100), min_size=3, max_size=15, unique=True),
    seed=st.integers(0, 1000),
)
def test_rank_ic_matches_scipy_free_spearman_and_is_monotone_invariant(values, seed):
    p = torch.tensor([values], dtype=torch.float32)
    y = torch.from_numpy(np.random.default_rng(seed).permutation(len(values))).float()[None]
    m = torch.ones_like(p, dtype=torch.bool)
    rp = np.argsort(np.argsort(values))
    expected = np.corrcoef(rp, y[0].numpy())[0, 1]
    assert float(rank_ic_days(p, y, m)[0]) == pytest.approx(expected, abs=1e-5)
    assert float(rank_ic_days(p.pow(3) - 7, y, m)[0]) == pytest.approx(expected, abs=1e-5)
    assert float(pearson_days(y, y, m)[0]) == pytest.approx(1.0, abs=1e-5)


def test_constant_predictions_have_no_ic():
    p = torch.zeros(1, 5)
    y = torch.arange(5.0)[None]
    m = torch.ones(1, 5, dtype=torch.bool)
    assert torch.isnan(rank_ic_days(p, y, m)).all()
    assert torch.isnan(pearson_days(p, y, m)).all()
