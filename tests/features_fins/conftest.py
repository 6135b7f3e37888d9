"""Fixtures for the statement, dividend, earnings and premium blocks: hand-made raw tables.

``Tables`` serves raw frames the way ``RawStore.scan`` does (a dataset without a table is an
empty frame of its catalogue schema). ``run_block`` computes one block on a base frame of the
given codes over XTKS trading days with a constant close, so that every value is hand-checkable.
"""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from gogooku.calendar import TradingCalendar
from gogooku.dataset.asof import asof_join
from gogooku.features.base import Block, BlockContext
from gogooku.jquants.endpoints import ENDPOINTS

START, END = date(2020, 6, 1), date(2022, 8, 31)


class Tables:
    """Read side of a raw store over in-memory tables (typed to the catalogue schema)."""

    def __init__(self, tables: dict[str, pl.DataFrame]) -> None:
        self.tables = tables

    def scan(self, dataset: str) -> pl.LazyFrame:
        schema = ENDPOINTS[dataset].schema
        if dataset not in self.tables:
            return pl.LazyFrame(schema=schema)
        frame = self.tables[dataset]
        return frame.select(
            (pl.col(n) if n in frame.columns else pl.lit(None)).cast(t).alias(n)
            for n, t in schema.items()
        ).lazy()


class CutTables(Tables):
    """``Tables`` as they stood at ``cut``: every dataset filtered on its date field, the
    calendar (published a year ahead) kept whole."""

    def __init__(self, tables: dict[str, pl.DataFrame], cut: date | None = None) -> None:
        super().__init__(tables)
        self.cut = cut

    def scan(self, dataset: str) -> pl.LazyFrame:
        frame = super().scan(dataset)
        if self.cut is None or dataset == "markets_calendar":
            return frame
        from gogooku.store.raw import RawStore

        return frame.filter(pl.col(RawStore.date_field(dataset)) <= self.cut)


def typed(dataset: str, rows: list[dict]) -> pl.DataFrame:
    """Rows of ``dataset`` (missing fields null), cast to the catalogue schema."""
    schema = ENDPOINTS[dataset].schema
    frame = pl.DataFrame(rows, infer_schema_length=None)
    return frame.select(
        (pl.col(n) if n in frame.columns else pl.lit(None)).cast(t).alias(n)
        for n, t in schema.items()
    )


@pytest.fixture(scope="session")
def calendar() -> TradingCalendar:
    return TradingCalendar.from_xtks(date(2019, 1, 1), date(2023, 3, 31))


def make_base(calendar: TradingCalendar, codes: list[str], close: float = 1000.0) -> pl.DataFrame:
    days = calendar.days(START, END)
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
    base = make_base(calendar, codes) if base is None else base
    ctx = BlockContext(
        base=base.lazy(), calendar=calendar, store=Tables(tables), asof_join=asof_join
    )
    out = block.compute(ctx).collect()
    assert out.columns == ["Code", "Date", *block.feature_names]
    assert out.select("Code", "Date").equals(base.select("Code", "Date"))
    return out


def value(frame: pl.DataFrame, code: str, day: date, column: str):
    row = frame.filter((pl.col("Code") == code) & (pl.col("Date") == day))
    assert row.height == 1, (code, day)
    return row[column].item()
