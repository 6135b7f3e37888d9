"""The prediction store: ``$GOGOOKU_HOME/predictions.sqlite`` (SQLite in WAL mode).

Tables:

- ``predictions`` keyed (model, version, date, code): ``score`` (the bundle's main horizon),
  ``scores`` (JSON ``{"h": score}`` of every horizon), ``sector`` (S33 code), ``sector_name``,
  ``name`` (company name) from the raw store's master data as of the date (null without it);
- ``prediction_runs`` keyed (model, version, date): ``rows`` scored, ``listed`` stocks on that
  date, ``dispersion`` = population standard deviation of ``score`` across the day's stocks,
  ``dataset``, ``created_at``.

``write_day`` replaces a (model, version, date) in one transaction, so re-running a prediction is
idempotent and a reader sees the old or the new day, never a mix. ``generation()`` changes
whenever a write commits (SQLite's ``PRAGMA data_version``), so a reader can tell cheaply
whether anything it derived from the store is stale.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from gogooku.settings import get_settings
from gogooku.target import pred_column

STORE_FILE = "predictions.sqlite"
SCHEMA = """
CREATE TABLE IF NOT EXISTS predictions (
    model TEXT NOT NULL, version TEXT NOT NULL, date TEXT NOT NULL, code TEXT NOT NULL,
    score REAL NOT NULL, scores TEXT NOT NULL, sector TEXT, sector_name TEXT, name TEXT,
    PRIMARY KEY (model, version, date, code)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS prediction_runs (
    model TEXT NOT NULL, version TEXT NOT NULL, date TEXT NOT NULL, rows INTEGER NOT NULL,
    listed INTEGER NOT NULL, dispersion REAL, dataset TEXT, created_at TEXT NOT NULL,
    PRIMARY KEY (model, version, date)
) WITHOUT ROWID;
"""


def store_path() -> Path:
    return get_settings().home / STORE_FILE


@dataclass(frozen=True)
class DayRun:
    """One row of ``prediction_runs``."""

    model: str
    version: str
    date: dt.date
    rows: int
    listed: int
    dispersion: float | None
    dataset: str | None
    created_at: str


class PredictionStore:
    """Reads and writes ``predictions.sqlite``. Writes use a connection of their own; reads use
    one connection per thread, kept open (a service reads on every request)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path or store_path())
        self._local = threading.local()
        self._generation_conn: sqlite3.Connection | None = None
        self._generation_lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(SCHEMA)
        return conn

    def _reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn

    def write_day(
        self,
        model: str,
        version: str,
        day: dt.date,
        frame: pl.DataFrame,
        listed: int,
        dataset: str | None = None,
    ) -> DayRun:
        """Replace (model, version, day) with ``frame`` (``Code, score, scores`` [JSON text],
        ``sector, sector_name, name``)."""
        rows = frame.select("Code", "score", "scores", "sector", "sector_name", "name").rows()
        std = frame["score"].std(ddof=0) if frame.height else None
        created = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
        key = (model, version, day.isoformat())
        conn = self._connect()
        try:
            with conn:
                conn.execute("DELETE FROM predictions WHERE model=? AND version=? AND date=?", key)
                conn.executemany(
                    "INSERT INTO predictions VALUES (?,?,?,?,?,?,?,?,?)",
                    [(*key, *r) for r in rows],
                )
                conn.execute(
                    "INSERT OR REPLACE INTO prediction_runs VALUES (?,?,?,?,?,?,?,?)",
                    (*key, len(rows), listed, std, dataset, created),
                )
        finally:
            conn.close()
        return DayRun(model, version, day, len(rows), listed, std, dataset, created)

    def day_run(self, model: str, version: str, day: dt.date | None = None) -> DayRun | None:
        """The run row of ``day`` (default: the latest date) for model@version."""
        if not self.path.exists():
            return None
        sql = "SELECT * FROM prediction_runs WHERE model=? AND version=?"
        args: tuple = (model, version)
        if day is not None:
            sql += " AND date=?"
            args += (day.isoformat(),)
        row = self._reader().execute(sql + " ORDER BY date DESC LIMIT 1", args).fetchone()
        if row is None:
            return None
        return DayRun(row[0], row[1], dt.date.fromisoformat(row[2]), *row[3:])

    def generation(self) -> int | None:
        """A number that changes whenever another connection (of any process) commits a write:
        ``PRAGMA data_version`` of one connection kept for this (values of different
        connections are not comparable, so it is shared by every thread, under a lock). None
        while there is no readable store (then nothing derived from it may be cached)."""
        with self._generation_lock:
            try:
                if self._generation_conn is None:
                    if not self.path.exists():
                        return None
                    self._generation_conn = sqlite3.connect(self.path, check_same_thread=False)
                return self._generation_conn.execute("PRAGMA data_version").fetchone()[0]
            except sqlite3.Error:
                return None

    def read_day(self, model: str, version: str, day: dt.date) -> list[tuple]:
        """``(code, score, scores JSON, sector, sector_name, name)`` ranked: score descending,
        ties by code."""
        return (
            self._reader()
            .execute(
                "SELECT code, score, scores, sector, sector_name, name FROM predictions "
                "WHERE model=? AND version=? AND date=? ORDER BY score DESC, code",
                (model, version, day.isoformat()),
            )
            .fetchall()
        )


def to_store_frame(scores: pl.DataFrame, horizons: list[int], main: int) -> pl.DataFrame:
    """``Code, score, scores`` (JSON text) from ``Code, pred_{h}d``."""
    return scores.select(
        "Code",
        pl.col(pred_column(main)).alias("score"),
        pl.struct(pl.col(pred_column(h)).alias(str(h)) for h in horizons)
        .struct.json_encode()
        .alias("scores"),
    )
