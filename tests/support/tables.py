"""Read side of the raw store over in-memory tables."""

from __future__ import annotations

from datetime import date

import polars as pl

from gogooku.store.raw import RawStore

from .published import PublishedStore


class TableStore:
    """``scan`` over in-memory raw tables the way ``RawStore.scan`` serves them (a dataset without
    a table is an empty frame of its schema), optionally as the store stood at 19:00 JST on
    ``cut``: every record not yet usable then by its source's publication rule left out, the
    calendar (published ahead) kept whole (``support.published.PublishedStore``)."""

    def __init__(self, tables: dict[str, pl.DataFrame], cut: date | None = None) -> None:
        self.tables = tables
        self.cut = cut
        self._published = None if cut is None else PublishedStore(tables, cut)

    def scan(self, dataset: str) -> pl.LazyFrame:
        if self._published is not None:
            return self._published.scan(dataset)
        if dataset not in self.tables:
            return pl.LazyFrame(schema=RawStore.schema(dataset))
        return self.tables[dataset].lazy()

    def at(self, cut: date) -> TableStore:
        return TableStore(self.tables, cut)
