"""Stored predictions written by tests of live monitoring (tests/bundle/test_monitor.py,
test_shadow.py): oracle scores from the tiny dataset's panel, stored as ``lg@VERSION``."""

from __future__ import annotations

import json
import sqlite3
from datetime import date
from pathlib import Path

import polars as pl

from gogooku.bundle.predstore import SCHEMA, PredictionStore


def oracle_labels(home: Path, first: date) -> pl.DataFrame:
    """``Date, Code, label`` (5-day raw label, null → 0) of the panel from ``first`` on."""
    return (
        pl.read_parquet(home / "datasets" / "tiny" / "panel.parquet")
        .filter(pl.col("Date") >= first)
        .select("Date", "Code", pl.col("target_5d").fill_null(0.0).alias("label"))
    )


def write_scores(version: str, frame: pl.DataFrame, sign_from: date | None = None) -> None:
    """Store ``frame`` (``Date, Code, label``) as lg@version's scores, sign-flipped from
    ``sign_from`` on: the rows ``PredictionStore.write_day`` writes, all days in one transaction
    (a commit per day costs an fsync each)."""
    flip = pl.col("Date") >= sign_from if sign_from else pl.lit(False)
    scored = frame.with_columns(
        score=pl.when(flip).then(-pl.col("label")).otherwise(pl.col("label"))
    )
    path = PredictionStore().path
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA)
    with conn:
        for (day,), g in scored.group_by("Date"):
            key = ("lg", version, day.isoformat())
            conn.executemany(
                "INSERT OR REPLACE INTO predictions VALUES (?,?,?,?,?,?,NULL,NULL,NULL)",
                [(*key, c, s, json.dumps({"5": s})) for c, s in g.select("Code", "score").rows()],
            )
            conn.execute(
                "INSERT OR REPLACE INTO prediction_runs VALUES (?,?,?,?,?,?,?,?)",
                (*key, g.height, g.height, g["score"].std(ddof=0), "tiny", "2021-01-01T00:00"),
            )
    conn.close()
