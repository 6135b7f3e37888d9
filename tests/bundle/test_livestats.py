"""The live-monitoring formulas against hand-computed values, and their properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gogooku.bundle.livestats import (
    bin_shares,
    decile_edges,
    paired_t_one_sided,
    psi,
    rank_ic,
    topk_spread,
    trailing_mean,
)

NAN = math.nan


def test_rank_ic_by_hand():
    assert rank_ic(np.array([1, 2, 3, 4]), np.array([10, 20, 30, 40])) == pytest.approx(1.0)
    assert rank_ic(np.array([1, 2, 3, 4]), np.array([0.4, 0.3, 0.2, 0.1])) == pytest.approx(-1.0)
    # ties share their mean rank: ranks (1, 2.5, 2.5, 4) vs (1, 2, 3, 4) → 4.5 / √(4.5·5) = √0.9
    tied = rank_ic(np.array([1, 2, 2, 3, NAN]), np.array([1, 2, 3, 4, 5]))
    assert tied == pytest.approx(math.sqrt(0.9))
    assert math.isnan(rank_ic(np.array([1, 1, 1]), np.array([1, 2, 3])))
    assert math.isnan(rank_ic(np.array([1.0]), np.array([2.0])))


def test_topk_spread_by_hand():
    scores = np.array([5, 4, 3, 2, 1])
    rets = np.array([0.05, 0.04, 0.03, 0.02, 0.01])
    assert topk_spread(scores, rets, 2) == pytest.approx(0.045 - 0.015)
    assert topk_spread(scores, rets, 10) == pytest.approx(0.03)  # K capped at ⌊5/2⌋ = 2
    assert topk_spread(scores, rets, 1) == pytest.approx(0.04)
    assert topk_spread(scores, np.array([0.05, NAN, 0.03, 0.02, 0.01]), 1) == pytest.approx(0.04)
    assert math.isnan(topk_spread(np.array([1.0]), np.array([0.1]), 5))


def test_deciles_shares_and_psi_by_hand():
    assert decile_edges(np.arange(11.0)) == [float(i) for i in range(1, 10)]
    assert decile_edges(np.array([NAN])) == []
    assert decile_edges(np.ones(50)) == [1.0]  # duplicate quantiles collapse
    # (−∞, 1], (1, 2], (2, ∞): an edge value falls in the bin it closes
    assert bin_shares(np.array([0.5, 1, 1.5, 2, 3, NAN]), [1.0, 2.0]) == [0.4, 0.4, 0.2]
    assert bin_shares(np.array([]), [1.0]) == [0.0, 0.0]
    # (0.25 − 0.5)·ln(0.5) + (0.75 − 0.5)·ln(1.5)
    assert psi([0.5, 0.5], [0.25, 0.75]) == pytest.approx(0.25 * math.log(2) + 0.25 * math.log(1.5))
    # empty bins are floored at 1e-4: 2 · 0.9999 · ln(1e4)
    assert psi([1.0, 0.0], [0.0, 1.0]) == pytest.approx(2 * 0.9999 * math.log(1e4))
    with pytest.raises(ValueError, match="2 expected bins, 3 actual"):
        psi([0.5, 0.5], [0.2, 0.3, 0.5])


def test_trailing_mean_and_paired_t_by_hand():
    out = trailing_mean(np.array([1.0, 2.0, 3.0, 4.0]), 2)
    assert np.isnan(out[0]) and out[1:].tolist() == [1.5, 2.5, 3.5]
    assert np.isnan(trailing_mean(np.array([1.0, 2.0]), 3)).all()
    # d = (1, 2, 3): t = 2 / (1/√3); with 2 df, P(T ≥ t) = (1 − t / √(t² + 2)) / 2
    t, p = paired_t_one_sided(np.array([1.0, 2.0, 3.0]))
    assert t == pytest.approx(2 * math.sqrt(3))
    assert p == pytest.approx((1 - t / math.sqrt(t * t + 2)) / 2)
    assert paired_t_one_sided(np.array([0.1, 0.1])) == (math.inf, 0.0)
    assert paired_t_one_sided(np.array([-0.1, -0.1]))[1] == 1.0
    assert math.isnan(paired_t_one_sided(np.array([0.3]))[1])


finite = st.floats(-1e6, 1e6, allow_nan=False, allow_subnormal=False)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(finite, finite), min_size=3, max_size=40))
def test_rank_ic_is_bounded_and_rank_invariant(pairs):
    s, r = (np.array(x) for x in zip(*pairs, strict=True))
    value = rank_ic(s, r)
    if math.isnan(value):
        return
    assert -1 - 1e-9 <= value <= 1 + 1e-9
    assert rank_ic(2 * s, 4 * r) == pytest.approx(value)  # monotone maps keep the ranks


@settings(max_examples=40, deadline=None)
@given(st.lists(finite, min_size=5, max_size=60), st.lists(finite, min_size=1, max_size=60))
def test_psi_is_zero_on_itself_and_never_negative(reference, sample):
    edges = decile_edges(np.array(reference))
    own = bin_shares(np.array(reference), edges)
    assert psi(own, own) == 0.0
    assert sum(own) == pytest.approx(1.0)
    assert psi(own, bin_shares(np.array(sample), edges)) >= 0.0
