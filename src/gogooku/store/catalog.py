"""The raw store's catalog: one SQLite row per fetched query unit (``raw/catalog.sqlite``).

A *unit* is the smallest piece the fetcher requests and the store replaces as a whole: one trading
day for ``fetch_mode="date"``/``"disc_date"`` datasets, one calendar month chunk for ``"range"``
datasets, one as-of day for ``"latest"`` datasets. A unit goes through two states:

- ``pending``: recorded *before* any Parquet file is touched, together with every month partition
  the write may change (the months of the old rows and of the new rows);
- ``committed``: recorded after every partition file has been replaced, with the row count, the
  content hash and the date range of the rows.

A crash between the two leaves a ``pending`` row. The fetcher treats pending units as missing, and
the next ``write_unit`` of that unit clears its rows from every month listed in the pending row, so a
re-run ends with no duplicates and no gaps.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from gogooku.errors import GogookuError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS units (
    dataset      TEXT NOT NULL,
    unit_key     TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('pending', 'committed')),
    query        TEXT NOT NULL,
    unit_start   TEXT,
    unit_end     TEXT,
    date_min     TEXT,
    date_max     TEXT,
    rows         INTEGER,
    content_hash TEXT,
    months       TEXT NOT NULL,
    fetched_at   TEXT NOT NULL,
    source       TEXT NOT NULL,
    PRIMARY KEY (dataset, unit_key)
)
"""


@dataclass(frozen=True)
class PendingUnit:
    """A unit about to be written: request, covered period, months it may touch, fetch time."""

    key: str
    query: dict[str, str]
    unit_start: dt.date | None
    unit_end: dt.date | None
    months: list[str]
    fetched_at: dt.datetime


@dataclass(frozen=True)
class CommittedUnit:
    """A written unit: the months now holding its rows, row count, hash and date range."""

    key: str
    months: list[str]
    rows: int
    content_hash: str
    date_min: dt.date | None
    date_max: dt.date | None


@dataclass(frozen=True)
class UnitRecord:
    """One catalog row. ``unit_start``/``unit_end`` is the period the query covered; ``date_min``/
    ``date_max`` the range of the rows' date field (None when the unit returned no rows)."""

    dataset: str
    unit_key: str
    status: str
    query: dict[str, str]
    unit_start: dt.date | None
    unit_end: dt.date | None
    date_min: dt.date | None
    date_max: dt.date | None
    rows: int | None
    content_hash: str | None
    months: tuple[str, ...]
    fetched_at: dt.datetime
    source: str

    @property
    def committed(self) -> bool:
        return self.status == "committed"


def _date(text: str | None) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


class CatalogError(GogookuError, ValueError):
    """The catalog file is not a readable SQLite database; names the file."""


class Catalog:
    """SQLite catalog of the units in a raw store: one connection, WAL journal.

    ``synchronous=NORMAL`` keeps the database consistent through a process crash at any point;
    after a power loss the last transactions may be lost, which only makes the fetcher request
    those units again (their rows are replaced by unit key, never duplicated).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path, timeout=30, check_same_thread=False)
        try:
            with self._connect() as conn:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise CatalogError(
                f"{path}: not a readable catalog ({exc}); restore it from a backup, or move it "
                "aside and re-run gogooku fetch to refetch the store"
            ) from None

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """The connection inside one transaction (committed on success, rolled back on error)."""
        with self._lock, self._conn:
            yield self._conn

    def close(self) -> None:
        self._conn.close()

    def begin(self, dataset: str, units: Sequence[PendingUnit], source: str) -> None:
        """Record ``units`` as ``pending`` with every month partition their write may touch."""
        with self._connect() as conn:
            conn.executemany(
                """INSERT INTO units (dataset, unit_key, status, query, unit_start, unit_end,
                       months, fetched_at, source)
                   VALUES (?, ?, 'pending', ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (dataset, unit_key) DO UPDATE SET
                       status='pending', query=excluded.query, unit_start=excluded.unit_start,
                       unit_end=excluded.unit_end, months=excluded.months,
                       fetched_at=excluded.fetched_at, source=excluded.source""",
                [
                    (
                        dataset,
                        u.key,
                        json.dumps(u.query, sort_keys=True),
                        _iso(u.unit_start),
                        _iso(u.unit_end),
                        json.dumps(sorted(u.months)),
                        u.fetched_at.isoformat(),
                        source,
                    )
                    for u in units
                ],
            )

    def commit(self, dataset: str, units: Sequence[CommittedUnit]) -> None:
        """Mark pending ``units`` ``committed``; ``months`` are the partitions holding their rows."""
        with self._connect() as conn:
            for u in units:
                cursor = conn.execute(
                    """UPDATE units SET status='committed', months=?, rows=?, content_hash=?,
                           date_min=?, date_max=?
                       WHERE dataset=? AND unit_key=? AND status='pending'""",
                    (
                        json.dumps(sorted(u.months)),
                        u.rows,
                        u.content_hash,
                        _iso(u.date_min),
                        _iso(u.date_max),
                        dataset,
                        u.key,
                    ),
                )
                if cursor.rowcount != 1:
                    raise RuntimeError(
                        f"catalog {self.path}: unit {dataset}/{u.key} was not pending at commit"
                    )

    def delete(self, dataset: str, keys: Sequence[str]) -> None:
        """Forget the committed ``keys`` of ``dataset`` (their rows are already gone)."""
        with self._connect() as conn:
            conn.executemany(
                "DELETE FROM units WHERE dataset=? AND unit_key=? AND status='committed'",
                [(dataset, key) for key in keys],
            )

    def get(self, dataset: str, unit_key: str) -> UnitRecord | None:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT * FROM units WHERE dataset=? AND unit_key=?", (dataset, unit_key)
            ).fetchone()
        return None if row is None else self._record(row)

    def units(
        self, dataset: str | None = None, keys: Sequence[str] | None = None
    ) -> list[UnitRecord]:
        """Units ordered by dataset and unit key: all, one dataset's, or its ``keys`` only."""
        clauses, args = [], []
        if dataset is not None:
            clauses.append("dataset=?")
            args.append(dataset)
        if keys is not None:
            clauses.append(f"unit_key IN ({','.join('?' * len(keys))})")
            args.extend(keys)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._connect() as conn:
            rows = conn.execute(
                f"SELECT * FROM units{where} ORDER BY dataset, unit_key", args
            ).fetchall()
        return [self._record(row) for row in rows]

    def sources(self) -> set[str]:
        """The distinct ``source`` labels of the recorded units."""
        with self._connect() as conn:
            return {row[0] for row in conn.execute("SELECT DISTINCT source FROM units")}

    def datasets(self) -> list[str]:
        with self._connect() as conn:
            rows = conn.execute("SELECT DISTINCT dataset FROM units ORDER BY dataset").fetchall()
        return [row[0] for row in rows]

    @staticmethod
    def _record(row: tuple) -> UnitRecord:
        (
            dataset,
            unit_key,
            status,
            query,
            unit_start,
            unit_end,
            date_min,
            date_max,
            rows,
            content_hash,
            months,
            fetched_at,
            source,
        ) = row
        return UnitRecord(
            dataset=dataset,
            unit_key=unit_key,
            status=status,
            query=json.loads(query),
            unit_start=_date(unit_start),
            unit_end=_date(unit_end),
            date_min=_date(date_min),
            date_max=_date(date_max),
            rows=rows,
            content_hash=content_hash,
            months=tuple(json.loads(months)),
            fetched_at=dt.datetime.fromisoformat(fetched_at),
            source=source,
        )
