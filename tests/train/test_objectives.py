"""The DMN, MSE and Sortino-style losses and the validation long-short Sharpe, by hand."""

from __future__ import annotations

import math
import statistics
from datetime import date, timedelta

import pytest
import torch

from gogooku.train.config import LossConfig
from gogooku.train.diagnostics import long_short_sharpe, long_short_weights
from gogooku.train.losses import (
    LossError,
    compute_loss,
    dmn_loss,
    dmn_positions,
    soft_topk_sharpe,
    soft_topk_sortino,
    squared_error,
)

# 2 stocks × 3 days: with two stocks the positions are ±0.5 by the sign of p₁ − p₂
P = torch.tensor([[1.0, -1.0], [2.0, 0.0], [-1.0, 1.0]])
Y = torch.tensor([[0.02, 0.00], [0.01, 0.03], [-0.02, 0.04]])
M = torch.ones(3, 2, dtype=torch.bool)


def test_dmn_positions_are_dollar_neutral_with_unit_gross():
    w = dmn_positions(P, M)
    assert torch.allclose(w, torch.tensor([[0.5, -0.5], [0.5, -0.5], [-0.5, 0.5]]))
    # tanh(p) = (0.5, 0, −0.5) on three stocks, a fourth masked: w = a (mean 0, gross 1)
    p = torch.tensor([[math.atanh(0.5), 0.0, math.atanh(-0.5), 9.0]])
    m = torch.tensor([[True, True, True, False]])
    assert torch.allclose(dmn_positions(p, m), torch.tensor([[0.5, 0.0, -0.5, 0.0]]), atol=1e-6)


def test_dmn_loss_by_hand():
    """Gross returns 0.01, −0.01, 0.03; turnover 0 then 2 (the book flips), cost 10 bp:
    r = (0.01, −0.01, 0.028); L = −mean(r)/std(r) (population) + λ · mean turnover (= 1)."""
    r = [0.01, -0.01, 0.03 - 0.001 * 2]
    sharpe = statistics.fmean(r) / statistics.pstdev(r)
    got = dmn_loss(P, Y, M, horizon=1, cost=0.001, turnover=0.1)
    assert float(got) == pytest.approx(-sharpe + 0.1 * 1.0, rel=1e-4)
    # the h-day target is pro-rated: h = 2 halves the gross returns, not the costs
    r2 = [0.005, -0.005, 0.015 - 0.002]
    got2 = dmn_loss(P, Y, M, horizon=2, cost=0.001, turnover=0.0)
    assert float(got2) == pytest.approx(-statistics.fmean(r2) / statistics.pstdev(r2), rel=1e-4)
    p = P.clone().requires_grad_(True)
    dmn_loss(p, Y, M, 1, 0.001, 0.1).backward()
    assert p.grad is not None and torch.isfinite(p.grad).all()


def test_dmn_term_in_the_total_and_its_errors():
    point, y, y_mask = P.unsqueeze(-1), Y.unsqueeze(-1), M.unsqueeze(-1)
    codes = torch.arange(2).expand(3, -1)
    cfg = LossConfig(rank=0, cs_ic=0, sharpe=0, quantile=0, dmn=2.0, dmn_turnover=0.1)
    got = compute_loss(point, None, (), y, y_mask, [1], cfg, 1, codes)
    assert float(got.total) == pytest.approx(2.0 * float(dmn_loss(P, Y, M, 1, 0.001, 0.1)))
    assert set(got.terms) == {"dmn", "sharpe", "rank", "cs_ic"}
    with pytest.raises(LossError, match="same stocks"):
        compute_loss(
            point, None, (), y, y_mask, [1], cfg, 1, torch.tensor([[0, 1], [0, 1], [1, 0]])
        )
    with pytest.raises(LossError, match="contiguous_days"):
        compute_loss(point, None, (), y, y_mask, [1], cfg, 1, None)
    with pytest.raises(LossError, match="at least 2 consecutive days"):
        compute_loss(point[:1], None, (), y[:1], y_mask[:1], [1], cfg, 1, codes[:1])


def test_mse_by_hand():
    """y = (1, 3) → z = (−1, 1); p = (0, 0): 1; p = (−1, 2): (0 + 1) / 2."""
    y = torch.tensor([[1.0, 3.0], [1.0, 3.0]])
    p = torch.tensor([[0.0, 0.0], [-1.0, 2.0]])
    m = torch.ones(2, 2, dtype=torch.bool)
    assert torch.allclose(squared_error(p, y, m), torch.tensor([1.0, 0.5]), atol=1e-5)


def test_sortino_equals_the_sharpe_term_without_a_losing_day():
    g = torch.Generator().manual_seed(0)
    y = torch.randn(4, 9, generator=g)
    m = torch.ones(4, 9, dtype=torch.bool)
    p = y.clone()  # every day's book leans on the day's winners: R_d > 0
    assert (soft_topk_sharpe(p, y, m, 2.0) < 0).all()
    got = soft_topk_sortino(p, y, m, 2.0)
    assert float(got) == pytest.approx(float(soft_topk_sharpe(p, y, m, 2.0).mean()), rel=1e-6)


def test_sortino_by_hand_with_a_losing_day():
    """Two stocks, τ = 2: z(p) = ±1 gives w = (σ(1), σ(−1)); z(y) = ±1, so R_d = ±tanh(½).
    Days +, +, −: L = −(q/3) / sqrt(1 + q²/3), q = tanh(½)."""
    p = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    y = torch.tensor([[2.0, 1.0], [2.0, 1.0], [1.0, 2.0]])
    m = torch.ones(3, 2, dtype=torch.bool)
    q = math.tanh(0.5)
    got = soft_topk_sortino(p, y, m, 2.0)
    assert float(got) == pytest.approx(-(q / 3) / math.sqrt(1 + q * q / 3), rel=1e-5)


def test_validation_long_short_sharpe_by_hand():
    """Four stocks, K = 1: +0.5 on the top forecast, −0.5 on the bottom; the book flips on day
    1 (turnover 2, cost 10 bp): r = (0.02, 0.01 − 0.002, −0.005); three calendar days → P = 365.25."""
    p = torch.tensor([[4.0, 3.0, 2.0, 1.0], [1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0]])
    y = torch.tensor([[0.02, 0.0, 0.0, -0.02], [0.01, 0.0, 0.0, 0.03], [0.0, 0.0, 0.0, -0.01]])
    m = torch.ones(3, 4, dtype=torch.bool)
    w = long_short_weights(p, m, 1)
    assert torch.equal(w[0], torch.tensor([0.5, 0.0, 0.0, -0.5]))
    dates = [date(2024, 1, 1) + timedelta(days=i) for i in range(3)]
    r = [0.02, 0.008, -0.005]
    expected = statistics.fmean(r) / statistics.stdev(r) * math.sqrt(365.25)
    assert long_short_sharpe(p, y, m, dates, 1, 1, 10.0) == pytest.approx(expected, rel=1e-5)
    # k = min(K, ⌊n/2⌋): K = 5 on four stocks trades two a side at ±0.25
    assert torch.equal(long_short_weights(p, m, 5)[0], torch.tensor([0.25, 0.25, -0.25, -0.25]))
    assert long_short_sharpe(p[:1], y[:1], m[:1], dates[:1], 1, 1, 10.0) is None
