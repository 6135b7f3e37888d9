"""Derived datasets: raw-store datasets computed from a fetched dataset when it is stored.

A derived dataset has no endpoint; it is written by ``RawStore.write_units`` in the same unit
write as its parent (same unit keys, queries, periods, fetch times and source: the catalog
records both ``pending`` before any file changes and commits the derived units before the
parent's), so a unit of the parent is never committed without its derived rows. Stores fetched
before a derived dataset existed are completed by ``gogooku store derive`` (and by every
``gogooku fetch``, see ``gogooku.store.derive``).

``equities_bars_minute_summary`` (parent ``equities_bars_minute``): one row per (Code, Date)
holding the sums the ``mb`` feature block needs, so a build reads ~1 row per stock-day instead
of ~300 minute bars. With ``m`` a bar's minute of the day and the bars of one stock and day in
``Time`` order (raw prices)::

    five-minute closes  c_j = C of the last bar in the j-th bucket (m // 5; the 15:30 closing
                              auction is its own bucket)
    Buckets    = number of buckets j
    RV5m       = Σ_j (ln c_j − ln c_(j−1))²   over j after the first; null when Buckets = 1
    Close      = C of the day's last bar
    Close1500  = C of the last bar at or before 15:00 (null when none)
    AuctionVo  = round(Vo) of the 15:30 bar (0 when there is none)
    Vo, Va     = Σ round(Vo), Σ round(Va) over the day's bars (whole shares and yen: integer sums
                 do not depend on summation order)
    Bars       = number of minute bars
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl

MINUTE_BARS = "equities_bars_minute"
MINUTE_SUMMARY = "equities_bars_minute_summary"
CLOSING_AUCTION = "15:30"
LAST30_FROM = "15:00"
BUCKET_MINUTES = 5

MINUTE_SUMMARY_SCHEMA: dict[str, pl.DataType] = {
    "Date": pl.Date(),
    "Code": pl.String(),
    "Bars": pl.Int64(),
    "Buckets": pl.Int64(),
    "RV5m": pl.Float64(),
    "Close": pl.Float64(),
    "Close1500": pl.Float64(),
    "AuctionVo": pl.Int64(),
    "Vo": pl.Int64(),
    "Va": pl.Int64(),
}


@dataclass(frozen=True)
class DerivedDataset:
    """A stored dataset computed from ``parent``'s rows, one unit per parent unit.

    ``derive`` maps the rows of one parent unit to the derived rows of that unit (in
    ``schema``); ``key`` identifies a row, ``date_field`` partitions it by month.
    """

    id: str
    parent: str
    date_field: str
    key: tuple[str, ...]
    schema: dict[str, pl.DataType]
    derive: Callable[[pl.DataFrame], pl.DataFrame]
    description: str


def minute(hhmm: str) -> int:
    """Minute of the day of ``HH:MM``."""
    return int(hhmm[:2]) * 60 + int(hhmm[3:5])


def _same_day(k: int) -> pl.Expr:
    """True where the row ``k`` rows away (``shift(k)``) is a bar of the same stock and day."""
    return (pl.col("Code") == pl.col("Code").shift(k)) & (pl.col("Date") == pl.col("Date").shift(k))


def summarise_minute_bars(bars: pl.DataFrame) -> pl.DataFrame:
    """The summary (module docstring) of the minute bars of one unit, in any row order; sorted
    by Date, Code.

    The rows are sorted by Date, Code, Time; each measure is then a neighbour comparison plus a
    group max or integer sum, and ``RV5m`` a NumPy segment sum over each stock-day's bucket
    closes in time order, so a unit's summary does not depend on how its rows were chunked or
    on the thread count (a re-fetch of unchanged bars gives bit-identical rows, hence no vintage).
    """
    c = pl.col
    clock = c("Time").str.to_time("%H:%M")
    early_to = minute(LAST30_FROM)
    rows = (
        bars.select("Date", "Code", "Time", "C", "Vo", "Va")
        .sort("Date", "Code", "Time")
        .with_columns((clock.dt.hour().cast(pl.Int16) * 60 + clock.dt.minute()).alias("m"))
        .with_columns(
            _same_day(-1).fill_null(False).alias("has_next"),
            (c("m") // BUCKET_MINUTES).alias("bucket"),
        )
    )
    ends = rows.filter(~c("has_next") | (c("bucket") != c("bucket").shift(-1))).select(
        "Code",
        "Date",
        pl.when(_same_day(1)).then((c("C").log() - c("C").shift(1).log()).pow(2)).alias("r2"),
        (~_same_day(1)).fill_null(True).alias("first"),
    )
    starts = np.flatnonzero(ends["first"].to_numpy())
    returns = np.add.reduceat(ends["r2"].is_not_null().to_numpy().astype(np.int64), starts)
    r2_sum = np.add.reduceat(ends["r2"].fill_null(0.0).to_numpy(), starts)
    closes = ends.filter("first").select(
        "Code",
        "Date",
        pl.Series("Buckets", np.diff(np.r_[starts, ends.height]), dtype=pl.Int64),
        pl.Series("RV5m", np.where(returns > 0, r2_sum, np.nan)).fill_nan(None),
    )
    last_early = (c("m") <= early_to) & ~(c("has_next") & (c("m").shift(-1) <= early_to))
    day = (
        rows.select(
            "Code",
            "Date",
            pl.when(~c("has_next")).then(c("C")).alias("Close"),
            pl.when(last_early).then(c("C")).alias("Close1500"),
            pl.when(c("m") == minute(CLOSING_AUCTION))
            .then(c("Vo").round().cast(pl.Int64))
            .otherwise(0)
            .alias("AuctionVo"),
            c("Vo").round().cast(pl.Int64),
            c("Va").round().cast(pl.Int64),
        )
        .group_by("Code", "Date")
        .agg(
            pl.len().cast(pl.Int64).alias("Bars"),
            c("Close", "Close1500").max(),
            c("AuctionVo", "Vo", "Va").sum(),
        )
    )
    return (
        day.join(closes, on=["Code", "Date"], how="left")
        .select(list(MINUTE_SUMMARY_SCHEMA))
        .sort("Date", "Code")
    )


DERIVED: dict[str, DerivedDataset] = {
    MINUTE_SUMMARY: DerivedDataset(
        id=MINUTE_SUMMARY,
        parent=MINUTE_BARS,
        date_field="Date",
        key=("Date", "Code"),
        schema=MINUTE_SUMMARY_SCHEMA,
        derive=summarise_minute_bars,
        description="per (Code, Date) sums of the day's minute bars for the mb block",
    )
}


def derived_of(parent: str) -> tuple[DerivedDataset, ...]:
    """The derived datasets written with ``parent`` (none for most datasets)."""
    return tuple(d for d in DERIVED.values() if d.parent == parent)
