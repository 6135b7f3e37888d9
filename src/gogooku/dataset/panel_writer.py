"""Writing the panel file and the block files beside it.

``write_panel`` streams the panel's stock chunks, in (Code, Date) order, into a temporary
``panel.parquet`` (``pyarrow`` writer, LZ4, row groups of at most 262,144 rows), which replaces
the old panel (``gogooku.io.atomic_path``) after the label-copy check on the check's sampled
stocks. Float columns are written without Parquet dictionaries (they would overflow; building
them cost most of the write). LZ4 rather than zstd level 1: on 600,000 rows × 408 columns of a
1000 × 5 y panel it wrote with 28 % less CPU and read back (Polars, every column) with 35 %
less, for a file 13 % larger (424 against 377 MB). ``write_artifacts`` writes the files a block returns
(rows keyed by ``Date``, e.g. ``graph_edges.parquet``).

The Parquet encoding of a chunk runs on a helper thread while the build thread hands the same
chunk to ``beside`` (the dense cache writer). The helper gets only pyarrow objects (the chunk's
Arrow table and the writer), never a Polars one: Polars frames lock themselves, and a thread
holding such a lock while it waits for the GIL deadlocks another that asks for the lock holding
the GIL (seen once when the cache writer ran on the helper thread instead; ``docs/dataset.md``,
"Performance, fifth round").
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl
import polars.selectors as cs
import pyarrow.parquet as pq

from gogooku.dataset.labels import assert_no_label_copies
from gogooku.dataset.plan import BuildError
from gogooku.io import atomic_path, atomic_write_parquet

LABEL_CHECK_STOCKS = 40  # stocks the label-copy check samples (assert_no_label_copies)
PANEL_ROW_GROUP = 512 * 512
PANEL_CODEC = "lz4"  # Parquet's LZ4_RAW


@dataclass
class PanelStats:
    """What the build records of a written panel (``metadata.json``)."""

    rows: int
    stocks: int
    dates: int
    schema_hash: str


def label_check_codes(keys: pl.DataFrame, sample_stocks: int = LABEL_CHECK_STOCKS) -> pl.Series:
    """The codes ``assert_no_label_copies`` samples: the most rows first, ties by code."""
    counts = keys.group_by("Code").len().sort(["len", "Code"], descending=[True, False])
    return counts["Code"].head(sample_stocks).sort()


def _dictionary_columns(schema: pl.Schema) -> list[str]:
    """Columns the panel writer dictionary-encodes: all but the float ones. A float feature has
    nearly as many distinct values as rows, so its dictionary overflows and is thrown away after
    the work of building it (measured on a 400,000-row panel slice: writing took 5.7 CPU-s with
    dictionaries on every column, 1.5 without them on floats, and the file shrank 325 -> 229 MB).
    """
    return [name for name, dtype in schema.items() if not dtype.is_float()]


def write_panel(
    path: Path,
    chunks: Iterable[pl.DataFrame],
    feature_cols: Sequence[str],
    label_cols: Sequence[str],
    check_codes: pl.Series,
    beside: Callable[[pl.DataFrame], None] | None = None,
) -> PanelStats:
    """Stream ``chunks`` (disjoint sets of codes, in (Code, Date) order) into ``path`` (LZ4).

    Each chunk is encoded on a helper thread while ``beside`` (when given) gets it on the
    calling thread; the next chunk is drawn once both are done, so no more chunks live than with
    the two in turn (module doc). The rows of ``check_codes`` are kept aside and checked with
    ``assert_no_label_copies`` before the temporary file replaces ``path``; row groups are of at
    most 262,144 rows (as ``polars.DataFrame.write_parquet`` writes them).
    """
    writer: pq.ParquetWriter | None = None
    schema = None
    rows = stocks = 0
    dates: list[pl.Series] = []
    sample: list[pl.DataFrame] = []
    with (
        atomic_path(path) as tmp,
        ThreadPoolExecutor(1, thread_name_prefix="gogooku-panel-encode") as encoder,
    ):
        try:
            for chunk in chunks:
                table = chunk.to_arrow()
                if writer is None:
                    schema = chunk.schema
                    writer = pq.ParquetWriter(
                        tmp,
                        table.schema,
                        compression=PANEL_CODEC,
                        use_dictionary=_dictionary_columns(chunk.schema),
                    )
                elif chunk.schema != schema:
                    raise BuildError(
                        f"{path}: a stock chunk has columns {dict(chunk.schema)}, the first had "
                        f"{dict(schema)}"
                    )
                encoded: Future[None] = encoder.submit(
                    writer.write_table, table, row_group_size=PANEL_ROW_GROUP
                )
                del table
                try:
                    if beside is not None:
                        beside(chunk)
                    rows += chunk.height
                    stocks += chunk["Code"].n_unique()
                    dates.append(chunk["Date"].unique())
                    sample.append(chunk.filter(pl.col("Code").is_in(check_codes.implode())))
                    del chunk
                finally:
                    encoded.result()
            if writer is None:
                raise BuildError(f"{path}: the build produced no panel chunk")
            writer.close()
            writer = None
            assert_no_label_copies(
                pl.concat(sample), feature_cols, label_cols, sample_stocks=LABEL_CHECK_STOCKS
            )
        finally:
            if writer is not None:
                writer.close()
    text = json.dumps([[c, str(t)] for c, t in schema.items()])
    return PanelStats(
        rows=rows,
        stocks=stocks,
        dates=pl.concat(dates).n_unique(),
        schema_hash=hashlib.sha256(text.encode()).hexdigest(),
    )


def as_block_file(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` as its block file holds it: ``Enum`` and ``Categorical`` columns (the graph's
    codes, held as such in memory, their categories the build's codes) as strings."""
    return frame.with_columns((cs.enum() | cs.categorical()).cast(pl.String))


def write_artifacts(
    path: Path, artifacts: Mapping[str, pl.DataFrame], first: date, end: date, extend: bool
) -> dict[str, pl.DataFrame]:
    """Write block files (rows keyed by ``Date``, :func:`as_block_file`) dated from the last
    date <= ``first`` to ``end``; returns each file's rows of this build, as held in memory
    (codes as ``Enum``: the cache writer maps them to its code axis without the strings).

    The row dated on or before ``first`` is kept because it is in force on ``first`` (e.g. the
    graph built on the week's refresh day). An incremental build appends to the old file.
    """
    written = {}
    for file_name, frame in artifacts.items():
        frame = frame.filter(pl.col("Date") <= end)
        opening = frame.filter(pl.col("Date") <= first)["Date"].max()
        if opening is not None:
            frame = frame.filter(pl.col("Date") >= opening)
        old_path = path / file_name
        rows = as_block_file(frame)
        if extend and old_path.exists() and frame.height:
            old = pl.read_parquet(old_path).filter(pl.col("Date") < frame["Date"].min())
            rows = pl.concat([old, rows], how="vertical_relaxed")
        atomic_write_parquet(old_path, rows, compression="zstd", compression_level=1)
        written[file_name] = frame
    return written
