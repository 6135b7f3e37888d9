"""Benchmark of :func:`gogooku.evaluate.backtest.run_backtest`: seconds and peak RSS.

The script builds a random-walk market in memory (default 4000 stocks × 10 years of weekdays,
with 0.5 % limit-up, 0.5 % limit-down and 0.5 % no-trade rows, a 1:2 split on 1 % of the stocks,
20 % of the stocks delisting and 20 % listing during the span) and random normal scores, then runs
a daily-rebalanced long-only top-100 book (10 bps, ¥100M, 100-share lots). The build and the
backtest run in a child process, so its peak RSS (``ru_maxrss``) is that run's alone; the JSON
also gives the RSS after the inputs were built.

In the same run, a straightforward pandas loop over days (filter the day's rows, align Series by
Code, same rules) backtests a shorter span of the same market; the vectorised backtest runs on
that span too, the JSON reports both times, the seconds per day of each, the pandas time scaled
to the full span (per-day cost × days) and the largest relative NAV difference between the two.

Usage: ``python bench/bench_backtest.py`` (full size, pandas on the first 120 days) or
``--stocks N --years Y --pandas-days D``. Prints one JSON document on stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time
from datetime import date

import numpy as np
import pandas as pd
import polars as pl

SEED = 7
START = date(2015, 1, 5)
TOP_K = 100
COST_BPS = 10.0
CAPITAL = 1e8
LOT = 100


def build_inputs(stocks: int, years: int) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Random-walk market (dense grid with ``listed``), TOPIX closes and random scores."""
    rng = np.random.default_rng(SEED)
    days = pl.date_range(START, date(START.year + years, 1, 4), eager=True)
    days = days.filter(days.dt.weekday() <= 5).to_numpy()
    n_t, n_i = days.size, stocks
    rets = rng.normal(0.0002, 0.02, size=(n_t, n_i))
    rets[0] = 0.0
    adj = np.exp(rng.uniform(np.log(100), np.log(20000), n_i)) * np.exp(np.cumsum(rets, axis=0))
    factor = np.ones((n_t, n_i))
    split = rng.choice(n_i, size=max(1, n_i // 100), replace=False)
    factor[rng.integers(1, n_t, split.size), split] = 0.5
    close = np.round(adj * np.cumprod(factor, axis=0), 1)
    listed = np.ones((n_t, n_i), dtype=bool)
    movers = rng.permutation(n_i)[: 2 * (n_i // 5)]
    for j, i in enumerate(movers):
        cut = rng.integers(1, n_t)
        if j % 2:
            listed[cut:, i] = False
        else:
            listed[:cut, i] = False
    no_trade = rng.random((n_t, n_i)) < 0.005
    ul = rng.random((n_t, n_i)) < 0.005
    ll = rng.random((n_t, n_i)) < 0.005
    traded = listed & ~no_trade
    codes = np.array([f"{1300 + i}0" for i in range(n_i)])
    market = pl.DataFrame(
        {
            "Date": np.repeat(days, n_i),
            "Code": np.tile(codes, n_t),
            "C": np.where(traded, close, np.nan).ravel(),
            "AdjC": np.where(traded, close / np.cumprod(factor, axis=0), np.nan).ravel(),
            "AdjFactor": factor.ravel(),
            "UL": ul.ravel(),
            "LL": ll.ravel(),
            "no_trade": ~traded.ravel(),
            "S33": np.tile(np.array([f"{50 * (1 + i % 33):04d}" for i in range(n_i)]), n_t),
            "listed": listed.ravel(),
        }
    ).with_columns(pl.col("Date").cast(pl.Date), pl.col("C", "AdjC").fill_nan(None))
    topix = pl.DataFrame(
        {"Date": days, "C": 1500 * np.exp(np.cumsum(rng.normal(0, 0.01, n_t)))}
    ).with_columns(pl.col("Date").cast(pl.Date))
    scores = market.filter(pl.col("listed")).select(
        "Date", "Code", score=pl.Series(rng.normal(size=n_t * n_i))[: int(listed.sum())]
    )
    return market, topix, scores


def pandas_backtest(
    market: pl.DataFrame,
    scores: pl.DataFrame,
    *,
    top_k: int = TOP_K,
    cost_bps: float = COST_BPS,
    capital: float = CAPITAL,
    lot: int = LOT,
) -> np.ndarray:
    """NAV per day from the day after the first score date, by a plain loop over days.

    Daily rebalancing, long-only top-K, the same rules as :mod:`gogooku.evaluate.backtest` kept in
    raw shares: a split divides the shares and multiplies the carried price by AdjFactor.
    """
    mk = market.to_pandas()
    sc = scores.to_pandas()
    dates = np.sort(mk["Date"].unique())
    shares = pd.Series(dtype=float)
    last = pd.Series(dtype=float)
    cash, rate = capital, cost_bps / 1e4
    navs = []
    for k, d in enumerate(dates[1:], start=1):
        day = mk[mk["Date"] == d].set_index("Code")
        f = day["AdjFactor"].reindex(last.index).fillna(1.0)
        shares = shares / f.reindex(shares.index).fillna(1.0)
        last = last * f
        listed = day["listed"].reindex(shares.index).fillna(False).astype(bool)
        gone = shares.index[~listed]
        sold = shares[gone] * last[gone]
        cash += float(sold.sum()) - rate * float(sold.abs().sum())
        shares = shares.drop(gone)
        tradable = day["listed"] & ~day["no_trade"] & day["C"].notna()
        price = day["C"].where(tradable)
        last = price.dropna().combine_first(last)
        nav = cash + float((shares * last.reindex(shares.index)).sum())
        prev = sc[sc["Date"] == dates[k - 1]].set_index("Code")["score"].dropna()
        top = prev.sort_index().sort_values(ascending=False, kind="stable").index[:top_k]
        n = len(top)
        target = pd.Series(0.0, index=shares.index.union(top))
        if n:
            p = price.reindex(top)
            target[top] = (np.floor(nav / n / (p * lot)) * lot).fillna(0.0).to_numpy()
        cur = shares.reindex(target.index).fillna(0.0)
        delta = target - cur
        ok = tradable.reindex(delta.index).fillna(False).astype(bool)
        up = day["UL"].reindex(delta.index).fillna(False).astype(bool)
        down = day["LL"].reindex(delta.index).fillna(False).astype(bool)
        delta[~ok | ((delta > 0) & up) | ((delta < 0) & down)] = 0.0
        px = price.reindex(delta.index).fillna(0.0)
        sells = -(delta[delta < 0] * px[delta < 0]).sum()
        buys = (delta[delta > 0] * px[delta > 0]).sum()
        available = cash + sells * (1 - rate)
        if buys * (1 + rate) > available:
            scale = max(available, 0.0) / (buys * (1 + rate))
            delta[delta > 0] = np.floor(delta[delta > 0] * scale / lot) * lot
        cost = rate * float((delta.abs() * px).sum())
        cash -= float((delta * px).sum()) + cost
        shares = (cur + delta)[lambda s: s != 0]
        navs.append(nav - cost)
    return np.asarray(navs)


def _child(stocks: int, years: int) -> None:
    from gogooku.evaluate.backtest import BacktestConfig, run_backtest

    market, topix, scores = build_inputs(stocks, years)
    rss_inputs = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    config = BacktestConfig(
        top_k=TOP_K, rebalance_days=1, cost_bps=COST_BPS, capital=CAPITAL, lot_size=LOT
    )
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    result = run_backtest(scores, market, topix, config)
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    d = result.daily
    years_held = d.height / 245
    print(
        json.dumps(
            {
                "stocks": stocks,
                "years": years,
                "market_rows": market.height,
                "days": d.height,
                "seconds": round(seconds, 3),
                "cpu_seconds": round(cpu, 3),
                "ms_per_day": round(1e3 * seconds / d.height, 3),
                "rss_after_inputs_mb": round(rss_inputs, 1),
                "peak_rss_mb": round(peak, 1),
                "position_rows": result.positions.height,
                "final_nav": round(float(d["nav"][-1]), 0),
                "annual_turnover": round(float(d["turnover"].mean()) * 245, 2),
                "cagr_net": round(float(d["nav"][-1] / CAPITAL) ** (1 / years_held) - 1, 4),
            }
        )
    )


def _compare(stocks: int, years: int, pandas_days: int) -> dict:
    from gogooku.evaluate.backtest import BacktestConfig, run_backtest

    market, topix, scores = build_inputs(stocks, years)
    full_days = market["Date"].n_unique()
    keep = market["Date"].unique().sort()[:pandas_days]
    market = market.filter(pl.col("Date").is_in(keep.implode()))
    scores = scores.filter(pl.col("Date").is_in(keep.implode()))
    config = BacktestConfig(
        top_k=TOP_K, rebalance_days=1, cost_bps=COST_BPS, capital=CAPITAL, lot_size=LOT
    )
    t0 = time.perf_counter()
    fast = run_backtest(scores, market, topix, config).daily["nav"].to_numpy()
    fast_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    slow = pandas_backtest(market, scores)
    slow_s = time.perf_counter() - t0
    n_days = slow.size
    return {
        "days": n_days,
        "vectorised_seconds": round(fast_s, 3),
        "pandas_seconds": round(slow_s, 3),
        "vectorised_ms_per_day": round(1e3 * fast_s / n_days, 3),
        "pandas_ms_per_day": round(1e3 * slow_s / n_days, 3),
        "pandas_seconds_scaled_to_full_span": round(slow_s / n_days * (full_days - 1), 1),
        "speedup_per_day": round(slow_s / fast_s, 1),
        "max_rel_nav_diff": float(np.max(np.abs(fast - slow) / slow)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stocks", type=int, default=4000)
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--pandas-days", type=int, default=120)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.stocks, args.years)
        return
    proc = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            "--stocks",
            str(args.stocks),
            "--years",
            str(args.years),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    report = {
        "benchmark": "backtest",
        "config": {"top_k": TOP_K, "rebalance_days": 1, "cost_bps": COST_BPS, "lot_size": LOT},
        "vectorised_full_span": json.loads(proc.stdout.strip().splitlines()[-1]),
        "pandas_loop_short_span": _compare(args.stocks, args.years, args.pandas_days),
        "python": sys.version.split()[0],
        "polars": pl.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "cpu_count": math.floor(len(__import__("os").sched_getaffinity(0))),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
