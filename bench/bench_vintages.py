"""Benchmark of the raw store's vintages: writes, re-fetches and the two ways a build reads bars.

A temporary store gets ``--stocks`` × ``--years`` of daily bars (one unit per trading day, written a
month per batch, fetched 17:00 JST on the day), then one month is re-fetched unchanged and once more
with every close corrected (so it holds one month of vintages). Timed (best of 3 for the reads):

* ``write``: the initial fill; ``refetch_unchanged`` / ``refetch_corrected``: one month batch;
* ``scan``: ``RawStore.scan`` (latest versions: ``--as-revised`` builds and every other reader);
* ``point_in_time``: ``PointInTimeStore.scan`` (what a default build reads);
* ``bytes_per_row``: month files' size per row, with the hidden ``_fetched_at`` and without it.

Wall seconds depend on what else runs on the machine. Usage:
``python bench/bench_vintages.py [--stocks 2000] [--years 2]``. Prints one JSON document.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from gogooku.calendar import TradingCalendar
from gogooku.dataset.point_in_time import PointInTimeStore
from gogooku.jquants.endpoints import ENDPOINTS
from gogooku.store.raw import RawStore, UnitWrite

BARS = "equities_bars_daily"
START = dt.date(2022, 1, 1)
REVISED_MONTH = "2022-06"


def bars(day: dt.date, codes: list[str], rng: np.random.Generator) -> pl.DataFrame:
    schema = ENDPOINTS[BARS].schema
    prices = rng.random(len(codes)) + 100
    frame = pl.DataFrame({"Date": [day] * len(codes), "Code": codes, "C": prices, "AdjC": prices})
    return frame.with_columns(
        pl.lit(None, dtype=t).alias(c) for c, t in schema.items() if c not in frame.columns
    ).select(pl.col(c).cast(t) for c, t in schema.items())


def timed(action) -> float:
    began = time.perf_counter()
    action()
    return round(time.perf_counter() - began, 3)


def run(stocks: int, years: int) -> dict:
    rng = np.random.default_rng(0)
    codes = [f"{1000 + i}0" for i in range(stocks)]
    end = START.replace(year=START.year + years) - dt.timedelta(days=1)
    calendar = TradingCalendar.from_xtks(START - dt.timedelta(days=120), end)
    days = calendar.days(START, end)
    frames = {d: bars(d, codes, rng) for d in days}
    months = sorted({d.strftime("%Y-%m") for d in days})
    store = RawStore(Path(tempfile.mkdtemp(prefix="bench_vintages_")) / "raw")

    def batch(month: str, change: float, fetched: dt.datetime | None) -> list[UnitWrite]:
        return [
            UnitWrite(
                d.isoformat(),
                frames[d].with_columns(pl.col("C") * change),
                {},
                d,
                d,
                fetched or dt.datetime.combine(d, dt.time(8), dt.UTC),
            )
            for d in days
            if d.strftime("%Y-%m") == month
        ]

    def fill() -> None:
        for month in months:
            store.write_units(BARS, batch(month, 1.0, None))

    later = dt.datetime.combine(end, dt.time(0), dt.UTC)
    result = {"stocks": stocks, "years": years, "rows": stocks * len(days)}
    result["write"] = timed(fill)
    result["refetch_unchanged"] = timed(
        lambda: store.write_units(BARS, batch(REVISED_MONTH, 1.0, later))
    )
    result["refetch_corrected"] = timed(
        lambda: store.write_units(BARS, batch(REVISED_MONTH, 1.01, later + dt.timedelta(hours=1)))
    )
    result["vintage_rows"] = store.vintage_rows(BARS)
    view = PointInTimeStore(store, calendar)
    for name, reader in (("scan", store), ("point_in_time", view)):
        result[name] = min(timed(lambda r=reader: r.scan(BARS).collect()) for _ in range(3))
    files = store.partitions(BARS)
    with_stamp = sum(p.stat().st_size for p in files)
    scratch = Path(tempfile.mkdtemp(prefix="bench_vintages_plain_"))
    for p in files:
        pl.read_parquet(p).drop("_fetched_at").write_parquet(scratch / p.name, compression="zstd")
    without = sum(p.stat().st_size for p in scratch.iterdir())
    result["bytes_per_row"] = {
        "with_fetched_at": round(with_stamp / result["rows"], 2),
        "without": round(without / result["rows"], 2),
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stocks", type=int, default=2000)
    parser.add_argument("--years", type=int, default=2)
    args = parser.parse_args()
    print(json.dumps(run(args.stocks, args.years), indent=2))


if __name__ == "__main__":
    main()
