"""The dense training cache: ``datasets/NAME/cache/`` — memory-mapped (date, stock, column) arrays.

Files (NumPy ``.npy``, read with ``np.load(mmap_mode="r")``):

- ``features.npy`` (T, N, F) float32 (float16 with ``float16=True``), NaN where the panel is null
  or the row is absent; Boolean and integer feature columns are stored as their float value;
- ``targets.npy`` (T, N, H) float32, NaN where the label is null or the row is absent;
- ``mask.npy`` (T, N) bool: the panel has the row (the stock is listed on that day);
- ``static.npy`` (T, N, S) int16: categorical ids (``sector33_id``, ``sector17_id``,
  ``market_id`` — those the dataset has), 0 where absent; kept per date because they change;
- ``dates.npy`` (T,) datetime64[D], every panel date ascending; ``codes.npy`` (N,) str, every
  code ascending;
- with ``graph_edges.parquet`` beside the panel (``Date, src, dst, weight``; ``Date`` = the day
  the graph was built, src/dst codes): the G graphs in CSR form — ``edge_dates.npy`` (G,),
  ``edge_offsets.npy`` (G + 1,) int64, ``edge_src.npy``/``edge_dst.npy`` int32 (indices into the
  code axis, sorted by (src, dst)), ``edge_weight.npy`` float32 — and ``edge_graph.npy`` (T,)
  int32: the graph in force on each date, the latest built on or before it (−1: none yet), so
  a date never sees a graph built after it. Edges naming a code without any panel row are left
  out (logged);
- ``cache.json``: column names (features in ``features.json`` order with their blocks, targets,
  static ids), dtypes, shapes, and the panel's row count and size (to detect a stale cache).

Writing (``write_cache``): the panel is streamed in record batches (``pyarrow`` row groups, in
the panel's (Code, Date) order, as ``gogooku build`` writes it stock chunk by stock chunk). The
rows of a batch's last code are held back and joined to the next batch, so each step covers whole
stocks: a contiguous run ``n0..n1`` of the code axis. The step's rows are mapped to (date index,
code index) by joins with the axes and scattered into dense in-memory blocks ``(T, n1 − n0 + 1,
…)`` pre-filled with NaN / False / 0, and each block is written into its ``.npy`` file (created by
``np.lib.format.open_memmap`` for the header and size) with one ``os.pwrite`` per date: row ``t``
of the block lands at byte ``header + ((t·N + n0)·F)·itemsize``. Every (date, code) cell is
written exactly once, so no up-front fill pass is needed, and the process never maps the arrays:
its memory is one batch of rows plus one block (T × stocks-in-batch × F values, ~0.4 GB at
T = 2,450, F = 342 and 262,144-row batches) whatever the panel's size; the written pages sit in
the kernel's page cache, not in the process. Everything is written into ``cache.tmp-<id>/``,
``fsync``-ed, and renamed to ``cache/`` (the previous cache is renamed aside first and deleted
after; readers holding its memory maps keep valid files).

Reading (``open_cache``): ``DenseCache.window(t, L)`` is ``features[t-L+1 : t+1]``, a zero-copy
view (L, N, F). ``feature_index(names=..., blocks=...)`` gives column indices; a selection that is
one ascending contiguous run is applied as a slice (still a view), any other selection is a
gather that copies L × N × len(selection) values per window.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

log = logging.getLogger(__name__)

CACHE_DIR = "cache"
CACHE_VERSION = 1
STATIC_IDS = ("sector33_id", "sector17_id", "market_id")
GRAPH_FILE = "graph_edges.parquet"
BATCH_ROWS = 262_144


class CacheError(ValueError):
    """The cache cannot be written or read; the message names the file or column."""


def _columns_by_role(dataset_dir: Path) -> tuple[list[dict], list[dict]]:
    path = dataset_dir / "features.json"
    if not path.exists():
        raise CacheError(f"{path}: not found (build the dataset first)")
    columns = json.loads(path.read_text())["columns"]
    features = [c for c in columns if c["role"] == "feature"]
    targets = [c for c in columns if c["role"] == "target"]
    return features, targets


def _panel_signature(panel: Path) -> dict:
    meta = pq.read_metadata(panel)
    return {"panel_rows": meta.num_rows, "panel_bytes": panel.stat().st_size}


def _as_float(names: Sequence[str], schema: pl.Schema) -> list[pl.Expr]:
    return [pl.col(n).cast(pl.Float32).fill_null(float("nan")) for n in names if n in schema]


def _write_edges(dataset_dir: Path, out: Path, dates: np.ndarray, codes: np.ndarray) -> bool:
    """CSR edge lists per graph date from ``graph_edges.parquet`` and the graph in force per
    cache date; returns whether the file exists."""
    path = dataset_dir / GRAPH_FILE
    if not path.exists():
        return False
    edges = pl.read_parquet(path)
    missing = {"Date", "src", "dst", "weight"} - set(edges.columns)
    if missing:
        raise CacheError(f"{path}: missing column(s) {sorted(missing)}")
    if edges.schema["Date"] != pl.Date:
        raise CacheError(f"{path}: column Date must be a Date, got {edges.schema['Date']}")
    for col in ("src", "dst"):
        if edges.schema[col] != pl.String:
            raise CacheError(
                f"{path}: column {col} must hold String codes, got {edges.schema[col]}"
            )
    last = dates[-1].astype(date) if len(dates) else None
    edges = edges.filter(pl.col("Date") <= last)
    graph_dates = edges["Date"].unique().sort()
    graph_axis = pl.DataFrame({"Date": graph_dates}).with_row_index("g")
    code_axis = pl.DataFrame({"src": codes.tolist()}).with_row_index("s")
    mapped = (
        edges.join(graph_axis, on="Date", how="left")
        .join(code_axis, on="src", how="inner")
        .join(code_axis.rename({"src": "dst", "s": "d"}), on="dst", how="inner")
        .sort("g", "s", "d")
    )
    if mapped.height < edges.height:
        log.warning(
            "%s: %d of %d edges name stocks without any panel row; left out",
            path,
            edges.height - mapped.height,
            edges.height,
        )
    counts = np.bincount(mapped["g"].to_numpy(), minlength=graph_dates.len())
    offsets = np.zeros(graph_dates.len() + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    in_force = np.searchsorted(graph_dates.to_numpy(), dates, side="right") - 1
    np.save(out / "edge_graph.npy", in_force.astype(np.int32))
    np.save(out / "edge_dates.npy", graph_dates.to_numpy().astype("datetime64[D]"))
    np.save(out / "edge_offsets.npy", offsets)
    np.save(out / "edge_src.npy", mapped["s"].cast(pl.Int32).to_numpy())
    np.save(out / "edge_dst.npy", mapped["d"].cast(pl.Int32).to_numpy())
    np.save(out / "edge_weight.npy", mapped["weight"].cast(pl.Float32).to_numpy())
    return True


class _BlockFile:
    """A ``.npy`` file of shape (T, N, *rest) written by blocks of whole code runs (see module doc)."""

    def __init__(self, path: Path, dtype: np.dtype, shape: tuple[int, ...], fill: object) -> None:
        header = np.lib.format.open_memmap(path, "w+", dtype, shape)
        self.offset = header.offset
        del header
        self.dtype = np.dtype(dtype)
        self.shape = shape
        self.fill = fill
        self.cell = int(np.prod(shape[2:], dtype=np.int64)) * self.dtype.itemsize
        self.fd = os.open(path, os.O_RDWR)

    def block(self, width: int) -> np.ndarray:
        """A (T, width, *rest) block pre-filled with the array's absent value."""
        return np.full((self.shape[0], width, *self.shape[2:]), self.fill, dtype=self.dtype)

    def write(self, block: np.ndarray, n0: int) -> None:
        """Write ``block`` (T, width, *rest) at code index ``n0``: one ``pwrite`` per date."""
        if not self.cell or not block.shape[1]:
            return
        stride = self.shape[1] * self.cell
        for t in range(self.shape[0]):
            row = memoryview(np.ascontiguousarray(block[t])).cast("B")
            done = 0
            while done < len(row):
                done += os.pwrite(
                    self.fd, row[done:], self.offset + t * stride + n0 * self.cell + done
                )

    def close(self) -> None:
        os.fsync(self.fd)
        os.close(self.fd)


def _whole_stocks(
    parquet: pq.ParquetFile, columns: list[str], batch_rows: int
) -> Iterator[pl.DataFrame]:
    """The panel's rows in (Code, Date) order, in frames that each hold every row of their codes."""
    carry: pl.DataFrame | None = None
    for batch in parquet.iter_batches(batch_size=batch_rows, columns=columns):
        frame = pl.from_arrow(batch)
        if carry is not None:
            frame = pl.concat([carry, frame])
        last = frame["Code"][-1]
        tail = frame["Code"] == last
        carry = frame.filter(tail)
        done = frame.filter(~tail)
        if done.height:
            yield done
    if carry is not None and carry.height:
        yield carry


def write_cache(
    dataset_dir: str | Path, *, float16: bool = False, batch_rows: int = BATCH_ROWS
) -> Path:
    """Write ``dataset_dir/cache/`` from ``panel.parquet`` and ``features.json``; see module doc."""
    dataset_dir = Path(dataset_dir)
    panel_path = dataset_dir / "panel.parquet"
    if not panel_path.exists():
        raise CacheError(f"{panel_path}: not found (build the dataset first)")
    feature_cols, target_cols = _columns_by_role(dataset_dir)
    features = [c["name"] for c in feature_cols]
    targets = [c["name"] for c in target_cols]
    scan = pl.scan_parquet(panel_path)
    schema = scan.collect_schema()
    absent = [n for n in (*features, *targets, "Code", "Date") if n not in schema]
    if absent:
        raise CacheError(f"{panel_path}: column(s) {absent} listed in features.json are missing")
    static = [n for n in STATIC_IDS if n in features]

    dates = scan.select(pl.col("Date").unique().sort()).collect()["Date"]
    codes = scan.select(pl.col("Code").unique().sort()).collect()["Code"]
    t_n, n_n = dates.len(), codes.len()
    date_axis = pl.DataFrame({"Date": dates}).with_row_index("_t")
    code_axis = pl.DataFrame({"Code": codes}).with_row_index("_n")

    tmp = dataset_dir / f"{CACHE_DIR}.tmp-{uuid.uuid4().hex}"
    tmp.mkdir()
    files: list[_BlockFile] = []
    try:
        feat_dtype = np.float16 if float16 else np.float32
        x, y, mask, st = files = [
            _BlockFile(tmp / "features.npy", feat_dtype, (t_n, n_n, len(features)), np.nan),
            _BlockFile(tmp / "targets.npy", np.float32, (t_n, n_n, len(targets)), np.nan),
            _BlockFile(tmp / "mask.npy", np.bool_, (t_n, n_n), False),
            _BlockFile(tmp / "static.npy", np.int16, (t_n, n_n, len(static)), 0),
        ]
        parquet = pq.ParquetFile(panel_path)
        columns = ["Code", "Date", *features, *targets]
        next_code = 0
        for rows in _whole_stocks(parquet, columns, batch_rows):
            frame = rows.join(date_axis, on="Date", how="left").join(
                code_axis, on="Code", how="left"
            )
            ti = frame["_t"].to_numpy()
            ni = frame["_n"].to_numpy()
            n0 = int(ni.min())
            ni = ni - n0
            width = int(ni.max()) + 1
            if n0 != next_code or frame["_n"].n_unique() != width:
                raise CacheError(
                    f"{panel_path}: rows are not sorted by Code (code {codes[n0]} comes after "
                    f"{codes[next_code - 1] if next_code else 'the start'} out of order); "
                    "rebuild the dataset"
                )
            next_code = n0 + width
            del rows
            block = x.block(width)
            block[ti, ni] = frame.select(_as_float(features, schema)).to_numpy().astype(feat_dtype)
            x.write(block, n0)
            block = y.block(width)
            block[ti, ni] = frame.select(_as_float(targets, schema)).to_numpy()
            y.write(block, n0)
            block = mask.block(width)
            block[ti, ni] = True
            mask.write(block, n0)
            if static:
                block = st.block(width)
                block[ti, ni] = frame.select(pl.col(static).fill_null(0).cast(pl.Int16)).to_numpy()
                st.write(block, n0)
            del block, frame
        for f in files:
            f.close()
        files = []
        date_values = dates.to_numpy().astype("datetime64[D]")
        code_values = codes.to_numpy().astype(str)
        np.save(tmp / "dates.npy", date_values)
        np.save(tmp / "codes.npy", code_values)
        has_edges = _write_edges(dataset_dir, tmp, date_values, code_values)
        meta = {
            "version": CACHE_VERSION,
            "features": features,
            "feature_blocks": [c["block"] for c in feature_cols],
            "targets": targets,
            "static": static,
            "feature_dtype": np.dtype(feat_dtype).name,
            "shape": {"T": t_n, "N": n_n, "F": len(features), "H": len(targets)},
            "has_edges": has_edges,
            **_panel_signature(panel_path),
        }
        (tmp / "cache.json").write_text(json.dumps(meta, indent=2) + "\n")
        final = dataset_dir / CACHE_DIR
        old = dataset_dir / f"{CACHE_DIR}.old-{uuid.uuid4().hex}"
        if final.exists():
            final.rename(old)
        tmp.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        for f in files:
            os.close(f.fd)
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


@dataclass(frozen=True)
class Edges:
    """A date's graph: indices into the code axis, weights (views) and the day it was built."""

    src: np.ndarray
    dst: np.ndarray
    weight: np.ndarray
    built: date | None


@dataclass
class DenseCache:
    """A read-only, memory-mapped cache; see the module doc for the arrays."""

    path: Path
    features: np.ndarray
    targets: np.ndarray
    mask: np.ndarray
    static: np.ndarray
    dates: np.ndarray
    codes: np.ndarray
    feature_names: list[str]
    feature_blocks: list[str]
    target_names: list[str]
    static_names: list[str]
    edge_graph: np.ndarray | None = None
    edge_dates: np.ndarray | None = None
    edge_offsets: np.ndarray | None = None
    edge_src: np.ndarray | None = None
    edge_dst: np.ndarray | None = None
    edge_weight: np.ndarray | None = None
    _date_pos: dict[date, int] = field(default_factory=dict, repr=False)

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.features.shape

    @property
    def date_list(self) -> list[date]:
        return self.dates.astype(date).tolist()

    def date_index(self, day: date) -> int:
        """Position of ``day`` on the date axis."""
        if not self._date_pos:
            self._date_pos.update({d: i for i, d in enumerate(self.date_list)})
        try:
            return self._date_pos[day]
        except KeyError:
            raise CacheError(
                f"{self.path}: date {day} is not on the cache's date axis "
                f"({self.date_list[0]}..{self.date_list[-1]})"
            ) from None

    def feature_index(
        self, names: Sequence[str] | None = None, blocks: Sequence[str] | None = None
    ) -> np.ndarray:
        """Column indices of the selected features in cache order (all when both are None)."""
        if names is None and blocks is None:
            return np.arange(len(self.feature_names))
        pos = {n: i for i, n in enumerate(self.feature_names)}
        chosen: set[int] = set()
        if names is not None:
            unknown = [n for n in names if n not in pos]
            if unknown:
                raise CacheError(f"{self.path}: unknown feature(s) {unknown}")
            chosen.update(pos[n] for n in names)
        if blocks is not None:
            known = set(self.feature_blocks)
            unknown = [b for b in blocks if b not in known]
            if unknown:
                raise CacheError(f"{self.path}: unknown block(s) {unknown}; have {sorted(known)}")
            chosen.update(i for i, b in enumerate(self.feature_blocks) if b in set(blocks))
        return np.array(sorted(chosen), dtype=np.intp)

    def target_index(self, names: Sequence[str] | None = None) -> np.ndarray:
        if names is None:
            return np.arange(len(self.target_names))
        pos = {n: i for i, n in enumerate(self.target_names)}
        unknown = [n for n in names if n not in pos]
        if unknown:
            raise CacheError(f"{self.path}: unknown target(s) {unknown}")
        return np.array([pos[n] for n in names], dtype=np.intp)

    def window(self, t: int, length: int, feature_idx: np.ndarray | None = None) -> np.ndarray:
        """``features[t-L+1 : t+1]`` (L, N, F): a view, or a gather for a non-contiguous selection."""
        if not 0 <= t < self.features.shape[0]:
            raise CacheError(f"{self.path}: date index {t} outside 0..{self.features.shape[0] - 1}")
        if t - length + 1 < 0:
            raise CacheError(
                f"{self.path}: a window of {length} days ending at {self.date_list[t]} starts "
                f"before the first cached date {self.date_list[0]}"
            )
        view = self.features[t - length + 1 : t + 1]
        return select_columns(view, feature_idx)

    def edges(self, t: int) -> Edges | None:
        """Edges of the graph in force on date index ``t`` (None when the dataset has no graph)."""
        if self.edge_graph is None:
            return None
        g = int(self.edge_graph[t])
        if g < 0:
            return Edges(self.edge_src[:0], self.edge_dst[:0], self.edge_weight[:0], None)
        lo, hi = int(self.edge_offsets[g]), int(self.edge_offsets[g + 1])
        built = self.edge_dates[g].astype(date)
        return Edges(self.edge_src[lo:hi], self.edge_dst[lo:hi], self.edge_weight[lo:hi], built)


def select_columns(arr: np.ndarray, idx: np.ndarray | None) -> np.ndarray:
    """``arr[..., idx]`` as a slice (view) when ``idx`` is one ascending run, else a gather (copy)."""
    if idx is None or (len(idx) == arr.shape[-1] and np.array_equal(idx, np.arange(arr.shape[-1]))):
        return arr
    if len(idx) and np.array_equal(idx, np.arange(idx[0], idx[0] + len(idx))):
        return arr[..., int(idx[0]) : int(idx[0]) + len(idx)]
    return arr[..., idx]


def open_cache(dataset_dir: str | Path, *, check_fresh: bool = True) -> DenseCache:
    """Memory-map ``dataset_dir/cache/``; with ``check_fresh`` refuse a cache of another panel."""
    dataset_dir = Path(dataset_dir)
    path = dataset_dir / CACHE_DIR
    meta_path = path / "cache.json"
    if not meta_path.exists():
        raise CacheError(f"{meta_path}: not found (run `gogooku build` to write the cache)")
    meta = json.loads(meta_path.read_text())
    if meta.get("version") != CACHE_VERSION:
        raise CacheError(f"{meta_path}: cache version {meta.get('version')} != {CACHE_VERSION}")
    panel = dataset_dir / "panel.parquet"
    if check_fresh and panel.exists():
        current = _panel_signature(panel)
        cached = {k: meta.get(k) for k in current}
        if current != cached:
            raise CacheError(
                f"{meta_path}: stale cache: written for panel {cached}, panel.parquet is now "
                f"{current}; rebuild the dataset or call write_cache"
            )

    def load(name: str) -> np.ndarray:
        return np.load(path / name, mmap_mode="r")

    edges = {}
    if meta["has_edges"]:
        names = ("edge_graph", "edge_dates", "edge_offsets", "edge_src", "edge_dst", "edge_weight")
        edges = {k: load(f"{k}.npy") for k in names}
    return DenseCache(
        path=path,
        features=load("features.npy"),
        targets=load("targets.npy"),
        mask=load("mask.npy"),
        static=load("static.npy"),
        dates=np.load(path / "dates.npy"),
        codes=np.load(path / "codes.npy"),
        feature_names=meta["features"],
        feature_blocks=meta["feature_blocks"],
        target_names=meta["targets"],
        static_names=meta["static"],
        **edges,
    )
