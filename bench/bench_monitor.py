"""Benchmark: the cost of the drift reference (bundle creation) and of daily drift (monitor).

    python bench/bench_monitor.py [--stocks 4000] [--features 32] [--train-days 250]
                                  [--drift-days 1,20] [--out FILE]

Prints JSON. Setup (a temporary folder): a panel Parquet of ``--stocks`` codes ×
(``--train-days`` + 60) days × ``--features`` Float64 columns of random normals (a tenth of them market-level:
one value a day, and a tenth sector-level: 33 values a day, so the drift windows are 1, 7 and
60 sessions as in a real panel). Timed (CPU seconds of this process, ``time.process_time``,
and wall seconds; peak RSS in MB from ``resource.getrusage``):

- ``reference``: ``gogooku.bundle.reference.feature_reference`` over the first
  ``--train-days`` days (what ``gogooku bundle`` adds to a bundle's creation);
- ``drift_<n>d``: ``gogooku.bundle.drift.feature_drift`` of the last n days (what ``gogooku
  monitor`` does each day, n = 1, or on its first run over a backlog), with ``max_psi`` over
  every day and feature of each kind ("feature": stock- and sector-level, "market"): the data
  do not drift, so these are the noise.

Both scale linearly with the number of features: per-feature figures are ``cpu_s / features``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from gogooku.bundle.drift import feature_drift
from gogooku.bundle.reference import feature_reference


def make_panel(path: Path, stocks: int, features: int, days: int, seed: int = 0) -> list:
    """Write the benchmark panel (module doc); its dates."""
    rng = np.random.default_rng(seed)
    dates = [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(days)]
    n = stocks * days
    cols: dict[str, np.ndarray] = {}
    sector = np.tile(np.arange(stocks) % 33, days)
    day = np.repeat(np.arange(days), stocks)
    for j in range(features):
        if j % 10 == 0:  # market-level
            cols[f"f{j:03d}"] = rng.normal(size=days)[day]
        elif j % 10 == 1:  # sector-level
            cols[f"f{j:03d}"] = rng.normal(size=(days, 33))[day, sector]
        else:
            cols[f"f{j:03d}"] = rng.normal(size=n)
    frame = pl.DataFrame(
        {
            "Date": np.repeat(np.array(dates, dtype="datetime64[D]"), stocks),
            "Code": np.tile(np.arange(stocks).astype(str), days),
            **cols,
        }
    )
    frame.write_parquet(path, row_group_size=stocks * 5)
    return dates


def timed(fn, *args) -> tuple[object, dict]:
    cpu, wall = time.process_time(), time.perf_counter()
    out = fn(*args)
    return out, {
        "cpu_s": round(time.process_time() - cpu, 3),
        "wall_s": round(time.perf_counter() - wall, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stocks", type=int, default=4000)
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument("--train-days", type=int, default=250)
    parser.add_argument("--drift-days", default="1,20")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        panel = Path(tmp) / "panel.parquet"
        days = args.train_days + 60
        dates = make_panel(panel, args.stocks, args.features, days)
        names = [f"f{j:03d}" for j in range(args.features)]
        (_, features), ref_cost = timed(
            feature_reference, panel, names, dates[0], dates[args.train_days - 1]
        )
        result = {
            "stocks": args.stocks,
            "features": args.features,
            "train_days": args.train_days,
            "reference": ref_cost,
        }
        reference = {"features": features}
        for n in (int(x) for x in args.drift_days.split(",")):
            out, cost = timed(feature_drift, panel, names, reference, dates[-n:])
            cost["max_psi"] = {
                kind: round(float(np.nanmax([p for r in out.values() for k, _, p, _ in r
                                             if k == kind])), 4)
                for kind in ("feature", "market")
            }  # fmt: skip
            result[f"drift_{n}d"] = cost
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return result


if __name__ == "__main__":
    sys.exit(main() and 0)
