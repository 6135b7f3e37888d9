"""Hypothesis properties of the backtest on random markets."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gogooku.evaluate.backtest import BacktestConfig, run_backtest

from .conftest import dense_scores, random_market, trading_days

SETTINGS = settings(max_examples=40, deadline=None)
seeds = st.integers(0, 2**32 - 1)


def _codes(n: int) -> list[str]:
    return [f"{1000 + i}" for i in range(n)]


@SETTINGS
@given(seed=seeds, n_days=st.integers(4, 12), n_codes=st.integers(3, 8), data=st.data())
def test_perfect_foresight_without_costs_beats_the_equal_weight_universe(
    seed, n_days, n_codes, data
):
    # Score at d = A[d+2] / A[d+1] − 1, exactly the return earned by a position traded at the
    # close of d+1 and held one day; the top-K mean of those returns is at least the universe's.
    market, topix, adj = random_market(seed, n_days, n_codes, frictions=False)
    top_k = data.draw(st.integers(1, n_codes - 1))
    future = adj[2:] / adj[1:-1] - 1
    scores = dense_scores(trading_days(n_days), _codes(n_codes), future)
    config = BacktestConfig(top_k=top_k, rebalance_days=1, cost_bps=0.0, capital=1e12, lot_size=1)
    daily = run_backtest(scores, market, topix, config).daily
    excess = (daily["ret_net"] - daily["benchmark_ew"]).to_numpy()
    assert (excess >= -1e-6).all()
    assert daily["nav"][-1] >= 1e12 * np.prod(1 + daily["benchmark_ew"].to_numpy()) * (1 - 1e-6)


@SETTINGS
@given(
    seed=seeds,
    n_days=st.integers(4, 12),
    n_codes=st.integers(3, 8),
    top_k=st.integers(1, 4),
    rebalance=st.integers(1, 3),
    overlapping=st.booleans(),
    strategy=st.sampled_from(["long_only", "long_short"]),
    cost_bps=st.floats(0.0, 100.0),
)
def test_costs_only_lower_returns_and_accounting_identities(
    seed, n_days, n_codes, top_k, rebalance, overlapping, strategy, cost_bps
):
    market, topix, _ = random_market(seed, n_days, n_codes, frictions=True)
    rng = np.random.default_rng(seed + 1)
    scores = dense_scores(trading_days(n_days), _codes(n_codes), rng.normal(size=(n_days, n_codes)))
    config = BacktestConfig(
        top_k=top_k,
        strategy=strategy,
        rebalance_days=rebalance,
        overlapping=overlapping,
        cost_bps=cost_bps,
        capital=1e7,
    )
    res = run_backtest(scores, market, topix, config)
    d = res.daily
    assert (d["cost"] >= 0).all()
    assert (d["ret_net"] <= d["ret_gross"] + 1e-15).all()
    assert d["cost"].to_numpy() == pytest.approx(cost_bps / 1e4 * d["turnover"].to_numpy())
    growth = np.cumprod(1 + d["ret_net"].to_numpy())
    assert d["nav"].to_numpy() == pytest.approx(1e7 * growth, rel=1e-9)
    assert res.sector_contribution["contribution"].sum() == pytest.approx(
        d["ret_gross"].sum(), abs=1e-9
    )


@SETTINGS
@given(
    seed=seeds,
    n_days=st.integers(4, 12),
    n_codes=st.integers(3, 8),
    top_k=st.integers(1, 4),
    rebalance=st.integers(1, 3),
    cost_bps=st.floats(1.0, 100.0),
)
def test_costs_lower_the_nav_in_a_rising_market(seed, n_days, n_codes, top_k, rebalance, cost_bps):
    # With no blocked trades and non-negative returns, a book that pays costs holds at most as
    # many shares of every stock as the same book without costs, so its NAV is never higher.
    market, topix, _ = random_market(seed, n_days, n_codes, frictions=False, non_negative=True)
    rng = np.random.default_rng(seed + 2)
    scores = dense_scores(trading_days(n_days), _codes(n_codes), rng.normal(size=(n_days, n_codes)))
    base = BacktestConfig(top_k=top_k, rebalance_days=rebalance, cost_bps=0.0, capital=1e7)
    free = run_backtest(scores, market, topix, base).daily
    paid = run_backtest(
        scores, market, topix, BacktestConfig(**{**vars(base), "cost_bps": cost_bps})
    )
    assert (paid.daily["nav"] <= free["nav"] * (1 + 1e-12)).all()
    assert paid.daily["nav"][0] < free["nav"][0]


@SETTINGS
@given(
    seed=seeds,
    n_days=st.integers(4, 12),
    n_codes=st.integers(3, 8),
    top_k=st.integers(1, 6),
    rebalance=st.integers(1, 3),
    overlapping=st.booleans(),
    cost_bps=st.floats(0.0, 200.0),
    capital=st.sampled_from([1e5, 1e6, 1e8]),
)
def test_long_only_nav_never_negative_and_weights_sum_at_most_one(
    seed, n_days, n_codes, top_k, rebalance, overlapping, cost_bps, capital
):
    market, topix, _ = random_market(seed, n_days, n_codes, frictions=True)
    rng = np.random.default_rng(seed + 3)
    scores = dense_scores(trading_days(n_days), _codes(n_codes), rng.normal(size=(n_days, n_codes)))
    config = BacktestConfig(
        top_k=top_k,
        rebalance_days=rebalance,
        overlapping=overlapping,
        cost_bps=cost_bps,
        capital=capital,
    )
    res = run_backtest(scores, market, topix, config)
    assert (res.daily["nav"] >= 0).all()
    assert (res.daily["n_short"] == 0).all()
    pos = res.positions
    assert (pos["shares"] > 0).all()
    assert (pos["weight"] >= 0).all()
    by_day = pos.group_by("Date").agg(pl.col("weight").sum())
    assert (by_day["weight"] <= 1 + 1e-12).all()
