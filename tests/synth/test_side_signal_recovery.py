"""Each planted side signal is recoverable from the rendered tables alone.

On a 300-stock, three-year market the RankIC of each observable (lagged by its publication rule,
see ``signal_measures.py``) against the realised ``target_5d`` must have the planted sign, lie in
the planted range (0.005-0.05: "roughly 0.01-0.04, none above 0.05"), and be close to the RankIC
of the true contribution measured on the same returns. The tolerance 0.012 is about twice the
standard error of a mean daily RankIC of 300 stocks over ~740 overlapping 5-day windows
(0.06 / sqrt(740 / 5) ~ 0.005), because observable and contribution share the return noise.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest

from gogooku.synth.config import SynthConfig
from gogooku.synth.market import SyntheticMarket, generate_market

from . import signal_measures as measures

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wide_market() -> SyntheticMarket:
    return generate_market(
        SynthConfig(seed=9, stocks=300, start=date(2020, 1, 1), end=date(2022, 12, 31))
    )


@pytest.fixture(scope="module")
def targets(wide_market) -> pl.DataFrame:
    return measures.forward_returns(wide_market.tables["equities_bars_daily"])


@pytest.fixture(scope="module")
def contribution_ic(wide_market, targets) -> dict[str, float]:
    state = wide_market.state
    tt, ii = np.nonzero(state.listed)
    dates = pl.Series(state.days, dtype=pl.Date).gather(tt)
    codes = state.universe["Code"].gather(ii)
    out = {}
    version = wide_market.config.market_version
    for name, arr in state.latents.contributions(state.universe, version).items():
        frame = pl.DataFrame({"Date": dates, "Code": codes, "value": arr[tt, ii]})
        out[name] = measures.rank_ic(frame.join(targets, on=["Date", "Code"]))
    return out


def _observable(name: str, market: SyntheticMarket) -> pl.DataFrame:
    t, days = market.tables, market.state.days
    if name == "margin":
        return measures.margin_measure(t["markets_margin_interest"], t["equities_bars_daily"], days)
    if name == "short":
        return measures.short_measure(t["markets_short_sale_report"], days)
    if name == "flow":
        return measures.flow_measure(t["equities_investor_types"], t["equities_bars_daily"], days)
    if name == "accruals":
        return measures.accruals_measure(t["fins_details"], days)
    return measures.drift_measure(t["fins_summary"], days)


@pytest.mark.parametrize("name", ["margin", "short", "flow", "drift", "accruals"])
def test_observable_recovers_the_planted_signal(name, wide_market, targets, contribution_ic):
    planted = contribution_ic[name]
    assert 0.005 < planted < 0.05, (name, planted)
    observed = measures.rank_ic(measures.broadcast(_observable(name, wide_market), targets))
    assert 0.005 < observed < 0.05, (name, observed)
    assert abs(observed - planted) < 0.012, (name, observed, planted)


def test_annual_report_concentration_recovers_the_planted_tilt(
    wide_market, targets, contribution_ic
):
    planted = contribution_ic["concentration"]
    assert 0.005 < planted < 0.05, planted
    major = wide_market.tables["edinet_major_shareholders"]
    frame = measures.broadcast(
        measures.concentration_measure(major, wide_market.state.days), targets
    )
    observed = measures.rank_ic(frame)
    assert 0.005 < observed < 0.05, observed
    assert abs(observed - planted) < 0.012, (observed, planted)


def test_no_single_side_observable_exceeds_the_realism_cap(wide_market, targets):
    for name in ("margin", "short", "flow", "drift", "accruals"):
        frame = measures.broadcast(_observable(name, wide_market), targets)
        assert abs(measures.rank_ic(frame)) < 0.05, name


def test_post_reform_sections(wide_market):
    it = wide_market.tables["equities_investor_types"]
    new = it.filter(pl.col("StDate") >= date(2022, 4, 4))
    old = it.filter(pl.col("StDate") < date(2022, 4, 4))
    assert set(new["Section"]) <= {"TSEPrime", "TSEStandard", "TSEGrowth", "TokyoNagoya"}
    assert "TSEPrime" in set(new["Section"])
    assert "TSEPrime" not in set(old["Section"])
