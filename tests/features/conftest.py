"""Fixtures for the core feature block tests: hand-built base frames in the dataset contract."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import numpy as np
import polars as pl
import pytest

from gogooku.calendar import TradingCalendar
from gogooku.features.base import BlockContext

BASE_SCHEMA: dict[str, pl.DataType] = {
    "Code": pl.String,
    "Date": pl.Date,
    "O": pl.Float64,
    "H": pl.Float64,
    "L": pl.Float64,
    "C": pl.Float64,
    "Vo": pl.Float64,
    "Va": pl.Float64,
    "AdjO": pl.Float64,
    "AdjH": pl.Float64,
    "AdjL": pl.Float64,
    "AdjC": pl.Float64,
    "AdjVo": pl.Float64,
    "AdjFactor": pl.Float64,
    "UL": pl.Boolean,
    "LL": pl.Boolean,
    "S33": pl.String,
    "S17": pl.String,
    "Mkt": pl.String,
    "ScaleCat": pl.String,
    "no_trade": pl.Boolean,
    "is_halt_20201001": pl.Boolean,
    "topix_C": pl.Float64,
    "topix_O": pl.Float64,
    "topix_H": pl.Float64,
    "topix_L": pl.Float64,
}


def xtks_days(start: date, end: date) -> list[date]:
    """JPX trading days between start and end with 2020-10-01 kept (the contract's calendar)."""
    cal = TradingCalendar.from_xtks(start, end)
    return cal.days(start, end)


def random_base(
    codes: list[str],
    days: list[date],
    seed: int = 0,
    sectors: dict[str, tuple[str, str]] | None = None,
) -> pl.DataFrame:
    """A base frame with random-walk prices for every code on every day (Code, Date sorted).

    Adjusted prices equal raw prices (AdjFactor 1); the 2020-10-01 halt, when inside ``days``,
    gets null OHLCV for every code and a null-free TOPIX row carrying no new information.
    """
    rng = np.random.default_rng(seed)
    n = len(days)
    topix_ret = rng.normal(0.0, 0.01, n)
    topix_c = 1800.0 * np.exp(np.cumsum(topix_ret))
    topix_o = topix_c * np.exp(rng.normal(0, 0.003, n))
    topix_h = np.maximum(topix_o, topix_c) * np.exp(np.abs(rng.normal(0, 0.004, n)))
    topix_l = np.minimum(topix_o, topix_c) * np.exp(-np.abs(rng.normal(0, 0.004, n)))
    frames = []
    for i, code in enumerate(codes):
        beta = 0.5 + 0.2 * i
        ret = beta * topix_ret + rng.normal(0.0, 0.015, n)
        close = 1000.0 * (1 + i) * np.exp(np.cumsum(ret))
        open_ = close * np.exp(rng.normal(0, 0.006, n))
        high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.008, n)))
        low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.008, n)))
        vol = np.round(rng.lognormal(11, 0.5, n))
        s33, s17 = (sectors or {}).get(code, ("3650", "9"))
        frames.append(
            pl.DataFrame(
                {
                    "Code": [code] * n,
                    "Date": days,
                    "O": open_,
                    "H": high,
                    "L": low,
                    "C": close,
                    "Vo": vol,
                    "Va": vol * close,
                    "UL": rng.random(n) < 0.02,
                    "LL": rng.random(n) < 0.02,
                    "S33": [s33] * n,
                    "S17": [s17] * n,
                    "Mkt": ["0111"] * n,
                    "ScaleCat": ["TOPIX Mid400"] * n,
                    "topix_C": topix_c,
                    "topix_O": topix_o,
                    "topix_H": topix_h,
                    "topix_L": topix_l,
                }
            )
        )
    frame = pl.concat(frames)
    return finish_base(frame)


def finish_base(frame: pl.DataFrame) -> pl.DataFrame:
    """Derive the contract's helper columns from raw O/H/L/C/Vo/Va and sort by (Code, Date)."""
    halt = pl.col("Date") == date(2020, 10, 1)
    price_cols = ["O", "H", "L", "C", "Vo", "Va"]
    frame = frame.with_columns(
        *(pl.when(halt).then(None).otherwise(pl.col(c)).alias(c) for c in price_cols),
        pl.when(halt).then(False).otherwise(pl.col("UL")).alias("UL"),
        pl.when(halt).then(False).otherwise(pl.col("LL")).alias("LL"),
    )
    if "AdjFactor" not in frame.columns:
        frame = frame.with_columns(AdjFactor=pl.lit(1.0))
    frame = frame.sort("Code", "Date").with_columns(
        pl.col("AdjFactor").cum_prod().over("Code").alias("_cum")
    )
    frame = frame.with_columns(
        (pl.col("O") / pl.col("_cum")).alias("AdjO"),
        (pl.col("H") / pl.col("_cum")).alias("AdjH"),
        (pl.col("L") / pl.col("_cum")).alias("AdjL"),
        (pl.col("C") / pl.col("_cum")).alias("AdjC"),
        (pl.col("Vo") * pl.col("_cum")).alias("AdjVo"),
        pl.all_horizontal(pl.col(c).is_null() for c in ("O", "H", "L", "C")).alias("no_trade"),
        halt.alias("is_halt_20201001"),
    )
    return frame.select([pl.col(c).cast(t) for c, t in BASE_SCHEMA.items()])


def context(base: pl.DataFrame, calendar: TradingCalendar | None = None) -> BlockContext:
    if calendar is None:
        start, end = base["Date"].min(), base["Date"].max()
        calendar = TradingCalendar.from_xtks(start, end)
    return BlockContext(base=base.lazy(), calendar=calendar, store=None, asof_join=_no_asof)


def _no_asof(*args, **kwargs):
    raise AssertionError("core blocks read only the base frame")


@pytest.fixture(scope="session")
def make_base() -> Callable[..., pl.DataFrame]:
    return random_base


@pytest.fixture(scope="session")
def make_context() -> Callable[..., BlockContext]:
    return context


def with_no_trade(base: pl.DataFrame, rows: list[tuple[str, date]]) -> pl.DataFrame:
    """Turn the given (Code, Date) rows into no-trade rows (null OHLCV, limit flags false)."""
    hit = pl.lit(False)
    for code, day in rows:
        hit = hit | ((pl.col("Code") == code) & (pl.col("Date") == day))
    raw = ["O", "H", "L", "C", "Vo", "Va"]
    return finish_base(
        base.with_columns(
            *(pl.when(hit).then(None).otherwise(pl.col(c)).alias(c) for c in raw),
            *(pl.when(hit).then(False).otherwise(pl.col(c)).alias(c) for c in ("UL", "LL")),
        )
    )


@pytest.fixture(scope="session")
def make_no_trade() -> Callable[..., pl.DataFrame]:
    return with_no_trade


@pytest.fixture(scope="session")
def rebuild_base() -> Callable[[pl.DataFrame], pl.DataFrame]:
    """Recompute Adj*/no_trade/halt columns after editing raw columns of a base frame."""
    return finish_base
