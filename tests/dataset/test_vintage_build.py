"""Builds through the CLI after J-Quants corrects published bars: the default build keeps every row
as it was (the correction was fetched after the rows' decision times), ``--as-revised`` shows
it, the mode is recorded, and no build extends a dataset built in the other mode."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import polars as pl
from polars.testing import assert_frame_equal

from gogooku.store.raw import RawStore

from ..support.markets import run_cli

BARS = "equities_bars_daily"
DAY = dt.date(2020, 7, 1)
PRICES = ["O", "H", "L", "C", "AdjO", "AdjH", "AdjL", "AdjC"]
BUILD = ["build", "--start", "2020-06-01", "--name", "v", "--blocks", "returns"]


def panel(home: Path) -> pl.DataFrame:
    return pl.read_parquet(home / "datasets" / "v" / "panel.parquet")


def metadata(home: Path) -> dict:
    return json.loads((home / "datasets" / "v" / "metadata.json").read_text())


def correct_bars(home: Path, codes: list[str]) -> None:
    """Re-fetch ``DAY``'s bars unit as J-Quants corrected it a day after the original fetch:
    ``codes`` get prices 10% higher."""
    store = RawStore(home / "raw")
    stored = store.catalog.get(BARS, DAY.isoformat())
    bars = store.scan(BARS).filter(pl.col("Date") == DAY).collect()
    revised = bars.with_columns(
        pl.when(pl.col("Code").is_in(codes)).then(pl.col(c) * 1.1).otherwise(pl.col(c)).alias(c)
        for c in PRICES
    )
    store.write_unit(
        BARS,
        DAY.isoformat(),
        revised,
        stored.query,
        unit_start=DAY,
        unit_end=DAY,
        source=stored.source,
        fetched_at=stored.fetched_at + dt.timedelta(days=1),
    )


def test_a_correction_fetched_later_changes_only_as_revised_builds(tiny_home, _isolated_home):
    home = _isolated_home
    shutil.copytree(tiny_home / "raw", home / "raw")
    run_cli(home, [*BUILD, "--end", "2020-08-31"])
    original = panel(home)
    assert metadata(home)["revisions"] == "as_of_decision"
    codes = sorted(original["Code"].unique().to_list())[:3]
    features = [c for c in original.columns if not c.startswith("target_")]

    correct_bars(home, codes)
    run_cli(home, [*BUILD, "--end", "2020-08-31"])
    assert_frame_equal(panel(home), original)

    run_cli(home, [*BUILD, "--end", "2020-08-31", "--as-revised"])
    revised = panel(home)
    assert metadata(home)["revisions"] == "latest"
    # Features before the corrected day are untouched; labels looking ahead onto it are not.
    before = pl.col("Date") < DAY
    assert_frame_equal(
        revised.filter(before).select(features), original.filter(before).select(features)
    )
    changed = revised.filter(pl.col("Date") == DAY, pl.col("Code").is_in(codes))
    unchanged = original.filter(pl.col("Date") == DAY, pl.col("Code").is_in(codes))
    assert (changed["ret_prev_1d"] - unchanged["ret_prev_1d"]).abs().min() > 0.05

    # Extending the as-revised dataset in the default mode is a full build: every old row is
    # read as of its decision time again.
    run_cli(home, [*BUILD, "--end", "2020-09-15"])
    assert metadata(home)["incremental"] is False
    assert metadata(home)["revisions"] == "as_of_decision"
    old_days = pl.col("Date") <= dt.date(2020, 8, 31)
    assert_frame_equal(panel(home).filter(old_days).select(features), original.select(features))
