"""Benchmark of the minute bars' daily summary: its cost at fetch time and the ``mb`` block with it.

1. ``fetch``: one synthetic day of ``--day-stocks`` stocks whose volumes are raised so that nearly
   every minute trades (~300 bars a stock, as a liquid J-Quants day): the summary alone
   (``summarise_minute_bars``: CPU seconds and minute rows reduced per CPU second), and the unit
   write of that day into a raw store with and without the summary (``write_units``; the
   derived dataset switched off for the "without" runs), alternating, ``--repeats`` each: the
   extra CPU seconds per stored day.
2. ``block``: a raw store of ``--stocks`` × ``--years`` (the synthetic market, seed 7) holding the
   minute bars of its last ``--minute-days`` trading days (default 490, the add-on's two years;
   rendered from the minute model and written through ``write_units``, so the summaries too); then ``build --blocks mb`` in a fresh child with the old
   code (``--old-src``, which reduces every bar) and with this code (which reads the summary),
   alternating, ``--repeats`` each: the block's seconds (``metadata.json``) and the child's CPU
   seconds. ``--home DIR`` keeps the store for a rerun.

Usage: ``python bench/bench_minute.py --old-src /work/main/src [--stocks 1000 --years 5]``. Prints
one JSON document on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import polars as pl

END = date(2024, 12, 30)
MINUTE_DAYS = 490  # the add-on's 2 years of trading days
NEW_SRC = Path(__file__).resolve().parents[1] / "src"


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _liquid_day(stocks: int) -> pl.DataFrame:
    """One day of minute bars of ``stocks`` synthetic stocks with ~300 bars each."""
    from gogooku.synth.config import SynthConfig
    from gogooku.synth.market import generate_market
    from gogooku.synth.minute import minute_bars

    config = SynthConfig(seed=7, stocks=stocks, start=date(2024, 12, 2), end=date(2024, 12, 6))
    daily = generate_market(config, side_tables=False).tables["equities_bars_daily"]
    last = daily.filter(pl.col("Date") == daily["Date"].max(), pl.col("Vo") > 0)
    # λ = Vo / 500 trades a day reaches its cap of 3000 at 1.5 M shares: every minute trades
    liquid = last.with_columns((pl.col("Vo") * 100).alias("Vo"), (pl.col("Va") * 100).alias("Va"))
    return minute_bars(liquid, config.seed)


def fetch_cost(stocks: int, repeats: int) -> dict:
    import gogooku.store.raw as raw
    from gogooku.jquants.derived import MINUTE_BARS, summarise_minute_bars
    from gogooku.store.raw import RawStore, UnitWrite

    bars = _liquid_day(stocks)
    day = bars["Date"][0]
    cpu0 = _cpu()
    for _ in range(repeats):
        summarise_minute_bars(bars)
    summary_cpu = (_cpu() - cpu0) / repeats
    writes: dict[str, list[float]] = {"with_summary": [], "without_summary": []}
    with tempfile.TemporaryDirectory(prefix="gogooku_bench_minute_") as tmp:
        for i in range(repeats):
            for label in ("without_summary", "with_summary"):
                original = raw.derived_of
                if label == "without_summary":
                    raw.derived_of = lambda dataset: ()
                store = RawStore(Path(tmp) / f"{label}{i}")
                unit = UnitWrite(str(day), bars, {"date": str(day)}, day, day)
                cpu0 = _cpu()
                store.write_units(MINUTE_BARS, [unit])
                writes[label].append(_cpu() - cpu0)
                raw.derived_of = original
    mean = {k: sum(v) / len(v) for k, v in writes.items()}
    return {
        "stocks": bars["Code"].n_unique(),
        "minute_rows": bars.height,
        "bars_per_stock": round(bars.height / bars["Code"].n_unique(), 1),
        "summary_cpu_seconds": round(summary_cpu, 3),
        "summary_rows_per_cpu_second": round(bars.height / summary_cpu),
        "write_cpu_seconds": {k: [round(x, 3) for x in v] for k, v in writes.items()},
        "extra_write_cpu_seconds_per_day": round(mean["with_summary"] - mean["without_summary"], 3),
    }


def _write_store(home: Path, stocks: int, years: int, minute_days: int) -> dict:
    from gogooku.jquants.derived import MINUTE_BARS
    from gogooku.store.raw import RawStore, UnitWrite
    from gogooku.synth.config import SynthConfig
    from gogooku.synth.market import generate_market
    from gogooku.synth.minute import minute_bars

    start = date(END.year - years + 1, 1, 1)
    t0 = time.perf_counter()
    market = generate_market(SynthConfig(seed=7, stocks=stocks, start=start, end=END))
    store = RawStore(home / "raw")
    for dataset, frame in market.tables.items():
        if frame.is_empty():
            continue
        field = RawStore.date_field(dataset)
        months = frame.with_columns(pl.col(field).dt.strftime("%Y-%m").alias("_m"))
        units = [
            UnitWrite(str(m), part.drop("_m"), {"month": str(m)})
            for (m,), part in months.group_by("_m", maintain_order=True)
        ]
        store.write_units(dataset, units, source="bench")
    days = market.tables["equities_bars_daily"]["Date"].unique().sort()
    first = days[-minute_days] if minute_days < days.len() else days[0]
    daily = market.tables["equities_bars_daily"].filter(pl.col("Date") >= first)
    rows = 0
    for _, month in daily.group_by(pl.col("Date").dt.strftime("%Y-%m"), maintain_order=True):
        bars = minute_bars(month, market.config.seed)
        units = [
            UnitWrite(str(d), part, {"date": str(d)}, d, d)
            for (d,), part in bars.partition_by("Date", as_dict=True, maintain_order=True).items()
        ]
        store.write_units(MINUTE_BARS, units, source="bench")
        rows += bars.height
    return {
        "start": start.isoformat(),
        "minute_from": first.isoformat(),
        "minute_rows": rows,
        "setup_seconds": round(time.perf_counter() - t0, 1),
    }


_BUILD = """
import json, os, resource, sys
from datetime import date
from gogooku.dataset.build import build_dataset
r = build_dataset(sys.argv[1], date.fromisoformat(sys.argv[2]), date.fromisoformat(sys.argv[3]),
                  blocks=["mb"], incremental=False, show_progress=False)
meta = json.loads((r.path / "metadata.json").read_text())
u = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"mb_seconds": meta["block_seconds"].get("mb"),
                  "skipped": meta["skipped_blocks"], "cpu_seconds": round(u.ru_utime + u.ru_stime, 2),
                  "peak_rss_mb": round(u.ru_maxrss / 1024, 1), "rows": r.rows}))
"""


def _build(src: Path, home: Path, name: str, start: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src), "GOGOOKU_HOME": str(home)}
    child = subprocess.run(
        [sys.executable, "-c", _BUILD, name, start, END.isoformat()],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if child.returncode != 0:
        raise RuntimeError(f"build with {src} failed:\n{child.stderr[-3000:]}")
    return json.loads(child.stdout.strip().splitlines()[-1])


def block_ab(
    home: Path, stocks: int, years: int, minute_days: int, old_src: Path, repeats: int
) -> dict:
    marker = home / "setup.json"
    if marker.exists():
        setup = {**json.loads(marker.read_text()), "store_reused": True}
    else:
        setup = _write_store(home, stocks, years, minute_days)
        marker.write_text(json.dumps(setup))
    runs: dict[str, list[dict]] = {"old": [], "new": []}
    for i in range(repeats):
        for label, src in (("old", old_src), ("new", NEW_SRC)):
            runs[label].append(_build(src, home, f"mb_{label}_{i}", setup["start"]))
    return {"stocks": stocks, "years": years, **setup, "runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old-src", type=Path, required=True, help="src/ of the code before")
    parser.add_argument("--stocks", type=int, default=1000)
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument(
        "--minute-days",
        type=int,
        default=MINUTE_DAYS,
        help="last trading days with minute bars in the block store (default: the add-on's 2 y)",
    )
    parser.add_argument("--day-stocks", type=int, default=4000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--home", type=Path, help="keep the block store here (reused)")
    parser.add_argument("--skip-block", action="store_true", help="only the fetch-time part")
    args = parser.parse_args()
    out = {
        "benchmark": "minute_summary",
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "fetch": fetch_cost(args.day_stocks, args.repeats),
    }
    print(json.dumps(out["fetch"]), file=sys.stderr, flush=True)
    if not args.skip_block:
        with tempfile.TemporaryDirectory(prefix="gogooku_bench_minute_") as tmp:
            home = args.home or Path(tmp)
            home.mkdir(parents=True, exist_ok=True)
            out["block"] = block_ab(
                home, args.stocks, args.years, args.minute_days, args.old_src, args.repeats
            )
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
