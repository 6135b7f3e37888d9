"""Fixtures for the side-data blocks: a tiny base frame, hand-made raw tables, a table store."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from gogooku.calendar import TradingCalendar
from gogooku.dataset.asof import asof_join
from gogooku.features.base import BlockContext
from gogooku.store.raw import RawStore

START, END = date(2023, 11, 1), date(2024, 3, 29)


class TableStore:
    """``scan`` over in-memory raw tables (empty typed frame for a dataset not given)."""

    def __init__(self, tables: dict[str, pl.DataFrame]) -> None:
        self.tables = tables

    def scan(self, dataset: str) -> pl.LazyFrame:
        if dataset not in self.tables:
            return pl.LazyFrame(schema=RawStore.schema(dataset))
        return self.tables[dataset].lazy()


def raw(dataset: str, rows: list[dict]) -> pl.DataFrame:
    """Rows of ``dataset`` typed by its raw schema; fields not given are null."""
    schema = RawStore.schema(dataset)
    return pl.DataFrame(
        [{name: row.get(name) for name in schema} for row in rows], schema=schema, orient="row"
    )


@pytest.fixture(scope="session")
def calendar() -> TradingCalendar:
    return TradingCalendar.from_xtks(START, END)


@pytest.fixture(scope="session")
def days(calendar) -> list[date]:
    return calendar.days(START, END)


def make_base(
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


def context(base: pl.DataFrame, calendar: TradingCalendar, tables: dict) -> BlockContext:
    return BlockContext(base.lazy(), calendar, TableStore(tables), asof_join)


def at(frame: pl.DataFrame, code: str, day: date) -> dict:
    """The one row of ``frame`` for (code, day) as a dict."""
    rows = frame.filter((pl.col("Code") == code) & (pl.col("Date") == day))
    assert rows.height == 1, (code, day)
    return rows.row(0, named=True)
