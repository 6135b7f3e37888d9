"""Read side of the raw store over in-memory tables."""

from __future__ import annotations

from datetime import date

import polars as pl

from gogooku.store.raw import RawStore


class TableStore:
    """``scan`` over in-memory raw tables the way ``RawStore.scan`` serves them (a dataset without
    a table is an empty frame of its schema), optionally as the store stood at ``cut``: every
    dataset filtered on its date field, the calendar (published a year ahead) kept whole."""

    def __init__(self, tables: dict[str, pl.DataFrame], cut: date | None = None) -> None:
        self.tables = tables
        self.cut = cut

    def scan(self, dataset: str) -> pl.LazyFrame:
        if dataset not in self.tables:
            return pl.LazyFrame(schema=RawStore.schema(dataset))
        frame = self.tables[dataset].lazy()
        if self.cut is not None and dataset != "markets_calendar":
            frame = frame.filter(pl.col(RawStore.date_field(dataset)) <= self.cut)
        return frame

    def at(self, cut: date) -> TableStore:
        return TableStore(self.tables, cut)
