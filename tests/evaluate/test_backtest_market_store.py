"""``load_market`` and the TOPIX benchmark on a raw store written with a small synthetic market, and
an oracle backtest end to end."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from gogooku.calendar import TradingCalendar
from gogooku.dataset.base import build_base
from gogooku.evaluate.backtest import BacktestConfig, load_market, run_backtest
from gogooku.evaluate.benchmark import build_benchmark
from gogooku.store.raw import RawStore
from gogooku.synth.config import SynthConfig
from gogooku.synth.market import generate_market

START, END = date(2020, 7, 1), date(2020, 10, 30)
DELIST_AFTER = date(2020, 8, 31)
LIST_FROM = date(2020, 9, 15)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    market = generate_market(
        SynthConfig(seed=5, stocks=20, start=date(2020, 6, 1), end=END), side_tables=False
    )
    codes = market.tables["equities_bars_daily"]["Code"].unique().sort().to_list()
    gone, late = codes[0], codes[1]
    # One stock delists after DELIST_AFTER and another lists on LIST_FROM (bars and master).
    keep = ~(
        ((pl.col("Code") == gone) & (pl.col("Date") > DELIST_AFTER))
        | ((pl.col("Code") == late) & (pl.col("Date") < LIST_FROM))
    )
    store = RawStore(tmp_path_factory.mktemp("raw"))
    for dataset, frame in market.tables.items():
        if dataset in ("equities_bars_daily", "equities_master"):
            frame = frame.filter(keep)
        store.write_unit(dataset, "all", frame, {}, source="synthetic")
    return store, market.oracle, gone, late


@pytest.mark.slow
def test_load_market_is_a_dense_grid_matching_the_base_frame(synthetic):
    store, _, gone, late = synthetic
    calendar = TradingCalendar.load(store)
    market = load_market(store, calendar, START, END)
    days = calendar.days(START, END)
    codes = market["Code"].unique()
    assert market.columns == [
        "Date", "Code", "C", "AdjC", "AdjFactor", "UL", "LL", "no_trade", "S33", "listed"
    ]  # fmt: skip
    assert market.height == len(days) * codes.len()
    assert market.select(pl.struct("Date", "Code").is_unique().all()).item()
    unlisted = market.filter(~pl.col("listed"))
    assert set(unlisted.filter(pl.col("Code") == gone)["Date"]) == {
        d for d in days if d > DELIST_AFTER
    }
    assert set(unlisted.filter(pl.col("Code") == late)["Date"]) == {
        d for d in days if d < LIST_FROM
    }
    assert set(unlisted["Code"]) == {gone, late}
    assert unlisted["no_trade"].all() and unlisted["C"].null_count() == unlisted.height

    base = build_base(store, calendar, START, END)
    joined = market.filter(pl.col("listed")).join(base, on=["Date", "Code"], suffix="_base")
    assert joined.height == base.height
    for col in ("C", "AdjC", "AdjFactor", "UL", "LL", "no_trade", "S33"):
        assert joined[col].equals(joined[f"{col}_base"], null_equal=True), col

    topix = build_benchmark(store, calendar, market, "topix").levels
    assert topix.columns == ["Date", "C"]
    assert topix["Date"].to_list() == days


@pytest.mark.slow
def test_oracle_long_only_beats_the_equal_weight_universe(synthetic):
    store, oracle, _, _ = synthetic
    calendar = TradingCalendar.load(store)
    market = load_market(store, calendar, START, END)
    topix = build_benchmark(store, calendar, market, "topix").levels
    scores = oracle.filter(pl.col("Date").is_between(START, END)).select(
        "Date", "Code", score=pl.col("exp_target_1d")
    )
    config = BacktestConfig(top_k=5, rebalance_days=1, cost_bps=0.0)
    daily = run_backtest(scores, market, topix, config).daily
    ew_growth = (1 + daily["benchmark_ew"]).product()
    assert daily["nav"][-1] > 1e8 * ew_growth
    assert daily["Date"][0] == calendar.next_bd(START)
