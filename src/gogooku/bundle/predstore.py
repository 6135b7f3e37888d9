"""The prediction store: ``$GOGOOKU_HOME/predictions.sqlite`` (SQLite in WAL mode) by default, or
a PostgreSQL database shared by service replicas (``--store`` / ``$GOGOOKU_STORE``; the
backends are ``gogooku.bundle.db``'s).

Tables:

- ``predictions`` keyed (model, version, date, code): ``score`` (the bundle's main horizon),
  ``scores`` (JSON ``{"h": score}`` of every horizon), ``sector`` (S33 code), ``sector_name``,
  ``name`` (company name) from the raw store's master data as of the date (null without it);
- ``prediction_runs`` keyed (model, version, date): ``rows`` scored, ``listed`` stocks on that
  date, ``dispersion`` = population standard deviation of ``score`` across the day's stocks,
  ``dataset``, ``created_at``.

``write_day`` replaces a (model, version, date) in one transaction, so re-running a prediction is
idempotent and a reader sees the old or the new day, never a mix. ``generation()`` changes
whenever a write commits (the backend's ``generation()``), so a reader can tell cheaply whether
anything it derived from the store is stale.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from gogooku.bundle.db import open_database
from gogooku.target import pred_column

TABLES = (
    """CREATE TABLE IF NOT EXISTS predictions (
    model TEXT NOT NULL, version TEXT NOT NULL, date TEXT NOT NULL, code TEXT NOT NULL,
    score REAL NOT NULL, scores TEXT NOT NULL, sector TEXT, sector_name TEXT, name TEXT,
    PRIMARY KEY (model, version, date, code)
) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS prediction_runs (
    model TEXT NOT NULL, version TEXT NOT NULL, date TEXT NOT NULL, rows INTEGER NOT NULL,
    listed INTEGER NOT NULL, dispersion REAL, dataset TEXT, created_at TEXT NOT NULL,
    PRIMARY KEY (model, version, date)
) WITHOUT ROWID""",
)
SCHEMA = "".join(f"{table};\n" for table in TABLES)  # the SQLite script


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
    """Reads and writes the prediction tables of the store ``target`` (a SQLite path or a
    PostgreSQL URL; default ``gogooku.bundle.db.store_target()``)."""

    def __init__(self, target: str | Path | None = None) -> None:
        self.db = open_database(target, TABLES)
        self.target = self.db.target
        self.path = self.target if isinstance(self.target, Path) else None  # the SQLite file

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
        where = "WHERE model=? AND version=? AND date=?"
        with self.db.transaction() as cur:
            cur.execute(f"DELETE FROM predictions {where}", key)
            cur.executemany(
                "INSERT INTO predictions VALUES (?,?,?,?,?,?,?,?,?)", [(*key, *r) for r in rows]
            )
            cur.execute(f"DELETE FROM prediction_runs {where}", key)
            cur.execute(
                "INSERT INTO prediction_runs VALUES (?,?,?,?,?,?,?,?)",
                (*key, len(rows), listed, std, dataset, created),
            )
        return DayRun(model, version, day, len(rows), listed, std, dataset, created)

    def day_run(self, model: str, version: str, day: dt.date | None = None) -> DayRun | None:
        """The run row of ``day`` (default: the latest date) for model@version."""
        sql = "SELECT * FROM prediction_runs WHERE model=? AND version=?"
        args: tuple = (model, version)
        if day is not None:
            sql += " AND date=?"
            args += (day.isoformat(),)
        rows = self.db.read(sql + " ORDER BY date DESC LIMIT 1", args)
        if not rows:
            return None
        row = rows[0]
        return DayRun(row[0], row[1], dt.date.fromisoformat(row[2]), *row[3:])

    def generation(self) -> int | None:
        """A number that changes whenever any process commits a write to the store; None while
        there is no readable store (then nothing derived from it may be cached)."""
        return self.db.generation()

    def read_day(self, model: str, version: str, day: dt.date) -> list[tuple]:
        """``(code, score, scores JSON, sector, sector_name, name)`` ranked: score descending,
        ties by code."""
        return self.db.read(
            "SELECT code, score, scores, sector, sector_name, name FROM predictions "
            "WHERE model=? AND version=? AND date=? ORDER BY score DESC, code",
            (model, version, day.isoformat()),
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
