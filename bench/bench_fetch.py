"""Benchmark of ``gogooku fetch --source synthetic``: generation, then the full in-process fetch.

Each size runs in a fresh child process with a temporary ``GOGOOKU_HOME``, doing what the CLI does:

* ``generate``: ``generate_market`` with every side table;
* ``fetch``: ``fetch_synthetic_market`` — the real ``JQuantsClient`` against the V2 app through
  the ASGI transport (pagination, JSON, parsing), unit by unit into the raw store, plus the oracle;
* ``rerun``: ``synthetic_up_to_date`` on the filled store (what a repeated command does instead
  of generating: it must say True, so zero requests);
* ``baseline``: the same tables and oracle written straight to one Parquet file each — the floor
  for getting the generated rows to disk, without HTTP, JSON, units or a catalog.

``peak_rss_mb`` is the child's ``ru_maxrss`` after each step (monotonic: the figure after ``fetch``
is the peak of generation and fetch together). Wall seconds depend on what else runs on the machine;
``cpu_seconds`` is the steadier figure; ``load_average_1m`` (min/mean/max of the machine's 1-minute
load average, sampled every 10 s while the size runs) says how busy the machine was.
Usage: ``python bench/bench_fetch.py`` (300 × 3 y), ``--size 1000x5`` for other sizes, ``--full``
adds 4000 × 10 y (long: about 10 GB of memory, the generator's peak). Prints one JSON document.
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
import threading
import time
from datetime import date
from pathlib import Path

DEFAULT_SIZES = [(300, 3)]
FULL_SIZE = (4000, 10)
END = date(2024, 12, 30)
LOAD_SAMPLE_S = 10.0


def _peak_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


def _tree_mb(root: Path) -> float:
    return round(sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / 2**20, 1)


class _Step:
    """Wall and CPU seconds of a ``with`` block, and the peak RSS at its end."""

    def __enter__(self) -> _Step:
        self.t0, self.cpu0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.figures = {
            "seconds": round(time.perf_counter() - self.t0, 2),
            "cpu_seconds": round(time.process_time() - self.cpu0, 2),
            "peak_rss_mb": _peak_mb(),
        }


def _child(stocks: int, years: int, home: Path, market_version: int) -> dict:
    os.environ["GOGOOKU_HOME"] = str(home)
    import polars as pl

    from gogooku.settings import Plan, get_settings
    from gogooku.store.raw import RawStore
    from gogooku.store.synthetic import (
        fetch_synthetic_market,
        synthetic_label,
        synthetic_up_to_date,
    )
    from gogooku.synth.config import SynthConfig
    from gogooku.synth.market import generate_market

    start = date(END.year - years + 1, 1, 1)
    config = SynthConfig(seed=7, stocks=stocks, start=start, end=END, market_version=market_version)
    out: dict = {"imports_peak_rss_mb": _peak_mb()}
    with _Step() as step:
        market = generate_market(config)
    out["generate"] = {**step.figures, "rows": sum(t.height for t in market.tables.values())}

    store = RawStore(get_settings().raw_dir)
    with _Step() as step:
        report, oracle = fetch_synthetic_market(store, market, plan=Plan.PREMIUM, progress=False)
    out["fetch"] = {
        **step.figures,
        "requests": report.requests,
        "units": sum(r.fetched for r in report.results.values()),
        "rows": sum(r.rows for r in report.results.values()),
        "oracle_rows": sum(r.rows or 0 for r in oracle),
        "store_mb": _tree_mb(store.root),
    }

    label = synthetic_label(config.seed, config.stocks, config.start, config.market_version)
    with _Step() as step:
        up_to_date = synthetic_up_to_date(
            store, config.start, config.end, None, Plan.PREMIUM, label
        )
    out["rerun"] = {**step.figures, "up_to_date": up_to_date}

    dump = home / "baseline"
    dump.mkdir()
    with _Step() as step:
        for name, table in [*market.tables.items(), ("synthetic_oracle", market.oracle)]:
            table.write_parquet(dump / f"{name}.parquet", compression="zstd")
    out["baseline"] = {**step.figures, "store_mb": _tree_mb(dump)}
    out["fetch_over_baseline_cpu"] = round(
        out["fetch"]["cpu_seconds"] / max(out["baseline"]["cpu_seconds"], 1e-3), 1
    )
    out["stored_rows_match_generated"] = (
        out["fetch"]["rows"]
        == sum(store.scan(d).select(pl.len()).collect().item() for d in store.catalog.datasets())
        - out["fetch"]["oracle_rows"]
    )
    return out


def _load_summary(samples: list[float]) -> dict:
    return {
        "samples": len(samples),
        "min": round(min(samples), 2),
        "mean": round(sum(samples) / len(samples), 2),
        "max": round(max(samples), 2),
    }


def _measure(stocks: int, years: int, market_version: int) -> dict:
    """Run one size in a child process, sampling the machine's 1-minute load average meanwhile."""
    samples = [os.getloadavg()[0]]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(LOAD_SAMPLE_S):
            samples.append(os.getloadavg()[0])

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    with tempfile.TemporaryDirectory(prefix="gogooku-bench-") as home:
        proc = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                str(stocks),
                str(years),
                home,
                "--market-version",
                str(market_version),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    done.set()
    sampler.join()
    samples.append(os.getloadavg()[0])
    if proc.returncode != 0:
        raise RuntimeError(f"{stocks}x{years}y failed:\n{proc.stderr[-2000:]}")
    return {
        **json.loads(proc.stdout.strip().splitlines()[-1]),
        "load_average_1m": _load_summary(samples),
    }


def _size(text: str) -> tuple[int, int]:
    stocks, _, years = text.partition("x")
    return int(stocks), int(years)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="add 4000 stocks x 10 years")
    parser.add_argument(
        "--size", type=_size, action="append", metavar="STOCKSxYEARS", help="e.g. 1000x5"
    )
    parser.add_argument("--market-version", type=int, default=2, choices=(1, 2))
    parser.add_argument("--child", nargs=3, metavar=("STOCKS", "YEARS", "HOME"), help="internal")
    args = parser.parse_args()
    if args.child:
        stocks, years, home = args.child
        print(json.dumps(_child(int(stocks), int(years), Path(home), args.market_version)))
        return
    sizes = args.size or list(DEFAULT_SIZES)
    if args.full:
        sizes.append(FULL_SIZE)
    results = [{"stocks": s, "years": y, **_measure(s, y, args.market_version)} for s, y in sizes]
    report = {
        "benchmark": "synth_fetch",
        "market_version": args.market_version,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "results": results,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
