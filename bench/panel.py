"""The random panel the loader and trainer benchmarks measure on (a helper, not a benchmark)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl

TARGETS = ["target_1d", "target_5d", "target_10d", "target_20d"]


def make_panel(path: Path, days: int, stocks: int, features: int, seed: int = 0) -> None:
    """A random (Code, Date)-sorted panel of days × stocks rows, written day-chunk by day-chunk."""
    rng = np.random.default_rng(seed)
    dates = [date(2020, 1, 6) + timedelta(days=i) for i in range(days)]
    codes = [f"{1000 + i}0" for i in range(stocks)]
    names = [f"f{i:03d}" for i in range(features)]
    columns = [
        {"name": n, "role": "feature", "block": f"b{i // 50}"} for i, n in enumerate(names)
    ] + [{"name": n, "role": "target", "block": "labels"} for n in TARGETS]
    (path / "features.json").write_text(json.dumps({"dataset": "bench", "columns": columns}))
    values = rng.standard_normal((stocks * days, features), dtype=np.float32)
    values[rng.random(values.shape) < 0.02] = np.nan
    frame = pl.DataFrame(values, schema=names, orient="row").with_columns(
        pl.col(names).fill_nan(None)
    )
    keys = pl.DataFrame(
        {
            "Code": np.repeat(codes, days),
            "Date": np.tile(np.array(dates, dtype="datetime64[D]"), stocks),
        }
    ).with_columns(pl.col("Date").cast(pl.Date))
    targets = pl.DataFrame(
        rng.standard_normal((stocks * days, len(TARGETS)), dtype=np.float32), schema=TARGETS
    )
    pl.concat([keys, frame, targets], how="horizontal").write_parquet(
        path / "panel.parquet", compression="zstd", compression_level=1, row_group_size=days * 64
    )
