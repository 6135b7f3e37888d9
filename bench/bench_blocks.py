"""Per-block CPU seconds of the build's compute-heavy blocks, for paired A/B runs of two versions.

Reads a raw store written by ``bench_build.py --home DIR`` (``DIR/STOCKSxYEARS`` with ``raw/``
and ``setup.json``), prepares what a full build prepares (calendar with the warm-up of every
registered block, the point-in-time view of the store, the base frame up to the label horizon)
and runs each requested block as the builder does: a cross-sectional block (or one with
``compute_artifacts``) once on the whole base frame, every other block chunk by chunk on
``--chunk-stocks`` codes. Each block is timed in CPU seconds of the process (``process_time``:
every thread, Polars' and torch's included) and wall seconds, summed over its chunks; with
``--repeat N`` the blocks run N times in turn (A B C A B C …) and the JSON keeps every run's
figures and their minimum. The version is whichever ``gogooku`` is first on ``PYTHONPATH``, so
an A/B alternates ``PYTHONPATH=old/src`` and ``PYTHONPATH=src`` runs of this script.

``--save DIR`` writes each block's output (``Code``, ``Date`` and its features, rows in base
order, one Parquet per block) so two versions' values can be compared with ``--compare A B``
(largest absolute and relative difference per column, null patterns, dtypes).

Usage: ``python bench/bench_blocks.py --home /tmp/bench-graph/1000x5 --blocks graph,returns``;
without ``--home`` (``make bench``) it first writes a small store (``--stocks`` 200 × ``--years``
2, seed 7, as ``bench_build.py`` writes its stores) in a temporary folder. There is no baseline
inside one run: the baseline is the other version's run (docs/benchmarks.md, "Build blocks").
Prints one JSON document on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

END = date(2024, 12, 30)  # bench_build.py's END
DEFAULT_BLOCKS = (
    "graph",
    "breakdown",
    "technicals",
    "sector",
    "am",
    "volatility",
    "own",
    "returns",
)


def _write_store(home: Path, stocks: int, years: int) -> None:
    """A synthetic raw store in ``home`` as ``bench_build.py --home`` leaves it (every dataset in
    month units, the bars with the Premium session fields) and its ``setup.json``."""
    from gogooku.store.raw import RawStore, UnitWrite
    from gogooku.synth.config import SynthConfig
    from gogooku.synth.market import generate_market

    start = date(END.year - years + 1, 1, 1)
    market = generate_market(SynthConfig(seed=7, stocks=stocks, start=start, end=END))
    store = RawStore(home / "raw")
    for dataset, frame in market.tables.items():
        if frame.is_empty():
            continue
        if dataset in market.premium_renderers:
            frame = market.premium_renderers[dataset](frame)
        months = frame.with_columns(
            pl.col(RawStore.date_field(dataset)).dt.strftime("%Y-%m").alias("_m")
        )
        units = [
            UnitWrite(str(m), part.drop("_m"), {"month": str(m)})
            for (m,), part in months.group_by("_m", maintain_order=True)
        ]
        store.write_units(dataset, units, source="bench")
    (home / "setup.json").write_text(json.dumps({"start": start.isoformat()}))


def _context(home: Path):
    """(block registry, base frame sorted by Code and Date, first panel day, calendar, store)."""
    os.environ["GOGOOKU_HOME"] = str(home)
    from gogooku.dataset.base import build_base
    from gogooku.dataset.labels import LABEL_LOOKAHEAD
    from gogooku.dataset.plan import load_calendar, plan_warmup, registered_blocks
    from gogooku.dataset.point_in_time import build_view
    from gogooku.store.raw import RawStore

    start = date.fromisoformat(json.loads((home / "setup.json").read_text())["start"])
    registry = registered_blocks()
    warmup = plan_warmup(list(registry.values()), None)
    raw = RawStore(home / "raw")
    calendar = load_calendar(raw, start, END, warmup)
    store = build_view(raw, calendar, False)
    first = calendar.days(start, END)[0]
    base = build_base(
        store,
        calendar,
        calendar.offset_clipped(first, -warmup),
        calendar.offset_clipped(END, LABEL_LOOKAHEAD),
    )
    base = base.filter(pl.col("Date") <= END).sort("Code", "Date")
    return registry, base, first, calendar, store


def _run(block, ctx) -> pl.DataFrame:
    artifacts = getattr(block, "compute_artifacts", None)
    if artifacts is not None:
        return artifacts(ctx)[0].collect()
    return block.compute(ctx).collect()


def _time_block(block, base, calendar, store, chunk_stocks: int) -> tuple[dict, pl.DataFrame]:
    from gogooku.dataset.asof import asof_join
    from gogooku.dataset.compute import runs_on_whole_frame
    from gogooku.features.base import BlockContext

    def context(frame: pl.DataFrame) -> BlockContext:
        return BlockContext(base=frame.lazy(), calendar=calendar, store=store, asof_join=asof_join)

    if runs_on_whole_frame(block):
        parts = [base]
    else:
        codes = base["Code"].unique(maintain_order=True)
        parts = [
            base.filter(pl.col("Code").is_in(codes.slice(i, chunk_stocks).implode()))
            for i in range(0, codes.len(), chunk_stocks)
        ]
    cpu = wall = 0.0
    outs = []
    for part in parts:
        ctx = context(part)
        c0, w0 = time.process_time(), time.perf_counter()
        outs.append(_run(block, ctx))
        cpu += time.process_time() - c0
        wall += time.perf_counter() - w0
    return {"cpu_seconds": round(cpu, 3), "wall_seconds": round(wall, 3)}, pl.concat(outs)


def run(home: Path, names: list[str], repeat: int, chunk_stocks: int, save: Path | None) -> dict:
    import gogooku

    registry, base, first, calendar, store = _context(home)
    runs: dict[str, list[dict]] = {n: [] for n in names}
    for _ in range(repeat):
        for name in names:
            figures, out = _time_block(registry[name], base, calendar, store, chunk_stocks)
            runs[name].append(figures)
            if save is not None:
                save.mkdir(parents=True, exist_ok=True)
                out.filter(pl.col("Date") >= first).write_parquet(save / f"{name}.parquet")
            del out
    return {
        "benchmark": "blocks",
        "code": str(Path(gogooku.__file__).parent),
        "home": str(home),
        "base_rows": base.height,
        "stocks": base["Code"].n_unique(),
        "chunk_stocks": chunk_stocks,
        "polars_threads": pl.thread_pool_size(),
        "blocks": {
            n: {
                "cpu_seconds_min": min(r["cpu_seconds"] for r in rs),
                "wall_seconds_min": min(r["wall_seconds"] for r in rs),
                "runs": rs,
            }
            for n, rs in runs.items()
        },
        "cpu_seconds_sum_of_min": round(
            sum(min(r["cpu_seconds"] for r in rs) for rs in runs.values()), 3
        ),
    }


def _column_diff(a: pl.Series, b: pl.Series) -> dict:
    same_nulls = bool((a.is_null() == b.is_null()).all())
    out: dict = {"dtype": [str(a.dtype), str(b.dtype)], "same_nulls": same_nulls}
    if a.dtype.is_float() and b.dtype.is_float():
        x, y = a.cast(pl.Float64).to_numpy(), b.cast(pl.Float64).to_numpy()
        both = ~np.isnan(x) & ~np.isnan(y)
        diff = np.abs(x[both] - y[both])
        scale = np.maximum(np.abs(x[both]), np.abs(y[both]))
        out["max_abs_diff"] = float(diff.max(initial=0.0))
        with np.errstate(invalid="ignore", divide="ignore"):
            rel = np.where(scale > 0, diff / scale, 0.0)
        out["max_rel_diff"] = float(rel.max(initial=0.0))
    else:
        out["equal"] = bool(a.equals(b, check_names=False))
    return out


def compare(a: Path, b: Path) -> dict:
    """Per block and column: dtypes, null patterns and the largest differences of A and B."""
    result = {}
    for file in sorted(a.glob("*.parquet")):
        left, right = pl.read_parquet(file), pl.read_parquet(b / file.name)
        if left.columns != right.columns or left.height != right.height:
            result[file.stem] = {"columns_or_rows_differ": True}
            continue
        result[file.stem] = {c: _column_diff(left[c], right[c]) for c in left.columns}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="DIR/STOCKSxYEARS of bench_build.py --home DIR")
    parser.add_argument("--stocks", type=int, default=200, help="store size without --home (200)")
    parser.add_argument("--years", type=int, default=2, help="store years without --home (2)")
    parser.add_argument("--blocks", default=",".join(DEFAULT_BLOCKS), help="comma-separated names")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each block (default 1)")
    parser.add_argument("--chunk-stocks", type=int, default=400, help="codes per chunk (400)")
    parser.add_argument("--save", type=Path, help="write each block's output to DIR/BLOCK.parquet")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("A", "B"), help="compare saves")
    args = parser.parse_args()
    if args.compare:
        print(json.dumps(compare(*args.compare), indent=2))
        return
    names = [n for n in args.blocks.split(",") if n]
    if args.home is not None:
        result = run(args.home, names, args.repeat, args.chunk_stocks, args.save)
    else:
        with tempfile.TemporaryDirectory(prefix="gogooku_bench_blocks_") as tmp:
            _write_store(Path(tmp), args.stocks, args.years)
            result = run(Path(tmp), names, args.repeat, args.chunk_stocks, args.save)
            result["home"] = f"temporary store, {args.stocks} stocks x {args.years} years"
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
