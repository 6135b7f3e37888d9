"""Writing the dense training cache (the files are described in ``gogooku.dataset.cache``).

Writing (``write_cache``): the panel is streamed row group by row group (``panel_batches``), in
the panel's (Code, Date) order (as ``gogooku build`` writes it, stock chunk by stock chunk). The
rows of a batch's last code are held back and joined to the next batch, so each step covers whole
stocks: a contiguous run ``n0..n1`` of the code axis. The step's rows are mapped to (date index,
code index) by joins with the axes and scattered into dense in-memory blocks ``(T, n1 − n0 + 1,
…)`` (the features 64 columns at a time), the cells without a row then set to NaN / 0 (the
mask block, pre-filled with False, says which), and each block is written into its ``.npy`` file
(``gogooku.dataset.block_file.BlockFile``) with one ``os.pwrite`` per date, on a write thread
while the next step is scattered: row ``t`` of the block lands at byte
``header + ((t·N + n0)·F)·itemsize``. Every (date, code) cell is written exactly once (codes
without rows get the absent value), so no up-front fill pass is needed, and the process never
maps the arrays: its memory is one batch of rows (as Polars columns and as a float32 matrix of 64
of them) plus two blocks per array (the one being written and the one being filled; T ×
stocks-in-batch × F values, ~0.4 GB each at T = 2,450, F = 342 and 262,144-row batches) whatever
the panel's size; the written pages sit in the kernel's page cache, not in the process. A panel
not sorted by Code (a code's rows in two steps) is refused with ``CacheError``. Everything is
written into ``cache.tmp-<id>/``, ``fsync``-ed, and renamed to ``cache/`` (the previous cache is
renamed aside first and deleted after; readers holding its memory maps keep valid files).

A full ``gogooku build`` does not read the panel back: ``CacheWriter`` takes the panel's chunks
as the build writes them (the same ``_Filler`` scatter and ``BlockFile`` writes, so the files are
byte-identical to ``write_cache`` of the finished panel) and is finished, or dropped, after the
panel replaced the old one.

Extending (``extend_cache``, used by an incremental build): when the panel changed only on dates
from some day on and the code axis and columns are unchanged, the new files are created at the
new T, the old files' date rows before that day are copied byte for byte (``os.copy_file_range``:
sequential, no decoding) and only the changed rows, handed over in memory by the build, are
scattered as above — instead of decoding the whole panel again. A new code (a listing) changes N,
and with it every date row's position, so the cache is then written whole.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from gogooku.dataset.block_file import BlockFile
from gogooku.dataset.cache import (
    CACHE_DIR,
    CACHE_VERSION,
    STATIC_IDS,
    CacheError,
    panel_signature,
)

log = logging.getLogger(__name__)

GRAPH_FILE = "graph_edges.parquet"
BATCH_ROWS = 262_144
COLUMN_GROUP = 64  # feature columns converted and scattered together (``_scatter_floats``)


def _columns_by_role(dataset_dir: Path) -> tuple[list[dict], list[dict]]:
    path = dataset_dir / "features.json"
    if not path.exists():
        raise CacheError(f"{path}: not found (build the dataset first)")
    columns = json.loads(path.read_text())["columns"]
    features = [c for c in columns if c["role"] == "feature"]
    targets = [c for c in columns if c["role"] == "target"]
    return features, targets


def _as_float(names: Sequence[str], schema: pl.Schema) -> list[pl.Expr]:
    return [pl.col(n).cast(pl.Float32).fill_null(float("nan")) for n in names if n in schema]


def _rows_of(frame: pl.DataFrame, names: Sequence[str]) -> np.ndarray:
    """The Float32 values of ``names`` (nulls as NaN) as a row-major (rows × columns) matrix:
    scattered row by row, a column-major matrix is read a column length apart per value (the
    scatter took twice the CPU)."""
    return frame.select(_as_float(names, frame.schema)).to_numpy(order="c")


def _scatter_floats(
    cells: np.ndarray, at: np.ndarray, frame: pl.DataFrame, names: Sequence[str]
) -> None:
    """``cells[at, j] = frame[names[j]]`` (Float32, nulls as NaN), ``COLUMN_GROUP`` columns at
    a time: the float32 matrix of a group is all the batch's values held at once (all columns
    at once held another copy of the batch's features, ~0.36 GB at 4000 × 10 y)."""
    schema = frame.schema  # built anew on each access: once, not once per name
    names = [n for n in names if n in schema]
    for j in range(0, len(names), COLUMN_GROUP):
        group = names[j : j + COLUMN_GROUP]
        cells[at, j : j + len(group)] = _rows_of(frame, group)


def _read_edges(path: Path) -> pl.DataFrame:
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
    return edges


def _axis_positions(column: pl.Series, axis: pl.Series, index: pl.Series) -> pl.Series:
    """The Int32 position on the code ``axis`` of each code in ``column`` (null when not on
    it). An ``Enum`` column maps its categories once and gathers by its physical codes: tens of
    millions of edges, a few thousand codes."""
    if isinstance(column.dtype, pl.Enum):
        categories = column.dtype.categories
        at = categories.replace_strict(axis, index, default=None, return_dtype=pl.Int32)
        return at.gather(column.to_physical())
    return column.replace_strict(axis, index, default=None, return_dtype=pl.Int32)


def _write_edges(
    dataset_dir: Path,
    out: Path,
    dates: np.ndarray,
    codes: np.ndarray,
    edges: pl.DataFrame | None = None,
) -> bool:
    """CSR edge lists per graph date from ``graph_edges.parquet`` (or ``edges``, its rows as the
    build holds them: codes as ``Enum``) and the graph in force per cache date; returns whether
    there are edges (the file exists, or ``edges`` is given)."""
    path = dataset_dir / GRAPH_FILE
    if edges is None:
        if not path.exists():
            return False
        edges = _read_edges(path)
    last = dates[-1].astype(date) if len(dates) else None
    edges = edges.filter(pl.col("Date") <= last)
    graph_dates = edges["Date"].unique().sort()
    # Axis positions as Int32 codes, then the string columns are dropped: joins with the axes
    # would copy every column of the edge list (at 4000 × 10 y, tens of millions of edges, this
    # step set the build's peak memory). A code not on the axis maps to null and is left out.
    axis = pl.Series("Code", codes.tolist(), dtype=pl.String)
    index = pl.int_range(axis.len(), dtype=pl.Int32, eager=True)
    total = edges.height
    mapped = pl.DataFrame(
        {
            "g": graph_dates.search_sorted(edges["Date"]).cast(pl.Int32),
            "s": _axis_positions(edges["src"], axis, index),
            "d": _axis_positions(edges["dst"], axis, index),
            "weight": edges["weight"],
        }
    )
    del edges
    mapped = mapped.drop_nulls(["s", "d"]).sort("g", "s", "d")
    if mapped.height < total:
        log.warning(
            "%s: %d of %d edges name stocks without any panel row; left out",
            path,
            total - mapped.height,
            total,
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


def whole_stocks(batches: Iterable[pl.DataFrame]) -> Iterator[pl.DataFrame]:
    """Rows in (Code, Date) order, regrouped into frames that each hold every row of their codes."""
    carry: pl.DataFrame | None = None
    for frame in batches:
        if carry is not None:
            frame = pl.concat([carry, frame])
        if not frame.height:
            continue
        last = frame["Code"][-1]
        tail = frame["Code"] == last
        carry = frame.filter(tail)
        done = frame.filter(~tail)
        if done.height:
            yield done
    if carry is not None and carry.height:
        yield carry


@dataclass(frozen=True)
class _Layout:
    """What a cache holds: column lists, feature dtype and the panel's axes."""

    path: Path
    features: list[str]
    blocks: list[str]
    targets: list[str]
    static: list[str]
    dtype: type
    dates: pl.Series
    codes: pl.Series
    schema: pl.Schema


def _layout(dataset_dir: Path, float16: bool) -> _Layout:
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
    return _Layout(
        path=panel_path,
        features=features,
        blocks=[c["block"] for c in feature_cols],
        targets=targets,
        static=[n for n in STATIC_IDS if n in features],
        dtype=np.float16 if float16 else np.float32,
        dates=scan.select(pl.col("Date").unique().sort()).collect()["Date"],
        codes=scan.select(pl.col("Code").unique().sort()).collect()["Code"],
        schema=schema,
    )


class _Filler:
    """Scatters frames of whole stocks, in (Code, Date) order and dated ``lay.dates[t0:]``, into
    the date rows ``t0:`` of ``files``; codes without rows there get the absent value."""

    def __init__(self, files: list[BlockFile], lay: _Layout, t0: int) -> None:
        self.files, self.lay, self.t0 = files, lay, t0
        self.t_len = lay.dates.len() - t0
        self.date_axis = pl.DataFrame({"Date": lay.dates.slice(t0)}).with_row_index("_t")
        self.code_axis = pl.DataFrame({"Code": lay.codes}).with_row_index("_n")
        self.next_code = 0

    def _absent(self, n0: int, n1: int) -> None:
        for f in self.files:
            f.write(f.block(self.t_len, n1 - n0), self.t0, n0)

    def add(self, rows: pl.DataFrame) -> None:
        """Write the rows of a run of whole stocks following the previous run's."""
        lay, t0, t_len = self.lay, self.t0, self.t_len
        x, y, mask, st = self.files
        # Only the keys are joined to the axes: a join of every column would copy the batch.
        cells = (
            rows.select("Date", "Code")
            .join(self.date_axis, on="Date", how="left", maintain_order="left")
            .join(self.code_axis, on="Code", how="left", maintain_order="left")
        )
        frame = rows
        del rows
        ti = cells["_t"].to_numpy()
        ni = cells["_n"].to_numpy()
        del cells
        n0 = int(ni.min())
        if n0 < self.next_code:
            raise CacheError(
                f"{lay.path}: rows are not sorted by Code (code {lay.codes[n0]} comes again after "
                f"{lay.codes[self.next_code - 1]}); rebuild the dataset"
            )
        self._absent(self.next_code, n0)
        ni = ni - n0
        width = int(ni.max()) + 1
        at = ti * width + ni  # the row's cell in a (t_len × width) block, flattened
        del ti, ni
        # The mask first: the other blocks get their absent value only in its empty cells
        # (filling whole blocks before the scatter wrote most cells twice).
        present = mask.block(t_len, width)
        present.reshape(-1)[at] = True
        mask.write(present, t0, n0)
        absent = ~present
        block = x.block(t_len, width, filled=False)
        _scatter_floats(block.reshape(t_len * width, -1), at, frame, lay.features)
        block[absent] = x.fill
        x.write(block, t0, n0)
        block = y.block(t_len, width, filled=False)
        block.reshape(t_len * width, -1)[at] = _rows_of(frame, lay.targets)
        block[absent] = y.fill
        y.write(block, t0, n0)
        if lay.static:
            block = st.block(t_len, width, filled=False)
            ids = frame.select(pl.col(lay.static).fill_null(0).cast(pl.Int16))
            block.reshape(t_len * width, -1)[at] = ids.to_numpy(order="c")
            block[absent] = st.fill
            st.write(block, t0, n0)
        self.next_code = n0 + width

    def finish(self) -> None:
        """The absent value for the codes after the last run."""
        self._absent(self.next_code, self.lay.codes.len())


def _fill(files: list[BlockFile], lay: _Layout, batches: Iterable[pl.DataFrame], t0: int) -> None:
    """Write the rows of ``batches`` (in (Code, Date) order, dated ``lay.dates[t0:]``) into the
    date rows ``t0:`` of ``files``; codes without rows there get the absent value."""
    filler = _Filler(files, lay, t0)
    for rows in whole_stocks(batches):
        filler.add(rows)
    filler.finish()


def _finish(dataset_dir: Path, tmp: Path, lay: _Layout, edges: pl.DataFrame | None) -> Path:
    """The axes, edges (``_write_edges``) and ``cache.json`` of the filled arrays in ``tmp``;
    ``tmp`` renamed to ``cache/`` (the previous cache renamed aside first, then deleted)."""
    date_values = lay.dates.to_numpy().astype("datetime64[D]")
    code_values = lay.codes.to_numpy().astype(str)
    np.save(tmp / "dates.npy", date_values)
    np.save(tmp / "codes.npy", code_values)
    has_edges = _write_edges(dataset_dir, tmp, date_values, code_values, edges)
    meta = {
        "version": CACHE_VERSION,
        "features": lay.features,
        "feature_blocks": lay.blocks,
        "targets": lay.targets,
        "static": lay.static,
        "feature_dtype": np.dtype(lay.dtype).name,
        "shape": {
            "T": lay.dates.len(),
            "N": lay.codes.len(),
            "F": len(lay.features),
            "H": len(lay.targets),
        },
        "has_edges": has_edges,
        **panel_signature(lay.path),
    }
    (tmp / "cache.json").write_text(json.dumps(meta, indent=2) + "\n")
    final = dataset_dir / CACHE_DIR
    old = dataset_dir / f"{CACHE_DIR}.old-{uuid.uuid4().hex}"
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    return final


class _Staging:
    """A cache being written: a temporary folder beside ``cache/`` and its open array files.

    ``open(lay)`` creates the four arrays of ``lay`` (absent values), written on one helper
    thread (``BlockFile``'s ``writer``: its ``pwrite`` calls overlap the filling of the next
    block); ``commit(lay)`` closes them, writes the axes, edges and ``cache.json`` and renames the
    folder to ``cache/``; ``discard()`` (also after a failed commit) waits for the writes still
    running, closes what is open and deletes the folder.
    """

    def __init__(self, dataset_dir: Path) -> None:
        self.dataset_dir = dataset_dir
        self.tmp = dataset_dir / f"{CACHE_DIR}.tmp-{uuid.uuid4().hex}"
        self.tmp.mkdir()
        self.files: list[BlockFile] = []
        self.writer: ThreadPoolExecutor | None = None

    def open(self, lay: _Layout) -> list[BlockFile]:
        t_n, n_n = lay.dates.len(), lay.codes.len()
        self.writer = ThreadPoolExecutor(1, thread_name_prefix="gogooku-cache-write")
        for name, dtype, shape, fill in (
            ("features", lay.dtype, (t_n, n_n, len(lay.features)), np.nan),
            ("targets", np.float32, (t_n, n_n, len(lay.targets)), np.nan),
            ("mask", np.bool_, (t_n, n_n), False),
            ("static", np.int16, (t_n, n_n, len(lay.static)), 0),
        ):
            self.files.append(BlockFile(self.tmp / f"{name}.npy", dtype, shape, fill, self.writer))
        return list(self.files)

    def commit(self, lay: _Layout, edges: pl.DataFrame | None = None) -> Path:
        try:
            while self.files:
                self.files.pop(0).close()
            return _finish(self.dataset_dir, self.tmp, lay, edges)
        finally:
            self.discard()

    def discard(self) -> None:
        while self.files:
            file = self.files.pop()
            try:
                file.wait()
            except Exception:  # the cache is dropped; the caller has the error
                log.debug("%s: a write failed while the cache was dropped", self.tmp)
            os.close(file.fd)
        if self.writer is not None:
            self.writer.shutdown()
            self.writer = None
        if self.tmp.exists():
            shutil.rmtree(self.tmp, ignore_errors=True)


def _write(dataset_dir: Path, lay: _Layout, fill: Callable[[list[BlockFile]], None]) -> Path:
    """Write a cache of ``lay`` (``fill`` writes the arrays' values) and rename it to ``cache/``."""
    staging = _Staging(dataset_dir)
    try:
        fill(staging.open(lay))
        return staging.commit(lay)
    finally:
        staging.discard()


class CacheWriter:
    """Writes the cache of a panel while the build writes the panel, from the same in-memory
    chunks (no second pass that reads and decodes ``panel.parquet``); the files equal
    ``write_cache`` of the finished panel byte for byte.

    ``features`` / ``blocks`` / ``targets`` are the ``features.json`` column lists (in its
    order), ``dates`` / ``codes`` the panel's sorted unique dates and codes. ``add(chunk)`` takes
    the panel's chunks in order (whole stocks, (Code, Date) order; each is cut into frames of
    ``batch_rows`` rows regrouped by stock, so memory is one such block, as in ``write_cache``);
    ``finish(edges)`` — once ``panel.parquet`` and ``graph_edges.parquet`` are in place — writes
    the axes, edges and ``cache.json`` and renames the folder to ``cache/`` (``edges``: the rows of
    ``graph_edges.parquet`` as the build holds them, saving the file's read and its string codes'
    lookup; the file is read without them); ``abort()`` drops it.
    """

    def __init__(
        self,
        dataset_dir: str | Path,
        features: Sequence[str],
        blocks: Sequence[str],
        targets: Sequence[str],
        dates: pl.Series,
        codes: pl.Series,
        *,
        float16: bool = False,
        batch_rows: int = BATCH_ROWS,
    ) -> None:
        self.dataset_dir = Path(dataset_dir)
        self._spec = {
            "path": self.dataset_dir / "panel.parquet",
            "features": list(features),
            "blocks": list(blocks),
            "targets": list(targets),
            "static": [n for n in STATIC_IDS if n in features],
            "dtype": np.float16 if float16 else np.float32,
            "dates": dates,
            "codes": codes,
        }
        self.batch_rows = batch_rows
        self._staging = _Staging(self.dataset_dir)
        self._lay: _Layout | None = None
        self._filler: _Filler | None = None

    def add(self, chunk: pl.DataFrame) -> None:
        if self._filler is None:
            self._lay = _Layout(**self._spec, schema=chunk.schema)
            self._filler = _Filler(self._staging.open(self._lay), self._lay, 0)
        for rows in whole_stocks(chunk.iter_slices(self.batch_rows)):
            self._filler.add(rows)

    def finish(self, edges: pl.DataFrame | None = None) -> Path:
        if self._filler is None:
            raise CacheError(f"{self.dataset_dir}: the cache writer got no panel rows")
        try:
            self._filler.finish()
            return self._staging.commit(self._lay, edges)
        finally:
            self.abort()

    def abort(self) -> None:
        self._staging.discard()


def write_cache(
    dataset_dir: str | Path, *, float16: bool = False, batch_rows: int = BATCH_ROWS
) -> Path:
    """Write ``dataset_dir/cache/`` from ``panel.parquet`` and ``features.json``; see module doc."""
    dataset_dir = Path(dataset_dir)
    lay = _layout(dataset_dir, float16)
    columns = ["Code", "Date", *lay.features, *lay.targets]

    batches = panel_batches(lay.path, batch_rows, columns)
    return _write(dataset_dir, lay, lambda files: _fill(files, lay, batches, 0))


def panel_batches(
    path: Path, batch_rows: int, columns: Sequence[str] | None = None
) -> Iterator[pl.DataFrame]:
    """The rows of the Parquet file ``path`` in file order, one row group at a time, in frames of
    at most ``batch_rows`` rows. Row groups are read one by one: ``ParquetFile.iter_batches``
    pre-buffers the column chunks of the row groups still to come and its memory grows with the
    file (measured: ~0.2 GB more per 262,144-row batch of the 4000 × 10 y panel)."""
    parquet = pq.ParquetFile(path)
    for i in range(parquet.num_row_groups):
        group = pl.from_arrow(parquet.read_row_group(i, columns=columns))
        yield from group.iter_slices(batch_rows)
        del group


def _reusable_dates(dataset_dir: Path, lay: _Layout, first: date) -> int | None:
    """How many leading dates of the existing cache a cache of ``lay`` can copy when the panel
    changed only on dates >= ``first`` (None: the cache is missing or laid out differently)."""
    path = dataset_dir / CACHE_DIR
    try:
        meta = json.loads((path / "cache.json").read_text())
        old_dates = np.load(path / "dates.npy")
        old_codes = np.load(path / "codes.npy")
    except (OSError, ValueError):
        return None
    keep = int(np.searchsorted(old_dates, np.datetime64(first, "D")))
    new_dates = lay.dates.to_numpy().astype("datetime64[D]")
    same = (
        meta.get("version") == CACHE_VERSION
        and meta.get("features") == lay.features
        and meta.get("feature_blocks") == lay.blocks
        and meta.get("targets") == lay.targets
        and meta.get("static") == lay.static
        and meta.get("feature_dtype") == np.dtype(lay.dtype).name
        and old_codes.tolist() == lay.codes.to_list()
        and np.array_equal(old_dates[:keep], new_dates[:keep])
        and (keep == len(new_dates) or new_dates[keep] >= np.datetime64(first, "D"))
    )
    return keep if same else None


def extend_cache(
    dataset_dir: str | Path,
    tail: pl.DataFrame,
    first: date,
    *,
    float16: bool = False,
    batch_rows: int = BATCH_ROWS,
) -> Path:
    """Rewrite the cache after ``panel.parquet`` changed only on dates >= ``first``.

    ``tail`` holds every panel row dated >= ``first`` (sorted by (Code, Date)). When the existing
    cache has the same columns, feature dtype and code axis, its date rows before ``first`` are
    copied (``os.copy_file_range``) and only ``tail`` is scattered; otherwise (a new code,
    another column list or dtype) the whole cache is written by ``write_cache``. Either way the
    files equal ``write_cache(dataset_dir, float16=float16)`` of the new panel byte for byte.
    """
    dataset_dir = Path(dataset_dir)
    if tail.height and tail["Date"].min() < first:
        raise CacheError(f"{dataset_dir}: extend_cache got rows dated before {first}")
    lay = _layout(dataset_dir, float16)
    keep = _reusable_dates(dataset_dir, lay, first)
    tail_rows = pl.scan_parquet(lay.path).filter(pl.col("Date") >= first).select(pl.len())
    if keep is None or tail_rows.collect().item() != tail.height:
        log.info(
            "%s: cache rewritten whole (its layout or rows before %s changed)", dataset_dir, first
        )
        return write_cache(dataset_dir, float16=float16, batch_rows=batch_rows)
    old = dataset_dir / CACHE_DIR

    def fill(files: list[BlockFile]) -> None:
        for f, name in zip(files, ("features", "targets", "mask", "static"), strict=True):
            f.copy_dates(old / f"{name}.npy", keep)
        _fill(files, lay, tail.iter_slices(batch_rows), keep)

    return _write(dataset_dir, lay, fill)
