"""The top-K DCG-weighted ListNet term (``loss.top_rank``): hand value, gradient signs and
masking (its default weight 0 and its reaching the total: tests/train/test_losses.py)."""

from __future__ import annotations

import math

import pytest
import torch

from gogooku.train.losses import top_k_listnet

# one day, five stocks, the last masked (garbage target and forecast)
Y = torch.tensor([[0.04, -0.02, 0.01, -0.03, 99.0]])
M = torch.tensor([[True, True, True, True, False]])


def test_hand_value_with_k_two():
    p = torch.tensor([[0.5, 0.0, -0.5, 0.2, 9.0]])
    # true ranks 1 (stock 0) and 2 (stock 2) carry the target mass 1 : 1/log2(3)
    w = torch.tensor([1.0, 0.0, 1.0 / math.log2(3.0), 0.0])
    t = w / w.sum()
    log_sm = torch.log_softmax(p[0, :4], dim=0)
    expected = float(-(t * log_sm).sum())
    assert float(top_k_listnet(p, Y, M, 2)[0]) == pytest.approx(expected, rel=1e-6)


def test_gradient_pushes_the_true_top_up_and_the_rest_down():
    p = torch.zeros(1, 5, requires_grad=True)
    top_k_listnet(p, Y, M, 2).sum().backward()
    g = p.grad[0]
    assert g[0] < 0 and g[2] < 0, "the two best targets are pulled up"
    assert g[1] > 0 and g[3] > 0, "stocks outside the true top K are pushed down"
    assert g[0] < g[2], "rank 1 weighs more than rank 2"
    assert g[4] == 0, "a masked stock gets no gradient"


def test_masked_stock_values_do_not_change_the_term():
    p = torch.tensor([[0.5, 0.0, -0.5, 0.2, 9.0]])
    other = p.clone()
    other[0, 4] = -7.0
    y2 = Y.clone()
    y2[0, 4] = -50.0
    assert torch.equal(top_k_listnet(p, Y, M, 3), top_k_listnet(other, y2, M, 3))
