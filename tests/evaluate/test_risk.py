"""Risk statistics equal empyrical's on the same series; calendar-based annualisation."""

from __future__ import annotations

import datetime as dt
import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gogooku.calendar import TradingCalendar
from gogooku.evaluate import risk

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import empyrical as ep

P = 245.0


def _series(seed: int, n: int = 300, mu: float = 4e-4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    bench = rng.normal(2e-4, 0.01, n)
    r = 0.8 * bench + rng.normal(mu, 0.008, n)
    return r, bench


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_statistics_equal_empyrical(seed):
    r, b = _series(seed)
    idx = pd.bdate_range("2021-01-04", periods=r.size)
    s, bs = pd.Series(r, index=idx), pd.Series(b, index=idx)
    stats = risk.return_stats(r, P)
    assert stats["annual_return"] == pytest.approx(ep.annual_return(s, annualization=P), rel=1e-10)
    assert stats["annual_volatility"] == pytest.approx(
        ep.annual_volatility(s, annualization=P), rel=1e-10
    )
    assert stats["sharpe"] == pytest.approx(ep.sharpe_ratio(s, annualization=P), rel=1e-10)
    assert stats["sortino"] == pytest.approx(ep.sortino_ratio(s, annualization=P), rel=1e-10)
    assert stats["max_drawdown"] == pytest.approx(ep.max_drawdown(s), rel=1e-10)
    assert stats["calmar"] == pytest.approx(ep.calmar_ratio(s, annualization=P), rel=1e-10)
    assert stats["var_95"] == pytest.approx(ep.value_at_risk(s), rel=1e-10)
    assert stats["cvar_95"] == pytest.approx(ep.conditional_value_at_risk(s), rel=1e-10)
    assert stats["tail_ratio"] == pytest.approx(ep.tail_ratio(s), rel=1e-10)
    assert risk.beta(r, b) == pytest.approx(ep.beta(s, bs), rel=1e-10)
    assert risk.downside_risk(r, P) == pytest.approx(
        ep.downside_risk(s, annualization=P), rel=1e-10
    )


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-0.09, 0.09, allow_nan=False), min_size=3, max_size=60))
def test_sharpe_drawdown_and_cagr_property(values):
    r = np.array(values)
    s = pd.Series(r, index=pd.bdate_range("2021-01-04", periods=r.size))
    assert risk.max_drawdown(r) == pytest.approx(ep.max_drawdown(s), abs=1e-12)
    assert risk.annual_return(r, P) == pytest.approx(ep.annual_return(s, annualization=P), rel=1e-9)
    expected = ep.sharpe_ratio(s, annualization=P)
    got = risk.sharpe_ratio(r, P)
    if np.isfinite(expected) and r.std(ddof=1) > 1e-12:
        assert got == pytest.approx(expected, rel=1e-8)


def test_drawdown_hand_computed():
    r = np.array([0.1, -0.5, 0.2])
    # wealth 1, 1.1, 0.55, 0.66; peak 1, 1.1, 1.1, 1.1
    assert risk.drawdown_series(r).tolist() == pytest.approx([0, 0, -0.5, -0.4])
    assert risk.max_drawdown(r) == pytest.approx(-0.5)


def test_periods_per_year_from_the_calendar():
    cal = TradingCalendar.from_xtks(dt.date(2021, 1, 1), dt.date(2021, 12, 31))
    ppy = risk.periods_per_year(cal, dt.date(2021, 1, 1), dt.date(2021, 12, 31))
    assert ppy == pytest.approx(len(cal) / (365 / 365.25))
    assert 240 < ppy < 250
    with pytest.raises(ValueError, match="before start"):
        risk.periods_per_year(cal, dt.date(2021, 2, 1), dt.date(2021, 1, 1))


def test_monthly_and_yearly_returns_compound():
    daily = pl.DataFrame(
        {
            "Date": [
                dt.date(2021, 1, 4),
                dt.date(2021, 1, 5),
                dt.date(2021, 2, 1),
                dt.date(2022, 1, 4),
            ],
            "r": [0.1, 0.1, -0.5, 0.2],
        }
    )
    monthly = risk.period_returns(daily, "r", "month")
    assert monthly.select("year", "month").rows() == [(2021, 1), (2021, 2), (2022, 1)]
    assert monthly["ret"].to_list() == pytest.approx([0.21, -0.5, 0.2])
    yearly = risk.period_returns(daily, "r", "year")
    assert yearly["ret"].to_list() == pytest.approx([1.21 * 0.5 - 1, 0.2])
    with pytest.raises(ValueError, match="every"):
        risk.period_returns(daily, "r", "week")


def test_degenerate_series():
    assert risk.sharpe_ratio(np.array([0.01, 0.01, 0.01]), P) is None
    assert risk.return_stats(np.array([]), P)["annual_return"] is None
    assert risk.calmar_ratio(np.array([0.01, 0.02]), P) is None  # no drawdown


def test_qlib_risk_analysis_hand_computed():
    out = risk.qlib_risk_analysis(np.array([0.01, -0.02, 0.03]), 238.0)
    # cumulative sums 0.01, −0.01, 0.02; running max 0.01, 0.01, 0.02 -> drawdown −0.02
    assert out["max_drawdown"] == pytest.approx(-0.02)
    assert out["mean"] == pytest.approx(0.02 / 3)
    assert out["annualized_return"] == pytest.approx(0.02 / 3 * 238)
    assert out["std"] == pytest.approx(np.sqrt(0.0012666666666666666 / 2))
    assert out["information_ratio"] == pytest.approx(0.02 / 3 / out["std"] * np.sqrt(238))
    assert risk.qlib_risk_analysis(np.array([0.01]), 238.0)["mean"] is None
