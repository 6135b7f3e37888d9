"""Benchmark of ``gogooku build``: time, peak RSS and rows/s at several universe sizes.

For each size (stocks × years) a child process generates the synthetic market and writes it into
a fresh raw store (month units, every dataset the synthetic market produces, the bars with the
Premium session fields a Premium fetch would store, and the minute add-on's last two years as
the minute-bar summaries the ``mb`` block reads, rendered from the minute model without the
bars: ``minute_summaries`` in the JSON says how, with its rows and seconds); a second child runs
the full build with every registered block (core, side data, fundamentals, graph, interactions,
then the dense cache), so its peak RSS (``ru_maxrss``) is the build's alone. The JSON gives the
build's wall and CPU seconds (user + system), the 1-minute load average before and after it (the
machine may be shared: CPU seconds are the steadier figure), rows per wall and per CPU second,
the cache's size, each block's seconds and each driver stage's wall and CPU seconds and peak-RSS
growth (``stage_seconds``, from the build's ``metadata.json``; ``gogooku.dataset.stages``) and
the blocks the build skipped. In the same run, a fixed set of price features is computed on the base frame
twice: with Polars expressions (``.over("Code")``) and with a straightforward pandas
``groupby().rolling()`` implementation; the JSON reports both times, their ratio and the largest
absolute difference between the two results. With ``--incremental`` a third child builds a
second dataset to the last trading day before the end and times its one-day incremental
extension (``incremental_one_day``: wall and CPU seconds, peak RSS).

Usage: ``python bench/bench_build.py`` (300 × 3 y and 1000 × 5 y), ``--sizes 1000x5`` (only the
listed sizes) or ``--full`` (adds 4000 × 10 y); ``--chunk-stocks N`` sets the build's stock chunk
(default 200, the build's own); ``--incremental`` adds the one-day extension. ``--home DIR`` keeps the raw store in ``DIR/STOCKSxYEARS`` instead of a temporary folder and reuses it when a
previous run left it there (its generation figures are read back from ``setup.json``), so a
rerun times the build alone. Prints one JSON document on stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl

from gogooku.dataset.build import DEFAULT_CHUNK_STOCKS

SIZES = [(300, 3), (1000, 5)]
FULL_SIZE = (4000, 10)
MINUTE_YEARS = 2  # the minute add-on's history window
END = date(2024, 12, 30)
ANNUAL = math.sqrt(245)


def _write_store(stocks: int, years: int, home: Path) -> dict:
    """Runs in a fresh process (``--child-store``): generation and the store writes."""
    from gogooku.store.raw import RawStore, UnitWrite
    from gogooku.synth.config import SynthConfig
    from gogooku.synth.market import generate_market

    start = date(END.year - years + 1, 1, 1)
    t0 = time.perf_counter()
    market = generate_market(SynthConfig(seed=7, stocks=stocks, start=start, end=END))
    generated = time.perf_counter() - t0
    store = RawStore(home / "raw")
    # as a Premium fetch stores them: the bars with their morning/afternoon session fields
    renderers = market.premium_renderers
    for dataset, frame in market.tables.items():
        if frame.is_empty():
            continue
        if dataset in renderers:
            frame = renderers[dataset](frame)
        field = RawStore.date_field(dataset)
        months = frame.with_columns(pl.col(field).dt.strftime("%Y-%m").alias("_m"))
        units = [
            UnitWrite(str(m), part.drop("_m"), {"month": str(m)})
            for (m,), part in months.group_by("_m", maintain_order=True)
        ]
        store.write_units(dataset, units, source="bench")
    stored = time.perf_counter() - t0 - generated
    return {
        "start": start.isoformat(),
        "generate_seconds": round(generated, 2),
        "store_seconds": round(stored, 2),
        "minute_summaries": _write_minute_summaries(store, market),
        "setup_peak_rss_mb": _peak_mb(),
    }


def _add_minute_summaries(stocks: int, years: int, home: Path) -> dict:
    """Runs in a fresh process (``--child-minute``): the minute summaries added to a kept store
    written before them (the market generated again, same seed)."""
    from gogooku.store.raw import RawStore
    from gogooku.synth.config import SynthConfig
    from gogooku.synth.market import generate_market

    start = date(END.year - years + 1, 1, 1)
    market = generate_market(SynthConfig(seed=7, stocks=stocks, start=start, end=END))
    return _write_minute_summaries(RawStore(home / "raw"), market)


def _write_minute_summaries(store, market) -> dict:
    """The minute add-on's window (the last ``MINUTE_YEARS`` years) of minute-bar summaries, as a
    fetch with the add-on stores them, rendered from the synthetic minute model month by month
    (``gogooku.synth.minute_summary``): the bars themselves are never built nor stored."""
    from gogooku.jquants.derived import MINUTE_SUMMARY
    from gogooku.store.raw import UnitWrite
    from gogooku.synth.minute_summary import minute_summaries

    t0, cpu0 = time.perf_counter(), _cpu_seconds()
    first = date(END.year - MINUTE_YEARS, END.month, END.day)
    daily = market.tables["equities_bars_daily"].filter(pl.col("Date") > first)
    rows = days = 0
    for (month,), part in daily.group_by(pl.col("Date").dt.strftime("%Y-%m"), maintain_order=True):
        summary = minute_summaries(part, market.config.seed)
        store.write_units(
            MINUTE_SUMMARY, [UnitWrite(str(month), summary, {"month": str(month)})], source="bench"
        )
        rows += summary.height
        days += summary["Date"].n_unique()
    return {
        "path": "rendered from the synthetic minute model (gogooku.synth.minute_summary), "
        "no minute bars stored",
        "first": first.isoformat(),
        "days": days,
        "rows": rows,
        "seconds": round(time.perf_counter() - t0, 2),
        "cpu_seconds": round(_cpu_seconds() - cpu0, 2),
    }


def _peak_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _run_child(*args: str) -> dict:
    """``python bench_build.py ARGS`` in a fresh process; its last stdout line as JSON."""
    child = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=False
    )
    if child.returncode != 0:
        raise RuntimeError(f"{args[:2]} failed:\n{child.stderr[-4000:]}")
    return json.loads(child.stdout.strip().splitlines()[-1])


def _child_build(home: str, start: str, name: str, chunk_stocks: str) -> None:
    """Runs in a fresh process: the build alone, then one JSON line with its figures."""
    os.environ["GOGOOKU_HOME"] = home
    from gogooku.dataset.build import build_dataset

    load_before = os.getloadavg()
    t0 = time.perf_counter()
    cpu0 = _cpu_seconds()
    result = build_dataset(
        name,
        date.fromisoformat(start),
        END,
        incremental=False,
        show_progress=False,
        chunk_stocks=int(chunk_stocks),
    )
    seconds = time.perf_counter() - t0
    cpu = _cpu_seconds() - cpu0
    meta = json.loads((result.path / "metadata.json").read_text())
    print(
        json.dumps(
            {
                "build_seconds": round(seconds, 2),
                "cpu_seconds": round(cpu, 2),
                "peak_rss_mb": _peak_mb(),
                "loadavg_1m_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
                "rows": result.rows,
                "stocks": result.stocks,
                "dates": result.dates,
                "features": meta["n_features"],
                "blocks": meta["blocks"],
                "skipped_blocks": meta["skipped_blocks"],
                "block_seconds": meta["block_seconds"],
                "stage_seconds": meta.get("stage_seconds"),
                "rows_per_second": round(result.rows / seconds),
                "rows_per_cpu_second": round(result.rows / cpu),
                "cache_mb": round(
                    sum(p.stat().st_size for p in (result.path / "cache").iterdir()) / 2**20, 1
                ),
                "chunk_stocks": meta["chunk_stocks"],
            }
        )
    )


def _child_extend(home: str, start: str, name: str, chunk_stocks: str) -> None:
    """Runs in a fresh process: ``name`` built to the last trading day before ``END``, then the
    timed incremental extension by that one day (what a daily update costs)."""
    os.environ["GOGOOKU_HOME"] = home
    from gogooku.dataset.build import build_dataset

    def build(end: date) -> object:
        return build_dataset(
            name,
            date.fromisoformat(start),
            end,
            incremental=True,
            show_progress=False,
            chunk_stocks=int(chunk_stocks),
        )

    first = build(END - timedelta(days=1))
    t0, cpu0, rss0 = time.perf_counter(), _cpu_seconds(), _peak_mb()
    result = build(END)
    print(
        json.dumps(
            {
                "from_end": first.end.isoformat(),
                "to_end": result.end.isoformat(),
                "incremental": result.incremental,
                "seconds": round(time.perf_counter() - t0, 2),
                "cpu_seconds": round(_cpu_seconds() - cpu0, 2),
                "peak_rss_mb_full_build": rss0,
                "peak_rss_mb_after_extension": _peak_mb(),
                "rows": result.rows,
            }
        )
    )


def _polars_features(base: pl.DataFrame) -> pl.DataFrame:
    c = pl.col("AdjC")
    logret = (c / c.shift(1)).log()
    return base.select(
        "Code",
        "Date",
        (c / c.shift(1).over("Code") - 1).alias("ret_1d"),
        (c / c.shift(5).over("Code") - 1).alias("ret_5d"),
        (c / c.shift(20).over("Code") - 1).alias("ret_20d"),
        (logret.rolling_std(20, min_samples=20) * ANNUAL).over("Code").alias("vol_20d"),
        (c / c.rolling_mean(5, min_samples=5).over("Code") - 1).alias("sma_gap_5d"),
        (c / c.rolling_mean(20, min_samples=20).over("Code") - 1).alias("sma_gap_20d"),
        (pl.col("AdjVo") / pl.col("AdjVo").rolling_mean(20, min_samples=20).over("Code")).alias(
            "vo_ratio_20d"
        ),
        ((pl.col("AdjH") - pl.col("AdjL")) / c)
        .rolling_mean(20, min_samples=20)
        .over("Code")
        .alias("range_20d"),
    )


def _pandas_features(df: pd.DataFrame) -> pd.DataFrame:
    out = df[["Code", "Date"]].copy()
    g = df.groupby("Code", sort=False)
    c = df["AdjC"]
    out["ret_1d"] = c / g["AdjC"].shift(1) - 1
    out["ret_5d"] = c / g["AdjC"].shift(5) - 1
    out["ret_20d"] = c / g["AdjC"].shift(20) - 1
    logret = np.log(c / g["AdjC"].shift(1))
    out["vol_20d"] = (
        logret.groupby(df["Code"], sort=False)
        .rolling(20, min_periods=20)
        .std()
        .reset_index(level=0, drop=True)
        * ANNUAL
    )
    for n in (5, 20):
        sma = g["AdjC"].rolling(n, min_periods=n).mean().reset_index(level=0, drop=True)
        out[f"sma_gap_{n}d"] = c / sma - 1
    vo_sma = g["AdjVo"].rolling(20, min_periods=20).mean().reset_index(level=0, drop=True)
    out["vo_ratio_20d"] = df["AdjVo"] / vo_sma
    rng = (df["AdjH"] - df["AdjL"]) / c
    out["range_20d"] = (
        rng.groupby(df["Code"], sort=False)
        .rolling(20, min_periods=20)
        .mean()
        .reset_index(level=0, drop=True)
    )
    return out


def _compare_engines(home: Path, start: date) -> dict:
    from gogooku.calendar import TradingCalendar
    from gogooku.dataset.base import build_base
    from gogooku.store.raw import RawStore

    store = RawStore(home / "raw")
    cal = TradingCalendar.load(store)
    base = build_base(store, cal, start, END)
    t0 = time.perf_counter()
    pl_out = _polars_features(base)
    t_polars = time.perf_counter() - t0
    pdf = base.select("Code", "Date", "AdjC", "AdjH", "AdjL", "AdjVo").to_pandas()
    t0 = time.perf_counter()
    pd_out = _pandas_features(pdf)
    t_pandas = time.perf_counter() - t0
    cols = [c for c in pl_out.columns if c not in ("Code", "Date")]
    a = pl_out.select(cols).to_numpy()
    b = pd_out[cols].to_numpy(dtype=float)
    both = ~np.isnan(a) & ~np.isnan(b)
    return {
        "features": cols,
        "rows": base.height,
        "polars_seconds": round(t_polars, 3),
        "pandas_seconds": round(t_pandas, 3),
        "pandas_over_polars": round(t_pandas / t_polars, 1),
        "max_abs_diff": float(np.max(np.abs(a[both] - b[both]))) if both.any() else None,
        "same_nulls": bool((np.isnan(a) == np.isnan(b)).all()),
    }


def _setup(home: Path, stocks: int, years: int) -> dict:
    """The raw store in ``home``: reused when ``setup.json`` says it is complete, else written."""
    marker = home / "setup.json"
    if marker.exists():
        setup = json.loads(marker.read_text())
        if "minute_summaries" not in setup:  # a store kept from before the minute summaries
            setup["minute_summaries"] = _run_child(
                "--child-minute", str(home), str(stocks), str(years)
            )
            marker.write_text(json.dumps(setup))
        return {**setup, "store_reused": True}
    if (home / "raw").exists():
        shutil.rmtree(home / "raw")
    setup = _run_child("--child-store", str(home), str(stocks), str(years))
    marker.write_text(json.dumps(setup))
    return setup


def _remove_datasets(home: Path) -> None:
    """Datasets of an earlier run in a kept home, so every build is a full one."""
    datasets = home / "datasets"
    if datasets.exists():
        shutil.rmtree(datasets)


def run(
    sizes: list[tuple[int, int]],
    chunk_stocks: int,
    incremental: bool,
    keep: Path | None,
) -> dict:
    results = []
    for stocks, years in sizes:
        with tempfile.TemporaryDirectory(prefix="gogooku_bench_") as tmp:
            home = Path(tmp) if keep is None else keep / f"{stocks}x{years}"
            home.mkdir(parents=True, exist_ok=True)
            setup = _setup(home, stocks, years)
            _remove_datasets(home)
            build = _run_child("--child", str(home), setup["start"], "bench", str(chunk_stocks))
            extra = {}
            if incremental:
                extra["incremental_one_day"] = _run_child(
                    "--child-extend", str(home), setup["start"], "bench_inc", str(chunk_stocks)
                )
            engines = _compare_engines(home, date.fromisoformat(setup["start"]))
            results.append(
                {
                    "stocks": stocks,
                    "years": years,
                    **setup,
                    "build": build,
                    **extra,
                    "price_features": engines,
                }
            )
    return {
        "benchmark": "build",
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "results": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="also run 4000 stocks x 10 years")
    parser.add_argument(
        "--sizes", help="comma-separated STOCKSxYEARS, e.g. 1000x5 (replaces the default)"
    )
    parser.add_argument(
        "--chunk-stocks",
        type=int,
        default=DEFAULT_CHUNK_STOCKS,
        help=f"stocks per build chunk (default {DEFAULT_CHUNK_STOCKS})",
    )
    parser.add_argument(
        "--child",
        nargs=4,
        metavar=("HOME", "START", "NAME", "CHUNK"),
        help=argparse.SUPPRESS,
    )
    parser.add_argument(
        "--incremental",
        action="store_true",
        help="also time a one-day incremental extension of a dataset built to the day before",
    )
    parser.add_argument(
        "--child-extend",
        nargs=4,
        metavar=("HOME", "START", "NAME", "CHUNK"),
        help=argparse.SUPPRESS,
    )
    parser.add_argument(
        "--child-store", nargs=3, metavar=("HOME", "STOCKS", "YEARS"), help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--child-minute", nargs=3, metavar=("HOME", "STOCKS", "YEARS"), help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--home",
        type=Path,
        help="keep each size's raw store in HOME/STOCKSxYEARS and reuse it on a rerun",
    )
    args = parser.parse_args()
    if args.child_store:
        home, stocks, years = args.child_store
        print(json.dumps(_write_store(int(stocks), int(years), Path(home))))
        return
    if args.child_minute:
        home, stocks, years = args.child_minute
        print(json.dumps(_add_minute_summaries(int(stocks), int(years), Path(home))))
        return
    if args.child:
        _child_build(*args.child)
        return
    if args.child_extend:
        _child_extend(*args.child_extend)
        return
    sizes = SIZES
    if args.sizes:
        sizes = [(int(a), int(b)) for a, b in (s.split("x") for s in args.sizes.split(","))]
    if args.full:
        sizes = [*sizes, FULL_SIZE]
    print(json.dumps(run(sizes, args.chunk_stocks, args.incremental, args.home), indent=2))


if __name__ == "__main__":
    main()
