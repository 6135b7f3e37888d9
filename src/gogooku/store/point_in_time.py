"""The version of each raw record a build may use: the one held at the record's decision time.

A record (identity: unit key + the dataset's key columns, see ``gogooku.store.vintages``) feeds
the panel from its ``available_from`` day (``gogooku.features.availability``); the decision time
of that day is 19:00 JST. Of the record's stored versions (current rows and vintages), a build
uses:

- the versions held at the decision time: first fetched at or before it and not superseded by
  then (``_fetched_at <= decision < _superseded_at``); a record deleted by a correction fetched
  before the decision time is absent;
- when no version was fetched by the decision time (a backfill), the first version held.

With several versions, the decision time is that of the earliest ``available_from`` among them
(a correction that moves the publication date does not buy itself a later cut-off). So a
correction fetched after a record's decision time never changes the panel rows the record fed:
the flows block's rule (the first publication of a week is the record) applied to every source.
``--as-revised`` builds read ``RawStore.scan`` instead: the latest version everywhere.

Datasets without vintages (and those without an availability rule: the trading calendar, the
synthetic oracle) are read as ``RawStore.scan`` reads them, so a store without revisions builds
exactly as before.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from gogooku.calendar import TradingCalendar
from gogooku.features.availability import SOURCE_AVAILABILITY, source_rule
from gogooku.jquants.endpoints import ENDPOINTS
from gogooku.store.raw import RawStore
from gogooku.store.vintages import FETCHED_AT, SUPERSEDED_AT, TIMESTAMP, UNIT_COLUMN

DECISION_HOUR_JST = 19
# 19:00 JST is 10:00 UTC (Japan keeps no daylight saving time).
_DECISION_OFFSET = dt.timedelta(hours=DECISION_HOUR_JST - 9)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def record_identity(dataset: str) -> list[str]:
    """The columns identifying one record of ``dataset``: ``_unit`` and the endpoint's key."""
    return [UNIT_COLUMN, *ENDPOINTS[dataset].key]


def decision_time(day: pl.Expr) -> pl.Expr:
    """19:00 JST on the date ``day``, as a UTC timestamp."""
    return (day.cast(pl.Datetime("us")) + _DECISION_OFFSET).dt.replace_time_zone("UTC")


def as_of_decision(versions: pl.LazyFrame, dataset: str, calendar: TradingCalendar) -> pl.LazyFrame:
    """The rows of ``versions`` (``RawStore.scan_versions``) a build may use; see module doc."""
    rule, dates = source_rule(dataset)
    identity = record_identity(dataset)
    decision = decision_time(rule.expr(calendar, dates).min().over(identity))
    fetched = pl.col(FETCHED_AT).fill_null(pl.lit(_EPOCH, dtype=TIMESTAMP))
    known = (fetched <= decision).fill_null(False)
    held = known & (pl.col(SUPERSEDED_AT).is_null() | (pl.col(SUPERSEDED_AT) > decision))
    first = fetched == fetched.min().over(identity)
    return versions.filter(pl.when(known.any().over(identity)).then(held).otherwise(first))


class PointInTimeStore:
    """A read view of a ``RawStore`` whose ``scan`` returns each record's version as of its
    decision time; every other attribute is the store's."""

    def __init__(self, store: RawStore, calendar: TradingCalendar) -> None:
        self._store = store
        self._calendar = calendar

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)

    def scan(self, dataset: str) -> pl.LazyFrame:
        if dataset not in SOURCE_AVAILABILITY or not self._store.vintage_files(dataset):
            return self._store.scan(dataset)
        resolved = as_of_decision(self._store.scan_versions(dataset), dataset, self._calendar)
        return self._store.conform(dataset, resolved)


def build_view(store: object, calendar: TradingCalendar, as_revised: bool) -> object:
    """What a build reads: ``store`` itself for ``--as-revised`` (or a store without vintages,
    such as a test's in-memory tables), else its point-in-time view."""
    if as_revised or not isinstance(store, RawStore):
        return store
    return PointInTimeStore(store, calendar)
