"""Golden statistics of the fixed-seed 200 x 2 y market, version 2 (ranges in
docs/synthetic_market.md); version 2's own effects: ``test_market_versions.py``."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from gogooku.synth import stats


@pytest.fixture(scope="module")
def golden(golden_market):
    return stats.market_stats(golden_market)


def test_return_dispersion_and_market_behaviour(golden):
    assert 0.015 <= golden["dispersion"] <= 0.03
    assert abs(golden["market_lag1_autocorr"]) < 0.1
    assert 0.10 <= golden["market_vol_annual"] <= 0.35


def test_oracle_rank_ic_is_realistic(golden):
    assert 0.05 <= golden["oracle_rank_ic_5d"] <= 0.15


def test_events_occur_and_stay_rare(golden):
    assert 0.0 < golden["limit_hit_share"] < 0.005
    assert golden["splits"] > 0
    assert golden["delistings"] > 0
    assert golden["ipos"] > 0
    assert golden["no_trade_rows"] > 200  # halt day (200 rows) plus ordinary no-trade days
    assert golden["halt_all_null"] is True
    assert golden["dividend_ex_dates"] > 0


def test_price_levels_and_turnover_are_japanese_equity_like(golden):
    assert golden["price_min"] >= 10 and golden["price_max"] <= 100_000
    assert 200 <= golden["price_median"] <= 3_000
    assert 1e7 <= golden["turnover_median_jpy"] <= 5e9


def test_oracle_is_calibrated_against_realised_labels(golden_market):
    """Cross-sectional slope of realised target on the oracle ≈ 1 (the oracle is an expectation).

    Pooled over days after removing each day's mean; standard error ≈ 0.05 at this size, so the
    band 0.75-1.25 is about five standard errors wide.
    """
    frame = golden_market.oracle.join(
        stats.labels(golden_market.tables["equities_bars_daily"], (1, 5)), on=["Date", "Code"]
    )
    for h in (1, 5):
        pred, real = f"exp_target_{h}d", f"target_{h}d"
        demeaned = frame.drop_nulls(real).select(
            (pl.col(c) - pl.col(c).mean().over("Date")).alias(c) for c in (pred, real)
        )
        x, y = demeaned[pred].to_numpy(), demeaned[real].to_numpy()
        assert 0.75 <= float(x @ y / (x @ x)) <= 1.25, h


def test_oracle_rank_ic_rises_with_horizon_in_version_1_and_holds_up_in_version_2(
    golden_market, signal_market
):
    """Version 1's persistent momentum makes the oracle's RankIC rise to 20 days; version 2's
    effects are shorter-lived (reversal, lead–lag; momentum is weak and crashes), so its RankIC
    rises from 1 to 5 days and stays at that level to 20 days."""
    v1 = [stats.oracle_rank_ic(signal_market, h) for h in (1, 5, 20)]
    assert signal_market.config.market_version == 1
    assert v1[0] < v1[1] < v1[2]
    v2 = [stats.oracle_rank_ic(golden_market, h) for h in (1, 5, 20)]
    assert golden_market.config.market_version == 2
    assert v2[0] < v2[1] and v2[2] > 0.8 * v2[1]
    assert np.all(np.array(v1 + v2) > 0.03)
