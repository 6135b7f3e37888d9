"""Live-monitoring tables of the prediction store (next to ``predictions`` and
``prediction_runs`` of ``gogooku.bundle.predstore``; SQLite or PostgreSQL, ``gogooku.bundle.db``).

- ``live_scores`` keyed (model, version, date): the prediction day's ``horizon`` and ``label``
  (the bundle's main horizon and label kind), ``exit_date`` (the session whose close matured the
  label), ``n`` (stocks with a score and a realised return), ``k`` (the top-K used), ``rankic``,
  ``spread`` (top-K spread) and their trailing means over the version's last 20 and 60 matured
  days with a defined value (``rankic_20d``, ``rankic_60d``, ``spread_20d``, ``spread_60d``;
  null until that many exist), ``computed_at``;
- ``drift`` keyed (model, version, date, kind, name): ``kind`` "feature" (``name`` a raw input
  feature), "market" (a market-level input feature, ``gogooku.bundle.drift``) or "prediction"
  (``name`` "score"), ``psi`` against the bundle's reference (null:
  no reference), ``n`` values of the day, ``computed_at``.

Writes replace whole days in one transaction (idempotent per day).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl

from gogooku.bundle.db import open_database
from gogooku.bundle.livestats import trailing_mean
from gogooku.bundle.predstore import TABLES as PREDICTION_TABLES

WINDOWS = (20, 60)
TABLES = (
    """CREATE TABLE IF NOT EXISTS live_scores (
    model TEXT NOT NULL, version TEXT NOT NULL, date TEXT NOT NULL, horizon INTEGER NOT NULL,
    label TEXT NOT NULL, exit_date TEXT NOT NULL, n INTEGER NOT NULL, k INTEGER NOT NULL,
    rankic REAL, spread REAL, rankic_20d REAL, rankic_60d REAL, spread_20d REAL,
    spread_60d REAL, computed_at TEXT NOT NULL,
    PRIMARY KEY (model, version, date)
) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS drift (
    model TEXT NOT NULL, version TEXT NOT NULL, date TEXT NOT NULL, kind TEXT NOT NULL,
    name TEXT NOT NULL, psi REAL, n INTEGER NOT NULL, computed_at TEXT NOT NULL,
    PRIMARY KEY (model, version, date, kind, name)
) WITHOUT ROWID""",
)
LIVE_COLUMNS = (
    "date",
    "horizon",
    "label",
    "exit_date",
    "n",
    "k",
    "rankic",
    "spread",
    "rankic_20d",
    "rankic_60d",
    "spread_20d",
    "spread_60d",
)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _nan_to_none(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


class LiveStore:
    """Reads and writes the live tables (module doc) of the store ``target`` (a SQLite path or a
    PostgreSQL URL; default ``gogooku.bundle.db.store_target()``)."""

    def __init__(self, target: str | Path | None = None) -> None:
        self.db = open_database(target, PREDICTION_TABLES + TABLES)

    def _query(self, sql: str, args: tuple = ()) -> list[tuple]:
        return self.db.read(sql, args)

    # -- the predictions being monitored ---------------------------------------------------------
    def predicted_versions(self, model: str | None = None) -> list[tuple[str, str]]:
        """(model, version) pairs with stored predictions (of ``model`` only, when given)."""
        sql = "SELECT DISTINCT model, version FROM prediction_runs"
        args: tuple = ()
        if model is not None:
            sql, args = sql + " WHERE model=?", (model,)
        return sorted(self._query(sql + " ORDER BY model, version", args))

    def predicted_dates(self, model: str, version: str) -> list[dt.date]:
        rows = self._query(
            "SELECT date FROM prediction_runs WHERE model=? AND version=? ORDER BY date",
            (model, version),
        )
        return [dt.date.fromisoformat(r[0]) for r in rows]

    def scores(self, model: str, version: str, dates: list[dt.date]) -> pl.DataFrame:
        """``Date, Code, score`` of the stored days ``dates``."""
        schema = {"Date": pl.String, "Code": pl.String, "score": pl.Float64}
        if not dates:
            return pl.DataFrame(schema=schema).with_columns(pl.col("Date").str.to_date())
        marks = ",".join("?" * len(dates))
        rows = self._query(
            f"SELECT date, code, score FROM predictions WHERE model=? AND version=? "
            f"AND date IN ({marks}) ORDER BY date, code",
            (model, version, *(d.isoformat() for d in dates)),
        )
        return pl.DataFrame(rows, schema=schema, orient="row").with_columns(
            pl.col("Date").str.to_date()
        )

    # -- live_scores ----------------------------------------------------------------------------
    def live_dates(self, model: str, version: str) -> set[dt.date]:
        rows = self._query(
            "SELECT date FROM live_scores WHERE model=? AND version=?", (model, version)
        )
        return {dt.date.fromisoformat(r[0]) for r in rows}

    def write_live(self, model: str, version: str, days: list[dict]) -> None:
        """Replace the ``days`` (dicts of ``date, horizon, label, exit_date, n, k, rankic,
        spread``) of model@version, then recompute the version's trailing means."""
        now = _now()
        with self.db.transaction() as cur:
            cur.executemany(
                "DELETE FROM live_scores WHERE model=? AND version=? AND date=?",
                [(model, version, d["date"].isoformat()) for d in days],
            )
            cur.executemany(
                "INSERT INTO live_scores VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [
                    (
                        model,
                        version,
                        d["date"].isoformat(),
                        d["horizon"],
                        d["label"],
                        d["exit_date"].isoformat(),
                        d["n"],
                        d["k"],
                        _nan_to_none(d["rankic"]),
                        _nan_to_none(d["spread"]),
                        None,
                        None,
                        None,
                        None,
                        now,
                    )
                    for d in days
                ],
            )
            rows = cur.execute(
                "SELECT date, rankic, spread FROM live_scores WHERE model=? AND version=? "
                "ORDER BY date",
                (model, version),
            ).fetchall()
            cur.executemany(
                "UPDATE live_scores SET rankic_20d=?, rankic_60d=?, spread_20d=?, "
                "spread_60d=? WHERE model=? AND version=? AND date=?",
                [(*means, model, version, day) for day, means in _rolling(rows).items()],
            )

    def live_series(self, model: str, version: str) -> pl.DataFrame:
        """Every ``live_scores`` row of model@version (``LIVE_COLUMNS``), oldest first."""
        rows = self._query(
            f"SELECT {', '.join(LIVE_COLUMNS)} FROM live_scores WHERE model=? AND version=? "
            "ORDER BY date",
            (model, version),
        )
        schema = dict.fromkeys(LIVE_COLUMNS, pl.Float64)
        schema.update(
            date=pl.String,
            horizon=pl.Int64,
            label=pl.String,
            exit_date=pl.String,
            n=pl.Int64,
            k=pl.Int64,
        )
        return pl.DataFrame(rows, schema=schema, orient="row").with_columns(
            pl.col("date", "exit_date").str.to_date()
        )

    # -- drift ----------------------------------------------------------------------------------
    def drift_dates(self, model: str, version: str) -> set[dt.date]:
        rows = self._query(
            "SELECT DISTINCT date FROM drift WHERE model=? AND version=?", (model, version)
        )
        return {dt.date.fromisoformat(r[0]) for r in rows}

    def write_drift(
        self, model: str, version: str, days: dict[dt.date, list[tuple[str, str, float, int]]]
    ) -> None:
        """Replace the drift rows ``(kind, name, psi, n)`` of each day of ``days`` of
        model@version (one transaction)."""
        now = _now()
        with self.db.transaction() as cur:
            for day, rows in days.items():
                key = (model, version, day.isoformat())
                cur.execute("DELETE FROM drift WHERE model=? AND version=? AND date=?", key)
                cur.executemany(
                    "INSERT INTO drift VALUES (?,?,?,?,?,?,?,?)",
                    [(*key, k, name, _nan_to_none(p), n, now) for k, name, p, n in rows],
                )

    def drift_day(self, model: str, version: str, day: dt.date | None = None) -> pl.DataFrame:
        """``date, kind, name, psi, n`` of ``day`` (default: the latest date with drift rows)."""
        if day is None:
            latest = self._query(
                "SELECT MAX(date) FROM drift WHERE model=? AND version=?", (model, version)
            )
            day = dt.date.fromisoformat(latest[0][0]) if latest and latest[0][0] else None
        rows = (
            self._query(
                "SELECT date, kind, name, psi, n FROM drift WHERE model=? AND version=? "
                "AND date=? ORDER BY kind, psi DESC, name",
                (model, version, day.isoformat()),
            )
            if day is not None
            else []
        )
        schema = {"date": pl.String, "kind": pl.String, "name": pl.String, "psi": pl.Float64}
        return pl.DataFrame(rows, schema={**schema, "n": pl.Int64}, orient="row").with_columns(
            pl.col("date").str.to_date()
        )


def _rolling(rows: list[tuple]) -> dict[str, tuple]:
    """{date: (rankic_20d, rankic_60d, spread_20d, spread_60d)}: trailing means (``WINDOWS``)
    over the days where the daily value is defined (null elsewhere and before a full window)."""
    out: dict[str, list] = {r[0]: [None] * 4 for r in rows}
    for col, offset in ((1, 0), (2, 2)):
        defined = [(r[0], r[col]) for r in rows if r[col] is not None]
        values = np.array([v for _, v in defined], dtype=np.float64)
        for j, window in enumerate(WINDOWS):
            for (day, _), mean in zip(defined, trailing_mean(values, window), strict=True):
                out[day][offset + j] = _nan_to_none(mean)
    return {day: tuple(means) for day, means in out.items()}
