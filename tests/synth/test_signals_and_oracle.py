"""Signal arithmetic, the regime chain and the oracle formula on hand-made inputs."""

from __future__ import annotations

import zlib
from datetime import date

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from gogooku.synth.config import rng_for
from gogooku.synth.signals import (
    PEER,
    REGIME,
    REVERSAL,
    SignalState,
    oracle_targets,
    zscore_rows,
)


def test_rng_for_is_keyed_by_seed_stream_and_day():
    day = date(2021, 3, 4)
    expected = np.random.default_rng([7, zlib.crc32(b"prices"), day.toordinal()]).random(3)
    np.testing.assert_array_equal(rng_for(7, "prices", day).random(3), expected)
    assert rng_for(7, "prices", day).random() != rng_for(7, "prices", date(2021, 3, 5)).random()
    assert rng_for(7, "prices", day).random() != rng_for(7, "margin", day).random()


@given(
    arrays(np.int64, (4, 9), elements=st.integers(-100, 100)),
    arrays(bool, (4, 9)),
)
def test_zscore_rows_standardises_valid_cells(x, valid):
    """With at most 9 stocks |z| <= sqrt(8) < 3, so no clipping: mean 0 and std 1 exactly."""
    z = zscore_rows(x.astype(np.float64), valid)
    assert (z[~valid] == 0).all()
    for raw, row, ok in zip(x, z, valid, strict=True):
        if len(set(raw[ok])) > 1:
            assert abs(row[ok].mean()) < 1e-12
            assert abs(row[ok].std() - 1.0) < 1e-12
        else:
            assert (row == 0).all()


def test_regime_probability_decays_to_the_stationary_share():
    pi = REGIME.p_up / (REGIME.p_up + REGIME.p_down)
    high, normal = np.array([True]), np.array([False])
    assert REGIME.prob_high(high, 0)[0] == pytest.approx(1.0)
    assert REGIME.prob_high(normal, 0)[0] == pytest.approx(0.0)
    assert REGIME.prob_high(normal, 1)[0] == pytest.approx(REGIME.p_up)
    assert REGIME.prob_high(high, 1)[0] == pytest.approx(1.0 - REGIME.p_down)
    assert REGIME.prob_high(high, 5000)[0] == pytest.approx(pi)


def test_oracle_composes_signals_drift_dividends_and_the_halt_day():
    """Two stocks, hand-set scores, one ex-dividend day, one no-trade (halt) day."""
    n_days, n = 4, 2
    state = SignalState(n_days, sp.csr_matrix((n, n)))
    state.z["reversal"][:] = [[1.0, -1.0]] * n_days
    state.z["peer"][:] = [[-0.5, 0.5]] * n_days
    dispersion = np.full(n_days, 0.02)
    high = np.array([False, True, False, False])
    listed = np.ones((n_days, n), dtype=bool)
    drift = np.array([0.0003, 0.0006])
    rows = n_days + 22
    div = np.zeros((rows, n))
    div[3, 0] = 0.01  # ex-dividend on day 3 for stock 0
    trading = np.ones(rows, dtype=bool)
    trading[4] = False  # halt on day 4
    side = {"drift": np.array([[0.001, -0.001]] * n_days)}
    out = oracle_targets(state, dispersion, high, listed, side, {"drift": 0.9}, drift, div, trading)

    def expected_return(t: int, k: int, i: int) -> float:
        p = REGIME.prob_high(np.array([high[t]]), k)[0]
        s_rev = REVERSAL.strength + (REVERSAL.strength_high - REVERSAL.strength) * p
        mu = 0.02 * (-s_rev * REVERSAL.decay**k * state.z["reversal"][t, i])
        mu += 0.02 * PEER.strength * PEER.decay**k * state.z["peer"][t, i]
        mu += 0.9**k * side["drift"][t, i]
        d = t + 2 + k
        return (drift[i] + mu - div[d, i]) * trading[d]

    for t in range(n_days):
        for i in range(n):
            for h in (1, 5, 20):
                growth = np.prod([1.0 + expected_return(t, k, i) for k in range(h)]) - 1.0
                assert out[h][t, i] == pytest.approx(growth, rel=1e-9, abs=1e-15)
    # by hand, day 1 (high regime), stock 0: drift 0.0003, reversal -0.05*0.02*1, peer
    # 0.03*0.02*(-0.5), side +0.001, ex-dividend on day 3 -0.01
    assert out[1][1, 0] == pytest.approx(0.0003 - 0.001 - 0.0003 + 0.001 - 0.01)
    assert out[1][2, 0] == 0.0  # day 2 + 2 is the halt: no price move expected
