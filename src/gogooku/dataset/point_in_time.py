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
from gogooku.store.raw import RawStore
from gogooku.store.vintages import FETCHED_AT, SUPERSEDED_AT, TIMESTAMP, UNIT_COLUMN

DECISION_HOUR_JST = 19
# 19:00 JST is 10:00 UTC (Japan keeps no daylight saving time).
_DECISION_OFFSET = dt.timedelta(hours=DECISION_HOUR_JST - 9)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_DECISION, _FETCHED, _KNOWN = "__decision", "__fetched", "__known"


def record_identity(dataset: str) -> list[str]:
    """The columns identifying one record of ``dataset``: ``_unit`` and the dataset's key."""
    return [UNIT_COLUMN, *RawStore.key(dataset)]


def decision_time(day: pl.Expr) -> pl.Expr:
    """19:00 JST on the date ``day``, as a UTC timestamp."""
    return (day.cast(pl.Datetime("us")) + _DECISION_OFFSET).dt.replace_time_zone("UTC")


def as_of_decision(store: RawStore, dataset: str, calendar: TradingCalendar) -> pl.LazyFrame:
    """The stored rows of ``dataset`` a build may use, with the hidden columns; see module doc.

    Only the records with vintages are resolved; the others pass through as current rows. When
    the date field is part of the key, a record's versions all lie in one month, so the month
    files without vintages pass through unread by the resolution.
    """
    identity = record_identity(dataset)
    revised_months = {p.name for p in store.vintage_files(dataset)}
    date_keyed = store.date_field(dataset) in identity
    plain = [p for p in store.partitions(dataset) if date_keyed and p.name not in revised_months]
    mixed = [p for p in store.partitions(dataset) if p not in plain]
    current = store.scan_files(dataset, mixed)
    superseded = store.scan_files(dataset, store.vintage_files(dataset)).collect()
    schema = current.collect_schema()
    revised = (
        superseded.select(identity)
        .unique()
        .with_columns(pl.col(c).cast(schema[c]) for c in identity if c in schema)
        .lazy()
    )
    untouched = current.join(revised, on=identity, how="anti", nulls_equal=True)
    touched = current.join(revised, on=identity, how="semi", nulls_equal=True)
    versions = pl.concat([touched, superseded.lazy()], how="diagonal_relaxed")
    held = _held(versions, dataset, calendar)
    return pl.concat([store.scan_files(dataset, plain), untouched, held], how="diagonal_relaxed")


def _held(versions: pl.LazyFrame, dataset: str, calendar: TradingCalendar) -> pl.LazyFrame:
    """Of every version of some records, those held at each record's decision time (or its
    first version, for a backfill)."""
    rule, dates = source_rule(dataset)
    identity = record_identity(dataset)
    # Columns first, windows after: a calendar lookup inside a window runs once per group.
    fetched = pl.col(FETCHED_AT).fill_null(pl.lit(_EPOCH, dtype=TIMESTAMP))
    steps = versions.with_columns(
        rule.expr(calendar, dates).alias(_DECISION), fetched.alias(_FETCHED)
    )
    steps = steps.with_columns(
        decision_time(pl.col(_DECISION).min().over(identity)).alias(_DECISION)
    )
    steps = steps.with_columns(
        (pl.col(_FETCHED) <= pl.col(_DECISION)).fill_null(False).alias(_KNOWN)
    )
    held = pl.col(_KNOWN) & (
        pl.col(SUPERSEDED_AT).is_null() | (pl.col(SUPERSEDED_AT) > pl.col(_DECISION))
    )
    first = pl.col(_FETCHED) == pl.col(_FETCHED).min().over(identity)
    keep = pl.when(pl.col(_KNOWN).any().over(identity)).then(held).otherwise(first)
    return steps.filter(keep).drop(_DECISION, _FETCHED, _KNOWN)


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
        return self._store.conform(dataset, as_of_decision(self._store, dataset, self._calendar))


def build_view(store: object, calendar: TradingCalendar, as_revised: bool) -> object:
    """What a build reads: ``store`` itself for ``--as-revised`` (or a store without vintages,
    such as a test's in-memory tables), else its point-in-time view."""
    if as_revised or not isinstance(store, RawStore):
        return store
    return PointInTimeStore(store, calendar)
