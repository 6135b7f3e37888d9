"""Benchmark of the synthetic market generator: wall time and peak RSS per universe size.

Each measurement runs in a fresh child process so that its peak RSS (``ru_maxrss``) is its own:

* ``core``: ``generate_market(config, side_tables=False)`` — prices, TOPIX, master, oracle (the
  latents and their return contributions are simulated; the side tables are not rendered);
* ``full``: ``generate_market(config)`` with every side table;
* ``baseline``: a naive per-day, per-stock Python loop that draws iid normal returns, builds OHLC
  rows as dicts and makes one Polars frame — the obvious way to write a price simulator, with
  none of the structure, to put the figures in context.

Wall seconds depend on what else runs on the machine; ``cpu_seconds`` (process time) is the
steadier figure. Usage: ``python bench/bench_synth.py`` (300 × 3 y and 1000 × 5 y) or ``--full`` (adds 4000 × 10 y,
core and full only: the baseline at that size alone would take minutes); ``--market-version 1``
measures the linear market (default 2), ``--size 300x4`` one size only. Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from datetime import date, timedelta

SIZES = [(300, 3), (1000, 5)]
FULL_SIZE = (4000, 10)
END = date(2024, 12, 30)


def _config(stocks: int, years: int, market_version: int = 2):
    from gogooku.synth.config import SynthConfig

    start = date(END.year - years + 1, 1, 1)
    return SynthConfig(seed=7, stocks=stocks, start=start, end=END, market_version=market_version)


def _baseline(stocks: int, years: int) -> dict:
    """Per-day Python loop over stocks: iid N(0, 2 %) returns, OHLC dict rows, one frame."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(7)
    config = _config(stocks, years)
    day, rows = config.start, []
    price = [1000.0] * stocks
    while day <= config.end:
        if day.weekday() < 5:
            for i in range(stocks):
                r = rng.normal(0.0, 0.02)
                new = price[i] * (1.0 + r)
                rows.append(
                    {
                        "Date": day,
                        "Code": f"{1301 + i}0",
                        "O": price[i],
                        "H": max(price[i], new),
                        "L": min(price[i], new),
                        "C": new,
                    }
                )
                price[i] = new
        day += timedelta(days=1)
    return {"rows": pl.DataFrame(rows).height}


def _child(mode: str, stocks: int, years: int, market_version: int) -> None:
    import numpy  # noqa: F401  (imports are not part of the measured time)
    import polars  # noqa: F401

    from gogooku.synth.market import generate_market

    t0 = time.perf_counter()
    cpu0 = time.process_time()
    if mode == "baseline":
        info = _baseline(stocks, years)
    else:
        config = _config(stocks, years, market_version)
        market = generate_market(config, side_tables=(mode == "full"))
        info = {
            "bars_rows": market.tables["equities_bars_daily"].height,
            "tables": len(market.tables),
            "trading_days": len(market.state.days),
            "universe": market.state.universe.height,
        }
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(
        json.dumps(
            {
                "seconds": round(seconds, 2),
                "cpu_seconds": round(cpu, 2),
                "peak_rss_mb": round(peak_mb, 1),
                **info,
            }
        )
    )


def _measure(mode: str, stocks: int, years: int, market_version: int) -> dict:
    proc = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            mode,
            str(stocks),
            str(years),
            "--market-version",
            str(market_version),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{mode} {stocks}x{years}y failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="add 4000 stocks x 10 years")
    parser.add_argument("--market-version", type=int, default=2, choices=(1, 2))
    parser.add_argument("--size", help="STOCKSxYEARS: this size only (e.g. 300x4)")
    parser.add_argument("--child", nargs=3, metavar=("MODE", "STOCKS", "YEARS"), help="internal")
    args = parser.parse_args()
    if args.child:
        mode, stocks, years = args.child
        _child(mode, int(stocks), int(years), args.market_version)
        return
    results = []
    sizes = [*SIZES, FULL_SIZE] if args.full else SIZES
    if args.size:
        stocks, years = args.size.split("x")
        sizes = [(int(stocks), int(years))]
    for stocks, years in sizes:
        entry = {"stocks": stocks, "years": years}
        modes = ("core", "full") if (stocks, years) == FULL_SIZE else ("core", "full", "baseline")
        for mode in modes:
            entry[mode] = _measure(mode, stocks, years, args.market_version)
        if "baseline" in entry:
            entry["core_cpu_ratio_vs_baseline"] = round(
                entry["core"]["cpu_seconds"] / entry["baseline"]["cpu_seconds"], 2
            )
        results.append(entry)
    report = {
        "benchmark": "synth_generate_market",
        "market_version": args.market_version,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "results": results,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
