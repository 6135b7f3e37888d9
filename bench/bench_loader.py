"""Benchmark: day-batch loader over the dense cache vs a per-sample Dataset over panel rows.

    python bench/bench_loader.py [--days 80] [--stocks 4000] [--features 300] [--window 60]
                                 [--method robust_z|rank_gauss] [--batch-days K]
                                 [--baseline-samples 300] [--device cpu|cuda] [--out FILE]

Prints JSON. The data is a synthetic random panel of the requested shape (``Code``, ``Date`` and
F Float32 features with 2 % nulls, 4 targets), written as ``panel.parquet`` with
``features.json``, then turned into the cache by ``write_cache`` — the numbers are about data
movement, not about the values. A sample is one (stock, day) window of L × F features plus its
targets. Measured, each in a forked child (so every phase's peak RSS is its own):

- ``write_cache``: seconds for the panel → cache conversion;
- ``loader_raw``: ``DayBatchLoader`` (one day per batch, every stock, shuffled) without
  normalisation (``normalize="off"``), two epochs; samples/s = stocks × days / seconds;
- ``loader_cached``: the same with ``--method`` normalisation from the precomputed array
  (``normalize="cached"``); ``setup_s`` is the one-off normalisation of every cached date;
- ``loader_batch`` (``--batch-days`` > 0; the default on CUDA only): normalisation of each
  batch's (L, N, F) windows on ``--device`` (``normalize="batch"``; on a CPU this re-normalises
  every date L times — tens of seconds per day at this shape);
- ``baseline_in_memory``: a ``torch.utils.data.Dataset`` whose ``__getitem__`` filters the
  panel (read from ``panel.parquet`` once, not timed) to the stock's rows of the window and
  returns (L, F) and the targets, batched by a ``DataLoader`` (batch 256, ``num_workers=0``);
- ``baseline_parquet``: the same Dataset reading ``panel.parquet`` for every sample (fewer samples).

Ratios: each loader's samples/s over each baseline's (the baselines do not normalise). Peak RSS counts the page cache pages of
the memory-mapped files the process touched (they are shared, not allocated).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import torch

from gogooku.config import LoaderConfig, NormalizationConfig
from gogooku.dataset.cache import open_cache
from gogooku.dataset.cache_writer import write_cache
from gogooku.dataset.loader import DayBatchLoader
from panel import TARGETS, make_panel


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


class PanelWindows(torch.utils.data.Dataset):
    """Per-sample baseline: each item filters the panel to one stock's window and stacks it."""

    def __init__(self, source, samples: list[tuple[str, date, date]], features, from_file: bool):
        self.source, self.samples, self.features = source, samples, features
        self.from_file = from_file

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int):
        code, lo, hi = self.samples[i]
        frame = pl.scan_parquet(self.source) if self.from_file else self.source.lazy()
        rows = (
            frame.filter((pl.col("Code") == code) & pl.col("Date").is_between(lo, hi))
            .sort("Date")
            .select(*self.features, *TARGETS)
            .collect()
        )
        x = torch.from_numpy(rows.select(self.features).to_numpy().astype(np.float32))
        y = torch.from_numpy(rows.select(TARGETS).to_numpy()[-1].astype(np.float32))
        return x, y


def _samples(panel_path: Path, window: int, count: int, seed: int) -> list[tuple[str, date, date]]:
    keys = pl.scan_parquet(panel_path).select("Code", "Date")
    dates = keys.select(pl.col("Date").unique().sort()).collect()["Date"].to_list()
    codes = keys.select(pl.col("Code").unique().sort()).collect()["Code"].to_list()
    rng = np.random.default_rng(seed)
    picks = []
    for _ in range(count):
        t = int(rng.integers(window - 1, len(dates)))
        picks.append((codes[int(rng.integers(len(codes)))], dates[t - window + 1], dates[t]))
    return picks


def run_baseline(panel_path: Path, window: int, count: int, from_file: bool) -> dict:
    features = [c for c in pl.scan_parquet(panel_path).collect_schema() if c.startswith("f")]
    source = panel_path if from_file else pl.read_parquet(panel_path)
    dataset = PanelWindows(source, _samples(panel_path, window, count, 1), features, from_file)
    loader = torch.utils.data.DataLoader(dataset, batch_size=256, num_workers=0)
    start = time.perf_counter()
    n = 0
    for x, _y in loader:
        n += x.shape[0]
    seconds = time.perf_counter() - start
    return {"samples": n, "seconds": round(seconds, 3), "samples_per_s": round(n / seconds, 1)}


def run_loader(
    path: Path, window: int, mode: str, max_days: int | None, device: str, method: str
) -> dict:
    """Epochs of ``DayBatchLoader`` (one day per batch, every stock) in normalisation ``mode``."""
    cache = open_cache(path)
    days = cache.date_list[window - 1 :][:max_days] if max_days else None
    config = LoaderConfig(window=window, normalize=mode, shuffle=True, seed=0)
    spec = NormalizationConfig(method=method)
    start = time.perf_counter()
    loader = DayBatchLoader(cache, config, spec, days=days, device=device)
    setup = time.perf_counter() - start
    epochs = 1 if mode == "batch" else 2
    start = time.perf_counter()
    n = 0
    checksum = 0.0
    for _ in range(epochs):
        for batch in loader:
            n += int(batch.x.shape[0] * batch.x.shape[2])
            checksum += float(batch.x[0, -1, 0, 0].nan_to_num())
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return {
        "normalization": None if mode == "off" else method,
        "setup_s": round(setup, 3),
        "epochs": epochs,
        "days": n // cache.shape[1],
        "samples": n,
        "seconds": round(seconds, 3),
        "samples_per_s": round(n / seconds, 1),
        "ms_per_day_batch": round(1000 * seconds / max(1, n // cache.shape[1]), 1),
    }


def _child(queue, fn, args) -> None:
    result = fn(*args)
    result["peak_rss_mb"] = _peak_rss_mb()
    queue.put(result)


def isolated(fn, *args) -> dict:
    """Run ``fn(*args)`` in a forked child; its result plus the child's own peak RSS."""
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(queue, fn, args))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def _make(path: Path, days: int, stocks: int, features: int) -> dict:
    make_panel(path, days, stocks, features)
    return {}


def _write(path: Path) -> dict:
    start = time.perf_counter()
    write_cache(path)
    return {"seconds": round(time.perf_counter() - start, 3)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=80)
    parser.add_argument("--stocks", type=int, default=4000)
    parser.add_argument("--features", type=int, default=300)
    parser.add_argument("--window", type=int, default=60)
    parser.add_argument("--baseline-samples", type=int, default=300)
    parser.add_argument("--parquet-samples", type=int, default=30)
    parser.add_argument("--method", choices=["rank_gauss", "robust_z"], default="robust_z")
    parser.add_argument(
        "--batch-days",
        type=int,
        default=None,
        help="days for normalize='batch' (default: 3 on CUDA, 0 = skipped on the CPU)",
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dir", type=Path, default=None, help="work folder (default: a temp dir)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.batch_days is None:
        args.batch_days = 3 if args.device.startswith("cuda") else 0
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = Path(tmp)
        t0 = time.perf_counter()
        isolated(_make, path, args.days, args.stocks, args.features)
        panel_s = time.perf_counter() - t0
        result: dict = {
            "benchmark": "loader",
            "data": "synthetic random panel/cache (values are noise; shapes are what matter)",
            "shape": {"T": args.days, "N": args.stocks, "F": args.features, "L": args.window},
            "device": args.device,
            "torch_threads": torch.get_num_threads(),
            "panel_parquet_mb": round((path / "panel.parquet").stat().st_size / 2**20, 1),
            "make_panel_s": round(panel_s, 1),
            "write_cache": isolated(_write, path),
            "cache_mb": round(sum(p.stat().st_size for p in (path / "cache").iterdir()) / 2**20, 1),
        }
        result["loader_raw"] = isolated(
            run_loader, path, args.window, "off", None, args.device, args.method
        )
        result["loader_cached"] = isolated(
            run_loader, path, args.window, "cached", None, args.device, args.method
        )
        if args.batch_days:
            result["loader_batch"] = isolated(
                run_loader, path, args.window, "batch", args.batch_days, args.device, args.method
            )
        result["baseline_in_memory"] = isolated(
            run_baseline, path / "panel.parquet", args.window, args.baseline_samples, False
        )
        result["baseline_parquet"] = isolated(
            run_baseline, path / "panel.parquet", args.window, args.parquet_samples, True
        )
    for mode in ("raw", "cached", "batch"):
        if f"loader_{mode}" not in result:
            continue
        rate = result[f"loader_{mode}"]["samples_per_s"]
        for base in ("in_memory", "parquet"):
            result[f"ratio_{mode}_vs_{base}"] = round(
                rate / result[f"baseline_{base}"]["samples_per_s"], 1
            )
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
