"""Computing the panel rows: the blocks, stock chunk by stock chunk, and the labels.

Memory (stock chunks of ``chunk_stocks`` codes): blocks flagged ``cross_sectional`` (a row's
value reads other stocks' rows of its date: sector means, the TOPIX series taken from the base
rows, the correlation graph) or ``whole_frame`` (the morning-session block: its cost is the read
of the bars, which each chunk would repeat whole) and blocks with ``compute_artifacts`` run once
on the whole base frame, as do the labels (``_sector`` labels are cross-sectional); their
columns are cut into the chunks' row ranges and spilled to Arrow IPC files in a temporary folder
of the dataset. Every other block runs chunk by chunk on the chunk's base rows (windows are per
stock, so the values equal a whole-frame run); each chunk gets its spilled columns and runs the
derived blocks. Everything runs on the calling thread. The rows do not depend on
``chunk_stocks``. Per-stock blocks that read a side dataset keep only the chunk's codes of it
(``ops.own_codes``) before their per-stock work; with at least ``SIDE_SPILL_MIN_CHUNKS`` (4)
chunks they read it through a ``SideReader`` (``gogooku.dataset.side_reader``), which reads each
dataset from the store once and hands each chunk its own stocks' rows. With several chunks the
base rows are cut into the chunks' rows and spilled as well, and the whole base frame is freed
before the first chunk is computed.

Derived blocks (two stages): stage 1 computes every plain block; stage 2 runs the derived blocks
(``requires``) on the base rows of the build range with the stage-1 feature columns attached
(so derived features are point-wise in those columns: no windows over their history). A block
with a ``compute_artifacts`` attribute (``gogooku.features.graph.ArtifactBlock``) also returns
files keyed by ``Date`` (``graph_edges.parquet``), collected for the dataset folder.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path

import polars as pl
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from gogooku.calendar import TradingCalendar
from gogooku.dataset.asof import asof_join
from gogooku.dataset.base import BASE_SOURCES, sorted_by_keys
from gogooku.dataset.labels import compute_labels, label_names
from gogooku.dataset.plan import BuildError, requires
from gogooku.dataset.side_reader import SideReader
from gogooku.dataset.stages import StageClock
from gogooku.features.base import Block, BlockContext
from gogooku.logs import console

KEYS = ("Code", "Date")
LABEL_DTYPE = "Float32"
# Chunks from which the side datasets are read once through a ``SideReader``: its spill costs
# about three chunks' own store reads (1000 stocks × 5 y: the build at 3 chunks was slower with it).
SIDE_SPILL_MIN_CHUNKS = 4


def _run_block(
    block: Block,
    ctx: BlockContext,
    keys: pl.DataFrame,
    artifacts: dict[str, pl.DataFrame] | None = None,
) -> pl.DataFrame:
    """Run one block and return its feature columns aligned row by row with ``keys``.

    A block with ``compute_artifacts`` (e.g. the graph block) also returns dataset files; they are
    collected into ``artifacts``.
    """
    compute_artifacts = getattr(block, "compute_artifacts", None)
    if compute_artifacts is not None:
        lazy, files = compute_artifacts(ctx)
        out = lazy.collect()
        if artifacts is not None:
            artifacts.update(files)
    else:
        out = block.compute(ctx).collect()
    expected = [*KEYS, *block.feature_names]
    if sorted(out.columns) != sorted(expected):
        extra = sorted(set(out.columns) - set(expected))
        missing = sorted(set(expected) - set(out.columns))
        raise BuildError(
            f"block {block.name!r} returned unexpected columns: missing {missing}, extra {extra}"
        )
    lo, hi = keys["Date"].min(), keys["Date"].max()
    out = out.filter(pl.col("Date").is_between(lo, hi))
    casts = [pl.col(f.name).cast(getattr(pl, f.dtype)) for f in block.features]
    # Rows equal to ``keys`` (unique base rows) cannot hold duplicates; only other row sets
    # need the (hashing) duplicate check before the join.
    if out.height == keys.height and out.select(KEYS).equals(keys):
        return out.select(casts)
    if out.select(pl.struct(KEYS).is_duplicated().any()).item():
        raise BuildError(f"block {block.name!r} returned duplicate (Code, Date) rows")
    aligned = keys.join(out, on=list(KEYS), how="left", maintain_order="left")
    if out.height > keys.height or aligned.height != keys.height:
        raise BuildError(f"block {block.name!r} returned rows that are not base-frame rows")
    return aligned.select(casts)


def runs_on_whole_frame(block: Block) -> bool:
    """Whether ``block`` runs once on the whole base frame: its rows read other stocks' rows, or
    it is marked ``whole_frame`` (a base table read once instead of once per chunk).

    Blocks that write dataset files (``compute_artifacts``) run once too, so their files are
    written once.
    """
    return (
        block.cross_sectional
        or block.whole_frame
        or getattr(block, "compute_artifacts", None) is not None
    )


def _chunk_ranges(keys: pl.DataFrame, chunk_stocks: int) -> list[tuple[int, int]]:
    """(row offset, row count) of each run of ``chunk_stocks`` consecutive codes in ``keys``.

    ``keys`` is sorted by (Code, Date), so a chunk of codes is a contiguous row range. An empty
    ``keys`` is one empty chunk.
    """
    if keys.height == 0:
        return [(0, 0)]
    lengths = (
        keys.group_by("Code", maintain_order=True)
        .len()
        .group_by(pl.int_range(pl.len()).floordiv(chunk_stocks).alias("chunk"), maintain_order=True)
        .agg(pl.col("len").sum())["len"]
        .to_list()
    )
    offsets = [0]
    for length in lengths[:-1]:
        offsets.append(offsets[-1] + length)
    return list(zip(offsets, lengths, strict=True))


class _Spill:
    """Per-chunk column groups kept on disk (Arrow IPC) until the chunk is assembled."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.parts: dict[int, list[Path]] = {}

    def put(self, chunk: int, name: str, frame: pl.DataFrame) -> None:
        file = self.folder / f"chunk{chunk}.{name}.arrow"
        frame.write_ipc(file, compression="uncompressed")
        self.parts.setdefault(chunk, []).append(file)

    def take(self, chunk: int) -> list[pl.Series]:
        """The chunk's spilled columns (files are deleted once read)."""
        columns: list[pl.Series] = []
        for file in self.parts.pop(chunk, []):
            columns += pl.read_ipc(file).get_columns()
            file.unlink()
        return columns


def _run_timed(
    block: Block,
    ctx: BlockContext,
    keys: pl.DataFrame,
    timings: dict[str, float],
    artifacts: dict[str, pl.DataFrame],
    clock: StageClock,
) -> pl.DataFrame:
    """``_run_block`` adding its seconds to ``timings[block.name]`` (summed over chunks) and to
    the ``blocks`` stage of ``clock``."""
    t0 = time.perf_counter()
    with clock.stage("blocks"):
        out = _run_block(block, ctx, keys, artifacts)
    timings[block.name] = round(timings.get(block.name, 0.0) + time.perf_counter() - t0, 3)
    return out


def panel_chunks(
    blocks: Sequence[Block],
    base: pl.DataFrame,
    labels: pl.DataFrame | None,
    calendar: TradingCalendar,
    store,
    first: date,
    end: date,
    chunk_stocks: int,
    spill_dir: Path,
    show_progress: bool,
    timings: dict[str, float],
    artifacts: dict[str, pl.DataFrame],
    *,
    clock: StageClock | None = None,
) -> Iterator[pl.DataFrame]:
    """Yield the panel rows dated first..end (keys, features in block order, then ``labels``'
    columns when given) chunk by chunk, in (Code, Date) order.

    Blocks that run on the whole frame (:func:`runs_on_whole_frame`) run once on the whole ``base`` and their
    columns, sliced by chunk, wait in ``spill_dir``; every other plain block runs on the base rows
    of one chunk of ``chunk_stocks`` codes at a time (their values depend only on the stock's own
    rows, so they equal a whole-frame run); derived blocks run on the chunk's rows with the
    stage-1 columns attached. ``labels`` (``Code, Date`` + label columns, computed on the whole
    base since sector-relative labels read the cross-section) is aligned to the panel rows.
    From ``SIDE_SPILL_MIN_CHUNKS`` chunks on the chunked blocks read their side datasets (not the
    base tables) through a :class:`~gogooku.dataset.side_reader.SideReader` (each read once from
    ``store``); with several chunks each
    chunk's base rows wait in ``spill_dir`` too, so the whole base frame is not held while the
    chunks are computed. ``base`` is consumed: when it has rows after ``end`` (the labels'
    look-ahead), its columns are moved out as they are cut to ``end`` (``_rows_until``). Records block seconds (summed over chunks) in ``timings``, block files
    in ``artifacts`` (held on disk in ``spill_dir`` while the chunks are computed: they are in
    ``artifacts`` once the last chunk was taken) and the driver's stages in ``clock``.
    """
    clock = clock or StageClock()
    with clock.stage("base_sort"):
        block_base = sorted_by_keys(_rows_until(base, end))
        del base
        keys = block_base.filter(pl.col("Date") >= first).select(KEYS)
        ranges = _chunk_ranges(keys, chunk_stocks)
    cross = [b for b in blocks if not requires(b) and runs_on_whole_frame(b)]
    plain = [b for b in blocks if not requires(b) and not runs_on_whole_frame(b)]
    derived = [b for b in blocks if requires(b)]
    order = [*KEYS, *(f.name for b in blocks for f in b.features)]
    spill = _Spill(spill_dir)
    # The chunks' store: the side datasets of the chunked blocks read once (the base tables are
    # read by the blocks that need more of them than the base frame holds, as before).
    chunk_store = store
    if len(ranges) >= SIDE_SPILL_MIN_CHUNKS:
        chunk_store = SideReader(
            store,
            [keys["Code"][offset] for offset, _ in ranges],
            {s for b in (*plain, *derived) for s in b.sources} - set(BASE_SOURCES),
            spill_dir / "side",
            clock,
        )
    with Progress(
        TextColumn("[bold]build[/] {task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} block runs"),
        TimeElapsedColumn(),
        console=console,
        disable=not show_progress,
        transient=False,
    ) as progress:
        task = progress.add_task(
            "blocks", total=len(cross) + len(ranges) * (len(blocks) - len(cross))
        )
        # Frames derived from the store alone, computed by the first block (chunk) that needs
        # them and reused by the others (``BlockContext.shared``).
        shared: dict[str, pl.DataFrame] = {}

        def context(rows: pl.DataFrame, source: object) -> BlockContext:
            return BlockContext(
                base=rows.lazy(),
                calendar=calendar,
                store=source,
                asof_join=asof_join,
                shared=shared,
            )

        whole = context(block_base, store)
        # The labels wait on disk from the start: held through the cross-sectional blocks, the
        # whole panel's label columns (~0.6 GB at 4000 × 10 y) added to those blocks' peak.
        with clock.stage("spill"):
            if labels is not None:
                label_cols = [c for c in labels.columns if c not in KEYS]
                if not labels.select(KEYS).equals(keys):
                    labels = keys.join(labels, on=list(KEYS), how="left", maintain_order="left")
                for i, (offset, length) in enumerate(ranges):
                    spill.put(i, "labels", labels.select(label_cols).slice(offset, length))
                del labels
        for block in cross:
            progress.update(task, description=f"{block.name} (all stocks)")
            out = _run_timed(block, whole, keys, timings, artifacts, clock)
            with clock.stage("spill"):
                for i, (offset, length) in enumerate(ranges):
                    spill.put(i, block.name, out.slice(offset, length))
            del out
            progress.advance(task)
        del whole
        # Block files (the graph's edge lists: ~0.6 GB at 4000 × 10 y) wait on disk during the
        # chunk loop and are read back after its last chunk.
        with clock.stage("spill"):
            held = {}
            for name, frame in artifacts.items():
                held[name] = spill_dir / f"artifact.{name}.arrow"
                frame.write_ipc(held[name], compression="uncompressed")
            artifacts.clear()
        with clock.stage("spill"):
            bases = _Spill(spill_dir / "base")
            bases.folder.mkdir()
            if len(ranges) > 1:
                base_codes = block_base["Code"]
                for i, (offset, length) in enumerate(ranges):
                    codes = keys["Code"].slice(offset, length).unique(maintain_order=True)
                    # The chunk's rows lie between its first and last code (sorted rows).
                    lo = base_codes.search_sorted(codes[0], side="left")
                    hi = base_codes.search_sorted(codes[-1], side="right")
                    rows = block_base.slice(lo, hi - lo)
                    bases.put(i, "base", rows.filter(pl.col("Code").is_in(codes.implode())))
                del base_codes, rows
                del block_base
        for i, (offset, length) in enumerate(ranges):
            chunk_keys = keys.slice(offset, length)
            # One chunk runs on the whole base frame (also when no row falls in first..end).
            with clock.stage("spill"):
                chunk_base = block_base if len(ranges) == 1 else pl.DataFrame(bases.take(i))
            ctx = context(chunk_base, chunk_store)
            parts = [chunk_keys]
            for block in plain:
                progress.update(task, description=f"{block.name} (chunk {i + 1}/{len(ranges)})")
                parts.append(_run_timed(block, ctx, chunk_keys, timings, artifacts, clock))
                progress.advance(task)
            with clock.stage("spill"):
                spilled = spill.take(i)
            features = set(order[len(KEYS) :])
            stage1 = [col for part in parts[1:] for col in part.get_columns()]
            stage1 += [col for col in spilled if col.name in features]
            label_columns = [col for col in spilled if col.name not in features]
            if derived:
                # Stage-2 rows are exactly ``chunk_keys`` (same order), so stage-1 columns hstack
                # on; a feature named like a base column (``is_halt_20201001``) replaces it.
                with clock.stage("assemble"):
                    stage_base = chunk_base.filter(pl.col("Date") >= first)
                    stage_base = stage_base.drop(
                        [c.name for c in stage1 if c.name in stage_base.columns]
                    ).hstack(stage1)
                stage_ctx = context(stage_base, chunk_store)
                for block in derived:
                    progress.update(task, description=f"{block.name} (chunk {i + 1}/{len(ranges)})")
                    out = _run_timed(block, stage_ctx, chunk_keys, timings, artifacts, clock)
                    stage1 += out.get_columns()
                    progress.advance(task)
                del stage_base, stage_ctx
            with clock.stage("assemble"):
                chunk = chunk_keys.hstack(stage1).select(order).hstack(label_columns)
            # Free this chunk before the next one is computed (the consumer holds it meanwhile).
            del parts, stage1, spilled, label_columns, chunk_base, ctx
            yield chunk
            del chunk
        with clock.stage("spill"):
            for name, file in held.items():
                artifacts[name] = pl.read_ipc(file)
                file.unlink()


def _rows_until(frame: pl.DataFrame, end: date) -> pl.DataFrame:
    """The rows of ``frame`` dated on or before ``end``; ``frame`` itself when that is all of
    them. Otherwise the result is made column by column, each of ``frame``'s columns moved out
    (``drop_in_place``) and freed once filtered, so the frame is never held twice: ``frame`` is
    left without columns."""
    keep = frame["Date"] <= end
    if keep.all():
        return frame
    return pl.DataFrame([frame.drop_in_place(name).filter(keep) for name in list(frame.columns)])


def attach_labels(features: pl.DataFrame, labels: pl.DataFrame) -> pl.DataFrame:
    """Features + label columns on the same (Code, Date) rows, without copying the features."""
    features, labels = sorted_by_keys(features), sorted_by_keys(labels)
    label_cols = [c for c in labels.columns if c not in KEYS]
    if labels.height == features.height and labels.select(KEYS).equals(features.select(KEYS)):
        return features.hstack(labels.select(label_cols).get_columns())
    joined = features.select(KEYS).join(labels, on=list(KEYS), how="left", maintain_order="left")
    return features.hstack(joined.select(label_cols).get_columns())


def panel_labels(base: pl.DataFrame, first: date, end: date) -> pl.DataFrame:
    """``Code, Date`` + the label columns (Float32) of the base rows dated first..end."""
    return (
        compute_labels(base)
        .filter(pl.col("Date").is_between(first, end))
        .with_columns(pl.col(label_names()).cast(getattr(pl, LABEL_DTYPE)))
        .collect()
    )
