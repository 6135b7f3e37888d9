"""Paired statistics: hand-computed Newey–West variance and DM statistic, and properties of the
paired bootstrap (identical runs, swapping A and B, a constant shift)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from gogooku.evaluate import bootstrap, paired


def test_newey_west_lag_formula():
    # ⌊4 (n/100)^{2/9}⌋: 4 at n = 100, 3 at n = 50 (4·0.5^{2/9} = 3.43), 5 at n = 300 (5.11).
    assert paired.newey_west_lag(100, 1) == 4
    assert paired.newey_west_lag(50, 1) == 3
    assert paired.newey_west_lag(300, 1) == 5
    assert paired.newey_west_lag(1000, 1) == 6  # 4·10^{2/9} = 6.67
    assert paired.newey_west_lag(100, 20) == 19  # h − 1 wins for long horizons
    assert paired.newey_west_lag(5, 1) == 2  # 4·0.05^{2/9} = 2.06
    assert paired.newey_west_lag(0, 5) == 0


def test_newey_west_variance_by_hand():
    d = np.array([1.0, -1.0, 2.0, 0.0])  # mean 0.5
    c = [0.5, -1.5, 1.5, -0.5]  # d − d̄
    n = 4
    g0 = (0.25 + 2.25 + 2.25 + 0.25) / n  # 1.25
    g1 = (c[1] * c[0] + c[2] * c[1] + c[3] * c[2]) / n  # (−0.75 − 2.25 − 0.75)/4 = −0.9375
    g2 = (c[2] * c[0] + c[3] * c[1]) / n  # (0.75 + 0.75)/4 = 0.375
    assert paired.autocovariance(d, 0) == pytest.approx(g0)
    assert paired.autocovariance(d, 1) == pytest.approx(g1)
    assert paired.autocovariance(d, 2) == pytest.approx(g2)
    assert paired.autocovariance(d, 4) == 0.0
    # L = 2: weights 1 − 1/3 and 1 − 2/3.
    s = g0 + 2 * (2 / 3) * g1 + 2 * (1 / 3) * g2  # 1.25 − 1.25 + 0.25 = 0.25
    assert s == pytest.approx(0.25)
    assert paired.newey_west_variance(d, 2) == pytest.approx(s)
    assert paired.newey_west_variance(d, 0) == pytest.approx(g0)


def test_diebold_mariano_by_hand():
    a = np.array([0.1, 0.2, 0.0, 0.3])
    b = a + np.array([1.0, -1.0, 2.0, 0.0])  # d as above: mean 0.5
    # h = 3: L = max(3 − 1, ⌊4·0.04^{2/9}⌋ = ⌊1.95⌋ = 1) = 2, so S = 0.25 as above and
    # DM = 0.5 / √(0.25/4) = 2, p = erfc(2/√2) = 0.0455.
    out = paired.diebold_mariano(a, b, horizon=3)
    assert out["lag"] == 2 and out["n"] == 4
    assert out["mean"] == pytest.approx(0.5)
    assert out["t_stat"] == pytest.approx(2.0)
    assert out["p_value"] == pytest.approx(0.04550026389635842)
    assert paired.diebold_mariano(a, b, horizon=1)["lag"] == 1
    # p = 2(1 − Φ(1.96)) ≈ 0.05
    assert paired.normal_two_sided_p(1.959963984540054) == pytest.approx(0.05, abs=1e-12)


def test_dm_of_identical_series_is_undefined_not_infinite():
    x = np.array([0.1, 0.2, -0.05, 0.0, 0.3])
    out = paired.diebold_mariano(x, x.copy(), horizon=5)
    assert out["mean"] == 0.0 and out["t_stat"] is None and out["p_value"] is None


def test_paired_inputs_are_checked():
    with pytest.raises(ValueError, match="equal 1-d shapes"):
        paired.mean_difference(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="finite"):
        paired.mean_difference(np.array([0.0, np.nan]), np.zeros(2))
    out = paired.mean_difference_ci(np.array([0.1]), np.array([0.2]))
    assert out["low"] is None and out["estimate"] is None


def test_paired_bootstrap_resamples_the_same_days_for_both_runs():
    """With b = a + c the replicates of mean(b) − mean(a) are all c: the interval collapses,
    which an unpaired bootstrap (independent days for A and B) would not do."""
    rng = np.random.default_rng(1)
    a = rng.normal(0.02, 0.1, 200)
    ci = paired.mean_difference_ci(a, a + 0.01, horizon=5, replicates=200)
    assert ci["estimate"] == pytest.approx(0.01)
    assert ci["low"] == pytest.approx(0.01) and ci["high"] == pytest.approx(0.01)
    assert ci["block"] == bootstrap.default_block_length(200, 5)


def test_sharpe_difference_matches_risk_sharpe():
    from gogooku.evaluate import risk

    rng = np.random.default_rng(2)
    a = rng.normal(0.001, 0.01, 120)
    b = rng.normal(0.002, 0.01, 120)
    ci = paired.sharpe_difference_ci(a, b, 245.0, horizon=1, replicates=300)
    assert ci["estimate"] == pytest.approx(
        risk.sharpe_ratio(b, 245.0) - risk.sharpe_ratio(a, 245.0)
    )
    assert ci["low"] < ci["estimate"] < ci["high"]


_series = st.integers(min_value=2, max_value=60).flatmap(
    lambda n: st.tuples(
        arrays(np.float64, n, elements=st.floats(-1, 1, allow_nan=False, width=32)),
        arrays(np.float64, n, elements=st.floats(-1, 1, allow_nan=False, width=32)),
    )
)


@settings(max_examples=40, deadline=None)
@given(_series, st.integers(1, 20))
def test_identical_series_differ_by_exactly_zero(pair, h):
    a, _ = pair
    ci = paired.mean_difference_ci(a, a.copy(), horizon=h, replicates=50)
    assert ci["estimate"] == 0.0 and ci["low"] == 0.0 and ci["high"] == 0.0
    sharpe = paired.sharpe_difference_ci(a, a.copy(), 245.0, horizon=h, replicates=50)
    assert sharpe["estimate"] in (0.0, None)
    assert sharpe["low"] in (0.0, None) and sharpe["high"] in (0.0, None)


@settings(max_examples=40, deadline=None)
@given(_series, st.integers(1, 20))
def test_swapping_a_and_b_negates_the_estimate_and_mirrors_the_interval(pair, h):
    a, b = pair
    ab = paired.mean_difference_ci(a, b, horizon=h, replicates=50)
    ba = paired.mean_difference_ci(b, a, horizon=h, replicates=50)
    assert ba["estimate"] == -ab["estimate"]
    assert ba["low"] == pytest.approx(-ab["high"], abs=1e-12)
    assert ba["high"] == pytest.approx(-ab["low"], abs=1e-12)
    dm_ab, dm_ba = paired.diebold_mariano(a, b, h), paired.diebold_mariano(b, a, h)
    if dm_ab["t_stat"] is not None:
        assert dm_ba["t_stat"] == pytest.approx(-dm_ab["t_stat"])
        assert dm_ba["p_value"] == pytest.approx(dm_ab["p_value"])
    sab = paired.sharpe_difference_ci(a, b, 245.0, horizon=h, replicates=50)
    sba = paired.sharpe_difference_ci(b, a, 245.0, horizon=h, replicates=50)
    if sab["estimate"] is not None:
        assert sba["estimate"] == -sab["estimate"]
    if sab["low"] is not None:
        # a near-constant series has a Sharpe in the millions: compare relative to its size
        assert sba["low"] == pytest.approx(-sab["high"], rel=1e-9, abs=1e-9)
        assert sba["high"] == pytest.approx(-sab["low"], rel=1e-9, abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(_series, st.floats(-0.5, 0.5, allow_nan=False), st.integers(1, 20))
def test_a_constant_shift_of_b_moves_the_mean_difference_by_the_shift(pair, c, h):
    a, b = pair
    base = paired.mean_difference_ci(a, b, horizon=h, replicates=50)
    shifted = paired.mean_difference_ci(a, b + c, horizon=h, replicates=50)
    assert shifted["estimate"] == pytest.approx(base["estimate"] + c, abs=1e-12)
    assert shifted["low"] == pytest.approx(base["low"] + c, abs=1e-12)
    assert shifted["high"] == pytest.approx(base["high"] + c, abs=1e-12)
    assert paired.mean_difference(a, b + c) == pytest.approx(
        paired.mean_difference(a, b) + c, abs=1e-12
    )


@settings(max_examples=40, deadline=None)
@given(_series, st.integers(1, 20))
def test_the_dm_statistic_has_the_sign_of_the_mean_difference(pair, h):
    a, b = pair
    out = paired.diebold_mariano(a, b, h)
    if out["t_stat"] is not None:
        assert np.sign(out["t_stat"]) == np.sign(out["mean"])
        assert 0.0 <= out["p_value"] <= 1.0
