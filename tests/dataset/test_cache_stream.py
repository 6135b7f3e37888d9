"""The streamed cache writer against a dense in-memory reference: same bytes, bounded memory."""

from __future__ import annotations

import json
import os
import threading
import time
import tracemalloc
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from gogooku.dataset import cache_writer
from gogooku.dataset.cache import STATIC_IDS, CacheError, open_cache
from gogooku.dataset.cache_writer import extend_cache, write_cache

ARRAYS = ("features", "targets", "mask", "static", "dates", "codes")


def _write_dataset(path: Path, stocks: int, days: int, seed: int = 3) -> pl.DataFrame:
    """A panel sorted by (Code, Date) with late listings, early delistings and holes, written
    with ``features.json``; features of several dtypes (Float64, Int8, Boolean, Int16 ids)."""
    rng = np.random.default_rng(seed)
    all_days = [date(2024, 1, 1) + timedelta(days=i) for i in range(days)]
    frames = []
    for k in range(stocks):
        first, last = sorted(rng.integers(0, days, size=2))
        keep = rng.random(days) > 0.1
        keep[: first if k % 3 == 0 else 0] = False
        keep[last + 1 if k % 4 == 0 else days :] = False
        n = int(keep.sum())
        if not n:
            continue
        frames.append(
            pl.DataFrame(
                {
                    "Code": [f"{1300 + k * 7}0"] * n,
                    "Date": [d for d, on in zip(all_days, keep, strict=True) if on],
                    "ret_1d": rng.normal(size=n).astype(np.float32),
                    "vol_20d": rng.normal(size=n),
                    "flag": rng.random(n) > 0.5,
                    "rank": rng.integers(-5, 5, size=n).astype(np.int8),
                    "sector33_id": rng.integers(1, 34, size=n).astype(np.int16),
                    "market_id": rng.integers(1, 4, size=n).astype(np.int16),
                    "y_1d": rng.normal(size=n).astype(np.float32),
                    "y_5d": rng.normal(size=n).astype(np.float32),
                }
            )
        )
    panel = pl.concat(frames).with_columns(
        pl.when(pl.int_range(pl.len()) % 5 == 0).then(None).otherwise(pl.col(c)).alias(c)
        for c in ("ret_1d", "vol_20d", "flag", "rank", "sector33_id", "y_5d")
    )
    path.mkdir(parents=True, exist_ok=True)
    panel.write_parquet(path / "panel.parquet")
    columns = [{"name": "Code", "role": "key", "block": "key"}]
    columns += [
        {"name": n, "role": "feature", "block": "b"}
        for n in ("ret_1d", "vol_20d", "flag", "rank", "sector33_id", "market_id")
    ]
    columns += [{"name": n, "role": "target", "block": "labels"} for n in ("y_1d", "y_5d")]
    (path / "features.json").write_text(json.dumps({"columns": columns}))
    return panel


def _reference(path: Path, out: Path, float16: bool) -> None:
    """The dense in-memory writer: whole (T, N, F) arrays filled by one scatter, then saved."""
    columns = json.loads((path / "features.json").read_text())["columns"]
    features = [c["name"] for c in columns if c["role"] == "feature"]
    targets = [c["name"] for c in columns if c["role"] == "target"]
    static = [n for n in STATIC_IDS if n in features]
    panel = pl.read_parquet(path / "panel.parquet")
    dates = panel["Date"].unique().sort()
    codes = panel["Code"].unique().sort()
    t_n, n_n = dates.len(), codes.len()
    frame = panel.join(
        pl.DataFrame({"Date": dates}).with_row_index("_t"), on="Date", how="left"
    ).join(pl.DataFrame({"Code": codes}).with_row_index("_n"), on="Code", how="left")
    ti, ni = frame["_t"].to_numpy(), frame["_n"].to_numpy()
    dtype = np.float16 if float16 else np.float32

    def floats(names: list[str]) -> np.ndarray:
        return frame.select(
            pl.col(n).cast(pl.Float32).fill_null(float("nan")) for n in names
        ).to_numpy()

    x = np.full((t_n, n_n, len(features)), np.nan, dtype=dtype)
    x[ti, ni] = floats(features).astype(dtype)
    y = np.full((t_n, n_n, len(targets)), np.nan, dtype=np.float32)
    y[ti, ni] = floats(targets)
    mask = np.zeros((t_n, n_n), dtype=np.bool_)
    mask[ti, ni] = True
    st = np.zeros((t_n, n_n, len(static)), dtype=np.int16)
    st[ti, ni] = frame.select(pl.col(static).fill_null(0).cast(pl.Int16)).to_numpy()
    out.mkdir()
    for name, arr in zip(ARRAYS[:4], (x, y, mask, st), strict=True):
        np.save(out / f"{name}.npy", arr)
    np.save(out / "dates.npy", dates.to_numpy().astype("datetime64[D]"))
    np.save(out / "codes.npy", codes.to_numpy().astype(str))


@pytest.mark.parametrize(("float16", "batch_rows"), [(False, 37), (False, 1_000_000), (True, 5)])
def test_streamed_cache_is_byte_identical_to_the_dense_writer(tmp_path, float16, batch_rows):
    path = tmp_path / "ds"
    panel = _write_dataset(path, stocks=23, days=41)
    _reference(path, tmp_path / "ref", float16)
    write_cache(path, float16=float16, batch_rows=batch_rows)
    for name in ARRAYS:
        got = (path / "cache" / f"{name}.npy").read_bytes()
        assert got == (tmp_path / "ref" / f"{name}.npy").read_bytes(), name
    cache = open_cache(path)
    assert int(cache.mask.sum()) == panel.height


def test_features_scattered_in_column_groups_give_the_same_bytes(tmp_path, monkeypatch):
    """Six features in groups of four: a full group and a partial one, with holes and nulls."""
    monkeypatch.setattr(cache_writer, "COLUMN_GROUP", 4)
    path = tmp_path / "ds"
    _write_dataset(path, stocks=23, days=41, seed=5)
    _reference(path, tmp_path / "ref", float16=False)
    write_cache(path, batch_rows=50)
    for name in ARRAYS:
        got = (path / "cache" / f"{name}.npy").read_bytes()
        assert got == (tmp_path / "ref" / f"{name}.npy").read_bytes(), name


def test_streamed_cache_memory_is_bounded_by_a_batch(tmp_path):
    path = tmp_path / "ds"
    _write_dataset(path, stocks=120, days=400)
    dense_bytes = 400 * 120 * 6 * 4
    tracemalloc.start()
    try:
        write_cache(path, batch_rows=2_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < dense_bytes / 3, (peak, dense_bytes)


def test_a_panel_not_sorted_by_code_is_refused_with_its_path(tmp_path):
    path = tmp_path / "ds"
    panel = _write_dataset(path, stocks=10, days=20)
    panel.sort("Date", "Code").write_parquet(path / "panel.parquet")
    with pytest.raises(CacheError, match=r"panel\.parquet: rows are not sorted by Code"):
        write_cache(path, batch_rows=50)
    assert not any(p.name.startswith("cache") for p in path.iterdir())


def _cache_bytes(path: Path) -> dict[str, bytes]:
    return {n: (path / "cache" / f"{n}.npy").read_bytes() for n in ARRAYS}


@pytest.mark.parametrize("float16", [False, True])
@pytest.mark.parametrize("new_code", [False, True])
def test_extended_cache_equals_a_full_write(tmp_path, caplog, float16, new_code):
    path = tmp_path / "ds"
    full = _write_dataset(path, stocks=23, days=41)
    days = full["Date"].unique().sort()
    first, old_end = days[30], days[35]
    old = full.filter(pl.col("Date") <= old_end)
    codes = old["Code"].unique()
    if not new_code:
        full = full.filter(pl.col("Code").is_in(codes.implode()))
    assert (full["Code"].n_unique() > codes.len()) == new_code
    old.write_parquet(path / "panel.parquet")
    write_cache(path, float16=float16, batch_rows=50)
    # Relabelled days from ``first`` on, new days after ``old_end``; rows before ``first`` kept.
    changed = full.filter(pl.col("Date") >= first).with_columns(pl.col("y_1d") + 1.0)
    new = pl.concat([full.filter(pl.col("Date") < first), changed]).sort("Code", "Date")
    new.write_parquet(path / "panel.parquet")
    with caplog.at_level("INFO", logger="gogooku.dataset.cache_writer"):
        extend_cache(path, changed.sort("Code", "Date"), first, float16=float16, batch_rows=30)
    assert ("cache rewritten whole" in caplog.text) == new_code
    extended = _cache_bytes(path)
    assert open_cache(path).features.dtype == (np.float16 if float16 else np.float32)
    # Another dtype than the existing cache's: written whole, in the asked dtype.
    extend_cache(path, changed.sort("Code", "Date"), first, float16=not float16)
    assert open_cache(path).features.dtype == (np.float32 if float16 else np.float16)
    extend_cache(path, changed.sort("Code", "Date"), first, float16=float16)
    write_cache(path, float16=float16)
    assert extended == _cache_bytes(path)


def test_extend_cache_refuses_rows_before_its_first_day(tmp_path):
    path = tmp_path / "ds"
    panel = _write_dataset(path, stocks=5, days=10)
    write_cache(path)
    with pytest.raises(CacheError, match="rows dated before 2024-01-05"):
        extend_cache(path, panel, date(2024, 1, 5))


def _open_fds() -> int:
    return len(list(Path("/proc/self/fd").iterdir()))


def test_a_failed_write_keeps_the_old_cache_and_leaves_nothing_open(tmp_path, monkeypatch):
    from gogooku.dataset import cache_writer

    path = tmp_path / "ds"
    panel = _write_dataset(path, stocks=23, days=41)
    write_cache(path)
    before = {p.name: p.read_bytes() for p in (path / "cache").iterdir()}
    fds = _open_fds()

    def fail(self, rows):
        raise OSError("disk full")

    monkeypatch.setattr(cache_writer._Filler, "add", fail)
    with pytest.raises(OSError, match="disk full"):
        write_cache(path, float16=True)
    writer = cache_writer.CacheWriter(
        path,
        ["ret_1d", "vol_20d", "flag", "rank", "sector33_id", "market_id"],
        ["b"] * 6,
        ["y_1d", "y_5d"],
        panel["Date"].unique().sort(),
        panel["Code"].unique().sort(),
    )
    with pytest.raises(OSError, match="disk full"):
        writer.add(panel)
    writer.abort()
    assert _open_fds() == fds
    assert sorted(p.name for p in path.iterdir()) == ["cache", "features.json", "panel.parquet"]
    assert {p.name: p.read_bytes() for p in (path / "cache").iterdir()} == before


def test_writes_run_on_the_write_thread_and_a_buffer_waits_for_its_write(tmp_path, monkeypatch):
    """Every ``pwrite`` runs on the cache's write thread; each one is slowed down, so a block
    buffer refilled before its write ended would put the next batch's cells into the file."""
    path = tmp_path / "ds"
    _write_dataset(path, stocks=23, days=41)
    _reference(path, tmp_path / "ref", float16=False)
    threads: set[str] = set()
    pwrite = os.pwrite

    def slow(fd, data, offset):
        threads.add(threading.current_thread().name)
        time.sleep(0.0005)
        return pwrite(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", slow)
    write_cache(path, batch_rows=60)
    assert threads == {"gogooku-cache-write_0"}
    for name in ARRAYS:
        got = (path / "cache" / f"{name}.npy").read_bytes()
        assert got == (tmp_path / "ref" / f"{name}.npy").read_bytes(), name


def test_a_failed_write_on_the_write_thread_reaches_the_caller_and_leaves_nothing(
    tmp_path, monkeypatch
):
    path = tmp_path / "ds"
    _write_dataset(path, stocks=23, days=41)
    write_cache(path)
    before = {p.name: p.read_bytes() for p in (path / "cache").iterdir()}
    fds = _open_fds()
    pwrite, calls = os.pwrite, []

    def full(fd, data, offset):
        calls.append(threading.current_thread().name)
        if len(calls) > 50:
            raise OSError(28, "No space left on device")
        return pwrite(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", full)
    with pytest.raises(OSError, match="No space left on device"):
        write_cache(path, batch_rows=60)
    assert _open_fds() == fds
    assert not any(t.name.startswith("gogooku-cache-write") for t in threading.enumerate())
    assert sorted(p.name for p in path.iterdir()) == ["cache", "features.json", "panel.parquet"]
    assert {p.name: p.read_bytes() for p in (path / "cache").iterdir()} == before
