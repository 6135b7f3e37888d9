"""The vectorised backtest against the straightforward pandas loop over days of
``bench/bench_backtest.py`` (an independent implementation of the same rules, in raw shares),
on random markets with limit flags, no-trade days, a split, a delisting and a late listing."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gogooku.evaluate.backtest import BacktestConfig, run_backtest

from .conftest import dense_scores, random_market, trading_days

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_backtest.py"


@pytest.fixture(scope="module")
def reference():
    spec = importlib.util.spec_from_file_location("bench_backtest", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.pandas_backtest


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_days=st.integers(3, 10),
    n_codes=st.integers(3, 8),
    top_k=st.integers(1, 5),
    cost_bps=st.floats(0.0, 50.0),
    capital=st.sampled_from([3e5, 1e6, 1e7]),
)
def test_daily_long_only_nav_equals_the_pandas_loop(
    reference, seed, n_days, n_codes, top_k, cost_bps, capital
):
    market, topix, _ = random_market(seed, n_days, n_codes, frictions=True)
    rng = np.random.default_rng(seed + 4)
    codes = [f"{1000 + i}" for i in range(n_codes)]
    # Every listed stock is scored every day, as in the benchmark.
    scores = dense_scores(trading_days(n_days), codes, rng.normal(size=(n_days, n_codes)))
    scores = scores.join(market.select("Date", "Code"), on=["Date", "Code"])
    config = BacktestConfig(top_k=top_k, rebalance_days=1, cost_bps=cost_bps, capital=capital)
    fast = run_backtest(scores, market, topix, config).daily["nav"].to_numpy()
    slow = reference(market, scores, top_k=top_k, cost_bps=cost_bps, capital=capital, lot=100)
    assert fast == pytest.approx(slow, rel=1e-12)
