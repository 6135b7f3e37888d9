"""Fixtures for the evaluation tests: small random cross-sections, a tiny synthetic dataset, and
builders for the backtest tests (a market frame from per-stock price lists, and TOPIX)."""

from __future__ import annotations

import datetime as dt
import shutil
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from ..support.markets import run_cli


def make_cross_section(
    n_days: int = 6, n_codes: int = 40, seed: int = 0, ties: bool = False
) -> pl.DataFrame:
    """``Date, Code, pred, y``: y = 0.3·pred + noise, pred integer-valued when ``ties``."""
    rng = np.random.default_rng(seed)
    dates = [dt.date(2021, 1, 4) + dt.timedelta(days=i) for i in range(n_days)]
    pred = (
        rng.integers(0, 4, size=(n_days, n_codes)).astype(float)
        if ties
        else rng.normal(size=(n_days, n_codes))
    )
    y = 0.3 * pred + rng.normal(size=(n_days, n_codes))
    if ties:
        y = np.round(y)
    return pl.DataFrame(
        {
            "Date": [d for d in dates for _ in range(n_codes)],
            "Code": [f"{1000 + j}0" for _ in dates for j in range(n_codes)],
            "pred": pred.ravel(),
            "y": y.ravel(),
        }
    )


@pytest.fixture
def cross_section():
    """The :func:`make_cross_section` factory."""
    return make_cross_section


@pytest.fixture(scope="session")
def synthetic_home_template(tmp_path_factory):
    """A GOGOOKU_HOME with a small synthetic market and dataset ``t1`` (built once per session).

    24 stocks, raw data 2020-01-01..2020-12-31, panel 2020-04-01..2020-12-30 with the returns block.
    """
    fetch = ["fetch", "--source", "synthetic", "--seed", "7", "--stocks", "24"]
    fetch += ["--start", "2020-01-01", "--end", "2020-12-31"]
    fetch += ["--datasets", "equities_master,equities_bars_daily,indices_topix"]
    build = ["build", "--start", "2020-04-01", "--end", "2020-12-31", "--name", "t1"]
    build += ["--blocks", "returns"]
    return run_cli(tmp_path_factory.mktemp("eval_home"), fetch, build)


@pytest.fixture
def synthetic_home(synthetic_home_template, tmp_path, monkeypatch):
    """A private copy of :func:`synthetic_home_template`, set as GOGOOKU_HOME."""
    home = tmp_path / "home"
    shutil.copytree(synthetic_home_template, home)
    monkeypatch.setenv("GOGOOKU_HOME", str(home))
    return home


def trading_days(n: int, start: date = date(2024, 1, 4)) -> list[date]:
    """``n`` weekdays from ``start`` (the backtest takes its calendar from the market rows)."""
    days, d = [], start
    while len(days) < n:
        if d.weekday() < 5:
            days.append(d)
        d += timedelta(days=1)
    return days


def market_frame(
    days: list[date],
    closes: dict[str, list[float | None]],
    sectors: dict[str, str],
    *,
    adj_factor: dict[tuple[str, int], float] | None = None,
    ul: set[tuple[str, int]] = frozenset(),
    ll: set[tuple[str, int]] = frozenset(),
    unlisted: set[tuple[str, int]] = frozenset(),
) -> pl.DataFrame:
    """One row per listed (day, code); a None close is a no-trade day; AdjC = C / ∏ AdjFactor."""
    adj_factor = adj_factor or {}
    rows = []
    for code, prices in closes.items():
        f = 1.0
        for t, (d, c) in enumerate(zip(days, prices, strict=True)):
            a = adj_factor.get((code, t), 1.0)
            f *= a
            if (code, t) in unlisted:
                continue
            rows.append(
                {
                    "Date": d,
                    "Code": code,
                    "C": c,
                    "AdjC": None if c is None else c / f,
                    "AdjFactor": a,
                    "UL": (code, t) in ul,
                    "LL": (code, t) in ll,
                    "no_trade": c is None,
                    "S33": sectors[code],
                    "listed": True,
                }
            )
    return pl.DataFrame(
        rows,
        schema={
            "Date": pl.Date,
            "Code": pl.String,
            "C": pl.Float64,
            "AdjC": pl.Float64,
            "AdjFactor": pl.Float64,
            "UL": pl.Boolean,
            "LL": pl.Boolean,
            "no_trade": pl.Boolean,
            "S33": pl.String,
            "listed": pl.Boolean,
        },
    )


def score_frame(days: list[date], scores: dict[int, dict[str, float]]) -> pl.DataFrame:
    """Scores ``{day index: {code: score}}`` as ``Date, Code, score``."""
    rows = [
        {"Date": days[t], "Code": code, "score": s}
        for t, by_code in scores.items()
        for code, s in by_code.items()
    ]
    return pl.DataFrame(rows, schema={"Date": pl.Date, "Code": pl.String, "score": pl.Float64})


def topix_frame(days: list[date], closes: list[float]) -> pl.DataFrame:
    return pl.DataFrame({"Date": days, "C": closes}, schema={"Date": pl.Date, "C": pl.Float64})


def random_market(
    seed: int,
    n_days: int,
    n_codes: int,
    *,
    frictions: bool,
    non_negative: bool = False,
) -> tuple[pl.DataFrame, pl.DataFrame, np.ndarray]:
    """A random market and its adjusted closes (T, N) (NaN where not listed or not traded).

    ``frictions`` adds limit-up/limit-down flags, no-trade days, a delisting, a late listing and a
    1:2 split; ``non_negative`` draws only non-negative daily returns.
    """
    rng = np.random.default_rng(seed)
    days = trading_days(n_days)
    low = 0.0 if non_negative else -0.5
    rets = rng.uniform(low, 0.5, size=(n_days, n_codes))
    rets[0] = 0.0
    adj = rng.uniform(50, 3000, size=n_codes) * np.cumprod(1 + rets, axis=0)
    factor = np.ones((n_days, n_codes))
    listed = np.ones((n_days, n_codes), dtype=bool)
    traded = np.ones((n_days, n_codes), dtype=bool)
    ul = np.zeros((n_days, n_codes), dtype=bool)
    ll = np.zeros((n_days, n_codes), dtype=bool)
    if frictions:
        split_t = rng.integers(1, n_days)
        factor[split_t, 0] = 0.5
        listed[rng.integers(1, n_days) :, 1 % n_codes] = False
        listed[: rng.integers(1, n_days), 2 % n_codes] = False
        traded = rng.random((n_days, n_codes)) > 0.15
        ul = rng.random((n_days, n_codes)) < 0.15
        ll = rng.random((n_days, n_codes)) < 0.15
    close = adj * np.cumprod(factor, axis=0)
    ok = listed & traded
    codes = [f"{1000 + i}" for i in range(n_codes)]
    t_idx, i_idx = np.nonzero(listed)
    market = pl.DataFrame(
        {
            "Date": pl.Series([days[t] for t in t_idx], dtype=pl.Date),
            "Code": [codes[i] for i in i_idx],
            "C": np.where(ok, close, np.nan)[t_idx, i_idx],
            "AdjC": np.where(ok, adj, np.nan)[t_idx, i_idx],
            "AdjFactor": factor[t_idx, i_idx],
            "UL": ul[t_idx, i_idx],
            "LL": ll[t_idx, i_idx],
            "no_trade": ~ok[t_idx, i_idx],
            "S33": [str(i % 3) for i in i_idx],
            "listed": True,
        }
    ).with_columns(pl.col("C", "AdjC").fill_nan(None))
    topix = pl.DataFrame(
        {"Date": days, "C": 1000 * np.cumprod(1 + rng.normal(0, 0.01, n_days))},
        schema={"Date": pl.Date, "C": pl.Float64},
    )
    return market, topix, np.where(ok, adj, np.nan)


def dense_scores(days: list[date], codes: list[str], values: np.ndarray) -> pl.DataFrame:
    """Scores from a (D, N) array for the first D days (NaN → no score)."""
    t_idx, i_idx = np.nonzero(np.isfinite(values))
    return pl.DataFrame(
        {
            "Date": pl.Series([days[t] for t in t_idx], dtype=pl.Date),
            "Code": [codes[i] for i in i_idx],
            "score": values[t_idx, i_idx],
        }
    )
