"""One read of each side dataset per build, cut by stock chunk (``SideReader``).

The per-stock blocks run once per stock chunk (``gogooku.dataset.compute``) and read their side
datasets through ``BlockContext.store``. Read straight from the raw store, every chunk decoded
each dataset whole (zstd Parquet, and the point-in-time resolution of revised records) only to
keep its own codes (``ops.own_codes``): 10 full reads per dataset at 4,000 stocks.

A ``SideReader`` stands in for the store during a chunked build. The first ``scan`` of a dataset
it spills streams the store's rows once into the build's spill folder (uncompressed Parquet: encoding it costs about one zstd read of the
dataset, lz4 a third more), cut into *pieces* by stock chunk and numbered in the store's
row order:

    piece(Code) = #{chunk b : first code of b ≤ Code}       (0: before the first chunk)
    __row       = the row's position in ``store.scan(dataset)``

Each later ``scan`` returns the pieces concatenated and sorted by ``__row`` (then dropped): the
same rows in the same order as the store's scan, so every block computes the same values. A
chunk's ``own_codes`` filter (``Code`` in the chunk's codes) is pushed below the sort into the
Parquet scan, whose per-file ``Code`` statistics skip every other chunk's piece; only the
chunk's rows are decoded and sorted. A dataset without a String ``Code`` column is stored as one
file in the store's order. The rows are streamed to the files, except a dataset with revised
records, whose point-in-time resolution is collected in memory once (its joins' row order is the
in-memory engine's, as when the blocks read the store). Datasets not in ``spilled`` pass through to the store, as do all other
attributes; the builder spills the sources of the chunked blocks except the base tables (the
bars, read per chunk for columns the base frame lacks, would cost more to spill than their
chunk reads), and its cross-sectional blocks read the store itself (once each: a whole-dataset
read from the pieces would add a sort of every row).

Cost (1000 stocks × 5 y, one dataset, CPU-s): ``markets_breakdown`` store read with a chunk's
``own_codes`` 0.36, spill 1.0, a chunk's read from the pieces 0.05 at 11 chunks; the spill pays
for itself from about three chunks.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

import polars as pl

from gogooku.dataset.stages import StageClock

ROW = "__row"
PIECE = "__piece"
CODE = "Code"


class SideReader:
    """The store seen by a chunked build's blocks: ``spilled`` datasets read once (module doc).

    ``bounds`` are the first codes of the chunks, ascending; ``folder`` receives one sub-folder
    per spilled dataset. ``reads`` counts the ``scan`` calls that reached the store, per dataset.
    """

    def __init__(
        self,
        store: object,
        bounds: Iterable[str],
        spilled: Iterable[str],
        folder: Path,
        clock: StageClock | None = None,
    ) -> None:
        self.store = store
        self.bounds = pl.Series(CODE, list(bounds), dtype=pl.String)
        self.spilled = frozenset(spilled)
        self.folder = folder
        self.clock = clock or StageClock()
        self.reads: dict[str, int] = {}
        self._frames: dict[str, pl.LazyFrame] = {}

    def __getattr__(self, name: str) -> object:
        return getattr(self.store, name)

    def _revised(self, dataset: str) -> bool:
        """Whether the store holds superseded versions of ``dataset``'s rows (vintages)."""
        vintage_files = getattr(self.store, "vintage_files", None)
        return vintage_files is not None and bool(vintage_files(dataset))

    def _read(self, dataset: str) -> pl.LazyFrame:
        self.reads[dataset] = self.reads.get(dataset, 0) + 1
        return self.store.scan(dataset)

    def scan(self, dataset: str) -> pl.LazyFrame:
        """The rows of ``store.scan(dataset)``, in its order; see the module doc."""
        if dataset not in self.spilled:
            return self._read(dataset)
        if dataset not in self._frames:
            with self.clock.stage("side_spill"):
                self._frames[dataset] = self._spill(dataset)
        return self._frames[dataset]

    def _spill(self, dataset: str) -> pl.LazyFrame:
        rows = self._read(dataset)
        schema = rows.collect_schema()
        if self._revised(dataset):
            # Revised records are resolved by joins (``gogooku.dataset.point_in_time``): the rows
            # keep the in-memory engine's order, as when the blocks read the store.
            rows = rows.collect().lazy()
        folder = self.folder / dataset
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        if schema.get(CODE) != pl.String:
            path = folder / "all.parquet"
            rows.sink_parquet(path, compression="uncompressed")
            return pl.scan_parquet(path)
        piece = pl.lit(self.bounds).search_sorted(pl.col(CODE), side="right").fill_null(0)
        rows.with_row_index(ROW).with_columns(piece.alias(PIECE)).sink_parquet(
            pl.PartitionBy(folder, key=PIECE, include_key=False),
            compression="uncompressed",
            mkdir=True,
        )
        files = sorted(folder.rglob("*.parquet"))
        if not files:
            return pl.LazyFrame(schema=schema)
        return pl.scan_parquet(files, hive_partitioning=False).sort(ROW).drop(ROW)
