"""pyfolio transactions from positions: replaying them (across splits) rebuilds the holdings."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from gogooku.export.returns import pyfolio_transactions

DAYS = [dt.date(2024, 1, 4) + dt.timedelta(days=i) for i in range(6)]
CODES = ["1000", "2000"]


@settings(max_examples=40, deadline=None)
@given(
    lots=st.lists(st.integers(-5, 5), min_size=12, max_size=12),
    splits=st.lists(st.sampled_from([1.0, 1.0, 1.0, 0.5, 0.25]), min_size=12, max_size=12),
)
def test_replaying_transactions_rebuilds_the_positions(lots, splits):
    shares = np.array(lots, dtype=float).reshape(len(DAYS), len(CODES)) * 100
    factor = np.array(splits).reshape(len(DAYS), len(CODES))
    grid = pl.DataFrame(
        {
            "Date": [d for d in DAYS for _ in CODES],
            "Code": CODES * len(DAYS),
            "C": np.linspace(100, 200, shares.size),
            "AdjFactor": factor.ravel(),
            "no_trade": [False] * shares.size,
        }
    )
    positions = grid.select("Date", "Code", shares=pl.Series(shares.ravel())).filter(
        pl.col("shares") != 0
    )
    trades = pyfolio_transactions(positions, grid)
    priced = trades.join(grid, left_on=["Date", "symbol"], right_on=["Date", "Code"])
    assert priced.height == trades.height and (priced["price"] == priced["C"]).all()
    held = np.zeros(len(CODES))
    for t, day in enumerate(DAYS):
        held = held / factor[t]
        for row in trades.filter(pl.col("Date") == day).iter_rows(named=True):
            held[CODES.index(row["symbol"])] += row["amount"]
        np.testing.assert_allclose(held, shares[t], atol=1e-6)
