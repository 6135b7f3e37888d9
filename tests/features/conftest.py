"""Fixtures for the feature block tests.

Core blocks: hand-built base frames in the dataset contract (``make_base``, ``make_context``...).
Statement, dividend, earnings and premium blocks: ``run_block`` computes one block on a base frame
of the given codes over XTKS trading days with a constant close (``close_base``), reading raw
tables made with ``typed``, so that every value is hand-checkable. Graph and interaction blocks:
``price_context`` over hand-made returns. Side-data blocks: a flat base frame (``flat_base``) and
hand-made raw tables (``raw``) in ``side_context``. ``calendar`` spans the windows of all of them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import numpy as np
import polars as pl
import pytest

from gogooku.calendar import TradingCalendar
from gogooku.dataset.asof import asof_join
from gogooku.features.base import Block, BlockContext
from gogooku.jquants.endpoints import ENDPOINTS
from gogooku.store.raw import RawStore

from ..support.tables import TableStore

FINS_START, FINS_END = date(2020, 6, 1), date(2022, 8, 31)
GRAPH_START, GRAPH_END = date(2023, 1, 4), date(2023, 9, 29)
SIDE_START, SIDE_END = date(2023, 11, 1), date(2024, 3, 29)

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


def typed(dataset: str, rows: list[dict]) -> pl.DataFrame:
    """Rows of ``dataset`` (missing fields null), cast to the catalogue schema."""
    schema = ENDPOINTS[dataset].schema
    frame = pl.DataFrame(rows, infer_schema_length=None)
    return frame.select(
        (pl.col(n) if n in frame.columns else pl.lit(None)).cast(t).alias(n)
        for n, t in schema.items()
    )


def close_base(calendar: TradingCalendar, codes: list[str], close: float = 1000.0) -> pl.DataFrame:
    """Every code on every XTKS day of the statement blocks' window, AdjC = ``close``."""
    days = calendar.days(FINS_START, FINS_END)
    return pl.DataFrame(
        {
            "Code": [c for c in codes for _ in days],
            "Date": days * len(codes),
            "AdjC": [close] * (len(days) * len(codes)),
        },
        schema={"Code": pl.String, "Date": pl.Date, "AdjC": pl.Float64},
    ).sort("Code", "Date")


def run_block(
    block: Block,
    tables: dict[str, pl.DataFrame],
    calendar: TradingCalendar,
    codes: list[str],
    base: pl.DataFrame | None = None,
) -> pl.DataFrame:
    base = close_base(calendar, codes) if base is None else base
    ctx = BlockContext(
        base=base.lazy(), calendar=calendar, store=TableStore(tables), asof_join=asof_join
    )
    out = block.compute(ctx).collect()
    assert out.columns == ["Code", "Date", *block.feature_names]
    assert out.select("Code", "Date").equals(base.select("Code", "Date"))
    return out


def value(frame: pl.DataFrame, code: str, day: date, column: str):
    """``column`` of the one row of ``frame`` for (code, day)."""
    return at(frame, code, day)[column]


def graph_calendar() -> TradingCalendar:
    return TradingCalendar.from_xtks(GRAPH_START, GRAPH_END)


def price_context(returns: dict[str, np.ndarray], no_trade: dict[str, list[int]] | None = None):
    """A BlockContext whose base holds AdjC = 100·∏(1+r) per code over the XTKS days from
    GRAPH_START.

    ``no_trade[code]`` lists day positions with no trade (null close, ``no_trade`` true).
    """
    cal = graph_calendar()
    days = cal.days(GRAPH_START, GRAPH_END)
    frames = []
    for code, rets in returns.items():
        close = 100.0 * np.cumprod(1.0 + rets)
        flags = np.zeros(len(rets), dtype=bool)
        flags[(no_trade or {}).get(code, [])] = True
        frames.append(
            pl.DataFrame(
                {
                    "Code": code,
                    "Date": days[: len(rets)],
                    "AdjC": np.where(flags, np.nan, close),
                    "no_trade": flags,
                }
            ).with_columns(pl.col("AdjC").fill_nan(None))
        )
    base = pl.concat(frames).sort("Code", "Date")
    return BlockContext(base.lazy(), cal, None, asof_join), days


def raw(dataset: str, rows: list[dict]) -> pl.DataFrame:
    """Rows of ``dataset`` typed by its raw schema; fields not given are null."""
    schema = RawStore.schema(dataset)
    return pl.DataFrame(
        [{name: row.get(name) for name in schema} for row in rows], schema=schema, orient="row"
    )


@pytest.fixture(scope="session")
def calendar() -> TradingCalendar:
    """XTKS from the statement blocks' calendar start to the end of the side-data window."""
    return TradingCalendar.from_xtks(date(2019, 1, 1), SIDE_END)


@pytest.fixture(scope="session")
def days(calendar) -> list[date]:
    """The side-data window's trading days."""
    return calendar.days(SIDE_START, SIDE_END)


def flat_base(
    days: list[date],
    codes: dict[str, dict[str, str]],
    volume: float = 100.0,
    topix: list[float] | None = None,
) -> pl.DataFrame:
    """Base frame rows for every code on every day: constant volume and price, given Mkt/S33.

    ``codes[code]`` may hold ``Mkt`` and ``S33``; ``topix`` the TOPIX closes per day.
    """
    closes = topix or [2000.0] * len(days)
    frames = []
    for code, attrs in codes.items():
        frames.append(
            pl.DataFrame(
                {
                    "Code": code,
                    "Date": days,
                    "C": 1000.0,
                    "Vo": volume,
                    "Va": volume * 1000.0,
                    "Mkt": attrs.get("Mkt"),
                    "S33": attrs.get("S33"),
                    "no_trade": False,
                    "is_halt_20201001": False,
                    "topix_O": closes,
                    "topix_H": closes,
                    "topix_L": closes,
                    "topix_C": closes,
                },
                schema_overrides={"Mkt": pl.String, "S33": pl.String},
            )
        )
    return pl.concat(frames).sort("Code", "Date")


def side_context(base: pl.DataFrame, calendar: TradingCalendar, tables: dict) -> BlockContext:
    return BlockContext(base.lazy(), calendar, TableStore(tables), asof_join)


def at(frame: pl.DataFrame, code: str, day: date) -> dict:
    """The one row of ``frame`` for (code, day) as a dict."""
    rows = frame.filter((pl.col("Code") == code) & (pl.col("Date") == day))
    assert rows.height == 1, (code, day)
    return rows.row(0, named=True)
