"""Each planted price signal is recoverable from the published bars with its planted strength.

Scores are recomputed from ``equities_bars_daily`` (and the hidden peer graph), then regressed
jointly (Fama–MacBeth) on the daily rank of ``target_1d``. The planted strength ``s`` is the IC
the score would have with the next-day return; the estimate should be ``≈ 0.95 s`` (rank versus
Pearson correlation) up to sampling error. Tolerance: 3 standard errors of the daily slopes
plus 15 % of ``s`` for the rank factor and for recomputing the scores from prices (AdjC excludes
dividends, the simulator uses total returns).
"""

from __future__ import annotations

import pytest

from gogooku.synth import stats
from gogooku.synth.signals import MOMENTUM, PRICE_SIGNALS, REVERSAL


def _close(estimate: tuple[float, float], planted: float) -> bool:
    mean, se = estimate
    return abs(mean - planted) <= 3 * se + 0.15 * abs(planted) + 1e-3


@pytest.fixture(scope="module")
def by_regime(signal_market):
    return stats.signal_regression(signal_market)


@pytest.fixture(scope="module")
def univariate(signal_market):
    return stats.measured_signal_ic(signal_market)


@pytest.mark.parametrize("spec", PRICE_SIGNALS, ids=lambda s: s.name)
def test_signal_strength_is_recovered(signal_market, by_regime, univariate, spec):
    planted = stats.planted_ic(signal_market)[spec.name]
    # the plain daily RankIC of the score alone is also within the tolerance (its correlation
    # with the other scores is small enough: |ρ| ≈ 0.1-0.25 between reversal and peer)
    assert _close(univariate[spec.name], planted), (univariate[spec.name], planted)
    assert _close(by_regime["all"][spec.name], planted), (by_regime["all"][spec.name], planted)
    assert _close(by_regime["normal"][spec.name], spec.strength)
    assert _close(by_regime["high"][spec.name], spec.strength_high)


def test_high_volatility_regime_strengthens_reversal_and_kills_momentum(signal_market, by_regime):
    assert 0.1 < signal_market.state.high_vol_regime.mean() < 0.4
    assert REVERSAL.strength_high > REVERSAL.strength and MOMENTUM.strength_high < MOMENTUM.strength
    assert by_regime["high"]["reversal"][0] > by_regime["normal"]["reversal"][0]
    assert by_regime["high"]["momentum"][0] < by_regime["normal"]["momentum"][0]


def test_no_single_price_score_is_too_strong(univariate):
    """Realism: every planted price score alone has a daily RankIC in (0, 0.05) on target_1d."""
    for name, (ic, se) in univariate.items():
        assert ic - 2 * se > 0.0 and ic < 0.05, name


def test_peers_co_move(signal_market):
    """The hidden peer graph is visible in correlations: peers correlate more than non-peers."""
    corr = stats.peer_correlation(signal_market)
    assert corr["peer"] > corr["same_sector_non_peer"] + 0.03
    assert corr["same_sector_non_peer"] > corr["other_sector"]
