"""The dense training cache: ``datasets/NAME/cache/`` — memory-mapped (date, stock, column) arrays.

This module reads the cache (``open_cache``); ``gogooku.dataset.cache_writer`` writes it.

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

Reading (``open_cache``): ``DenseCache.window(t, L)`` is ``features[t-L+1 : t+1]``, a zero-copy
view (L, N, F). ``feature_index(names=..., blocks=...)`` gives column indices; a selection that is
one ascending contiguous run is applied as a slice (still a view), any other selection is a
gather that copies L × N × len(selection) values per window.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from gogooku.errors import GogookuError
from gogooku.features.sector import STATIC_ID_TABLES

CACHE_DIR = "cache"
CACHE_VERSION = 1
STATIC_IDS = ("sector33_id", "sector17_id", "market_id")


class CacheError(GogookuError, ValueError):
    """The cache cannot be written or read; the message names the file or column."""


def panel_signature(panel: Path) -> dict:
    """The panel's row count and byte size, recorded in ``cache.json`` to detect a stale cache."""
    meta = pq.read_metadata(panel)
    return {"panel_rows": meta.num_rows, "panel_bytes": panel.stat().st_size}


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

    @property
    def static_cardinalities(self) -> list[int]:
        """The embedding sizes of the static id columns: the size of each column's fixed code
        table + 1 (id 0 = missing or unknown), never the ids in the data — the largest id over
        the whole cache made a network's shape, hence its initial weights, depend on stocks that
        appear only in a fold's test period."""
        return [len(STATIC_ID_TABLES[name]) + 1 for name in self.static_names]

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


def rebuild_hint(dataset_dir: Path) -> str:
    """The command that rebuilds the dataset (and so its cache) as recorded in metadata.json."""
    try:
        meta = json.loads((dataset_dir / "metadata.json").read_text())
        args = f" --start {meta['start']} --end {meta['end']} --blocks {','.join(meta['blocks'])}"
    except (OSError, ValueError, KeyError, TypeError):
        args = " --start START --end END"
    return f"rebuild it: gogooku build --name {dataset_dir.name}{args} --full"


def open_cache(dataset_dir: str | Path, *, check_fresh: bool = True) -> DenseCache:
    """Memory-map ``dataset_dir/cache/``; with ``check_fresh`` refuse a cache of another panel."""
    dataset_dir = Path(dataset_dir)
    path = dataset_dir / CACHE_DIR
    meta_path = path / "cache.json"
    if not meta_path.exists():
        raise CacheError(f"{meta_path}: not found (run `gogooku build` to write the cache)")
    try:
        meta = json.loads(meta_path.read_text())
    except ValueError as exc:
        raise CacheError(
            f"{meta_path}: not valid JSON ({exc}); {rebuild_hint(dataset_dir)}"
        ) from None
    if meta.get("version") != CACHE_VERSION:
        raise CacheError(f"{meta_path}: cache version {meta.get('version')} != {CACHE_VERSION}")
    panel = dataset_dir / "panel.parquet"
    if check_fresh and panel.exists():
        current = panel_signature(panel)
        cached = {k: meta.get(k) for k in current}
        if current != cached:
            raise CacheError(
                f"{meta_path}: stale cache: written for panel {cached}, panel.parquet is now "
                f"{current}; {rebuild_hint(dataset_dir)}"
            )

    def load(name: str, mmap_mode: str | None = "r") -> np.ndarray:
        file = path / name
        try:
            return np.load(file, mmap_mode=mmap_mode)
        except (ValueError, OSError, EOFError) as exc:
            # A truncated .npy fails here with numpy's "mmap length is greater than file size".
            raise CacheError(
                f"{file}: unreadable cache file ({exc}); {rebuild_hint(dataset_dir)}"
            ) from None

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
        dates=load("dates.npy", None),
        codes=load("codes.npy", None),
        feature_names=meta["features"],
        feature_blocks=meta["feature_blocks"],
        target_names=meta["targets"],
        static_names=meta["static"],
        **edges,
    )
