"""Build a point-in-time panel: raw store -> base frame -> blocks -> labels -> dataset folder.

``build_dataset(name, start, end, ...)`` writes ``$GOGOOKU_HOME/datasets/<name>/``:

- ``panel.parquet`` (zstd): ``Code`` (String), ``Date`` (Date), the feature columns (their
  declared dtype, Float32 unless declared otherwise), the label columns (Float32); one row per
  (Code, trading day in start..end) while listed, sorted by (Code, Date);
- ``features.json``: ``{"dataset": name, "columns": [...], "skipped": [...]}`` with, for every
  column, ``name``, ``role`` (key | feature | target), ``block``, ``description``, ``formula``,
  ``sources``, ``window``, ``availability`` (rule key, rule text, per-source rule lines) and
  ``dtype``; ``skipped`` lists ``{"block", "reason"}`` for every requested block left out;
- ``metadata.json``: rows, stocks, dates, date range, blocks, warm-up, schema hash, source
  catalog hashes, build seconds, peak RSS, code version, whether the build was incremental.

History: the base frame starts ``warmup`` trading days before ``start`` (``warmup`` = the longest
block lookback unless ``--warmup-days`` overrides it) and runs up to 21 trading days after
``end`` where data exists, for the labels only — blocks see rows up to ``end``.

Incremental: if the dataset exists with the same start, blocks and warm-up and an earlier end,
only the new trading days are computed (from a base frame starting ``2 × warmup`` trading days
before the first new day), appended, and the labels of the last 21 trading days of the old panel
are recomputed (they now see more future). Rows must equal a full rebuild's; rolling sums can
differ in the last float bits (their running sums start at a different row), and a feature whose
value depends on more than twice its block's declared lookback (an unbounded EMA) can differ
by more. If the raw data of old days was revised after the first build, only a ``--full``
rebuild picks that up. The panel file is still rewritten whole (its rows are sorted by
(Code, Date), so new dates fall inside every stock's run); the cache copies its unchanged date
rows and scatters only the relabelled and new days (``extend_cache``), unless a new code
appeared (then it is written whole).

Missing sources: a requested block one of whose non-base sources has no rows in the raw store
(the plan lacks it, or prices were imported without side data) is skipped with one warning and
listed under ``skipped``; the rest of the build goes on. So is a block one of whose
``required_columns`` (Premium-only fields of a dataset every plan has, such as the bars' morning
session ``MO`` read by ``am``) holds no non-null value in the store.

Derived blocks (two stages): a block with a non-empty ``requires`` attribute (a tuple of block
names, see ``gogooku.features.interactions.DerivedBlock``) reads other blocks' feature columns.
Stage 1 computes every plain block; stage 2 runs the derived blocks on the base rows of the
build range with the stage-1 feature columns attached (so derived features are point-wise in
those columns: no windows over their history); it may require only plain blocks. A derived block
whose required block is not built is skipped like a block with a missing source. A block with a
``compute_artifacts`` attribute (``gogooku.features.graph.ArtifactBlock``) also returns files
keyed by ``Date`` (``graph_edges.parquet``), written next to the panel.

Memory (stock chunks of ``chunk_stocks`` codes, default 400): blocks flagged
``cross_sectional`` (a row's value reads other stocks' rows of its date: sector means, the TOPIX
series taken from the base rows, the correlation graph) and blocks with ``compute_artifacts`` run
once on the whole base frame, as do the labels (``_sector`` labels are cross-sectional); their
columns are cut into the chunks' row ranges and spilled to Arrow IPC files in a temporary folder
of the dataset. Every other block runs chunk by chunk on the chunk's base rows (windows are per
stock, so the values equal a whole-frame run); each chunk gets its spilled columns, runs the
derived blocks and is appended to a temporary ``panel.parquet`` (``pyarrow`` writer), which
replaces the old panel after the label-copy check on the check's sampled stocks. The panel does
not depend on ``chunk_stocks``. Per-stock blocks that read a side dataset keep only the chunk's
codes of it (``ops.own_codes``) before their per-stock work. Float columns of the panel are
written without Parquet dictionaries (they would overflow; building them cost most of the
write). A full build writes the dense cache from the same chunks as they go to the panel file
(``gogooku.dataset.cache_writer.CacheWriter``: byte-identical to ``write_cache`` of the panel,
without reading the panel back); its folder is renamed into place after the panel and the block
files.

Every output write is atomic (temporary file + ``os.replace``); ``metadata.json`` is written last.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import resource
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from gogooku.calendar import TradingCalendar
from gogooku.dataset.asof import asof_join
from gogooku.dataset.base import BASE_SOURCES, build_base
from gogooku.dataset.cache_writer import CacheWriter, extend_cache, panel_batches, whole_stocks
from gogooku.dataset.labels import (
    LABEL_LOOKAHEAD,
    assert_no_label_copies,
    compute_labels,
    label_formula,
    label_names,
)
from gogooku.errors import GogookuError
from gogooku.features.availability import AVAILABILITY, describe_source
from gogooku.features.base import Block, BlockContext
from gogooku.io import atomic_write_json, atomic_write_parquet, code_version
from gogooku.logs import console
from gogooku.settings import Settings, get_settings

log = logging.getLogger(__name__)

KEYS = ("Code", "Date")
LABEL_DTYPE = "Float32"
# An incremental build reads this many times the warm-up before the first new day, so features
# that reach a little past their declared lookback (windows counted over non-null values, EMA
# seeds) come out as in a full rebuild.
INCREMENTAL_HISTORY_FACTOR = 2
# Stocks per chunk of a full build: ~400 stocks × 10 years of all blocks' working frames fit a
# few GB; the result does not depend on it.
DEFAULT_CHUNK_STOCKS = 400
LABEL_CHECK_STOCKS = 40  # stocks the label-copy check samples (assert_no_label_copies)
PANEL_ROW_GROUP = 512 * 512


class BuildError(GogookuError, ValueError):
    """The build request or a block's output is invalid."""


@dataclass(frozen=True)
class BuildResult:
    path: Path
    rows: int
    stocks: int
    dates: int
    start: date
    end: date
    blocks: tuple[str, ...]
    incremental: bool
    seconds: float


# -- small utilities ---------------------------------------------------------------------------
def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def source_hash(store, dataset: str) -> str | None:
    """Hash of a raw dataset: of its catalog units' content hashes, else of its Parquet files."""
    digest = hashlib.sha256()
    catalog = getattr(store, "catalog", None)
    if catalog is not None:
        units = sorted(
            (u.unit_key, u.content_hash or "") for u in catalog.units(dataset) if u.committed
        )
        if units:
            for key, content in units:
                digest.update(f"{key}:{content}\n".encode())
            return f"catalog:{digest.hexdigest()}"
    partitions = getattr(store, "partitions", None)
    files = partitions(dataset) if partitions is not None else []
    if not files:
        return None
    for path in files:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return f"files:{digest.hexdigest()}"


def dataset_dir(name: str, settings: Settings | None = None) -> Path:
    settings = settings or get_settings()
    if not name or "/" in name or name.startswith("."):
        raise BuildError(f"invalid dataset name {name!r}")
    return settings.datasets_dir / name


def read_features_json(name: str, settings: Settings | None = None) -> dict:
    return json.loads((dataset_dir(name, settings) / "features.json").read_text())


# -- block selection and validation ------------------------------------------------------------
def _registry() -> dict[str, Block]:
    from gogooku.features.registry import BLOCKS

    return BLOCKS


def requires(block: Block) -> tuple[str, ...]:
    """Names of the blocks whose feature columns ``block`` reads (empty for a plain block)."""
    return tuple(getattr(block, "requires", ()))


def select_blocks(
    requested: Sequence[str] | None, store, registry: Mapping[str, Block]
) -> list[Block]:
    """The requested blocks (all registered when None), minus those that cannot be built."""
    return plan_blocks(requested, store, registry)[0]


def plan_blocks(
    requested: Sequence[str] | None, store, registry: Mapping[str, Block]
) -> tuple[list[Block], dict[str, str]]:
    """(blocks to build, {skipped block: reason}) for the requested blocks.

    A block is skipped when one of its non-base sources has no rows in the store, when one of
    its ``required_columns`` holds no non-null value there, or (derived blocks) when a block it
    requires is not built.
    """
    names = list(requested) if requested else list(registry)
    unknown = [n for n in names if n not in registry]
    if unknown:
        raise BuildError(f"unknown block(s) {unknown}; registered: {sorted(registry)}")
    for block in (registry[n] for n in names):
        if block.availability not in AVAILABILITY:
            raise BuildError(
                f"block {block.name!r}: availability {block.availability!r} is not a rule of "
                f"gogooku.features.availability.AVAILABILITY ({sorted(AVAILABILITY)})"
            )
    selected = []
    skipped: dict[str, str] = {}
    empty_cache: dict[str, bool] = {}
    for name in names:
        block = registry[name]
        missing = []
        for source in block.sources:
            if source in BASE_SOURCES:
                continue
            if source not in empty_cache:
                empty_cache[source] = store.scan(source).head(1).collect().height == 0
            if empty_cache[source]:
                missing.append(source)
        if missing:
            skipped[name] = f"no raw data for source(s) {', '.join(missing)}"
            continue
        empty_columns = [
            f"{source}.{column}"
            for source, column in block.required_columns
            if not _has_values(store, source, column)
        ]
        if empty_columns:
            skipped[name] = (
                f"no values of column(s) {', '.join(empty_columns)} in the store "
                f"(Premium-only fields, absent below the Premium plan)"
            )
            continue
        selected.append(block)
    for block in (registry[n] for n in names):
        bad = [r for r in requires(block) if r not in registry or requires(registry[r])]
        if bad:
            raise BuildError(
                f"block {block.name!r} requires {bad}: not registered, or derived blocks "
                f"themselves (a derived block may only read plain blocks' columns)"
            )
    built = {b.name for b in selected}
    for block in [b for b in selected if requires(b)]:
        absent = [r for r in requires(block) if r not in built]
        if absent:
            skipped[block.name] = f"requires block(s) {', '.join(absent)}, which are not built"
            selected.remove(block)
    for name, reason in skipped.items():
        log.warning("block %s skipped: %s", name, reason)
    return selected, skipped


def _has_values(store, source: str, column: str) -> bool:
    """Whether ``source`` in ``store`` has ``column`` with at least one non-null value."""
    scan = store.scan(source)
    if column not in scan.collect_schema():
        return False
    return scan.select(column).drop_nulls().head(1).collect().height > 0


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


# -- feature index -----------------------------------------------------------------------------
def _feature_index(
    name: str, blocks: Sequence[Block], skipped: Mapping[str, str] | None = None
) -> dict:
    columns: list[dict] = [
        {
            "name": "Code",
            "role": "key",
            "block": None,
            "description": "5-character J-Quants issue code",
            "formula": "Code",
            "sources": ["equities_bars_daily", "equities_master"],
            "window": None,
            "availability": None,
            "dtype": "String",
        },
        {
            "name": "Date",
            "role": "key",
            "block": None,
            "description": "trading day t; the row is the state at 19:00 JST on t",
            "formula": "Date",
            "sources": ["markets_calendar"],
            "window": None,
            "availability": None,
            "dtype": "Date",
        },
    ]
    for block in blocks:
        rule = AVAILABILITY[block.availability]
        availability = {
            "rule": rule.key,
            "description": rule.description,
            "sources": [describe_source(s) for s in block.sources if s != "markets_calendar"],
        }
        for feature in block.features:
            columns.append(
                {
                    "name": feature.name,
                    "role": "feature",
                    "block": block.name,
                    "description": feature.description,
                    "formula": feature.formula,
                    "sources": list(block.sources),
                    "window": feature.window,
                    "availability": availability,
                    "dtype": feature.dtype,
                }
            )
    for label in label_names():
        columns.append(
            {
                "name": label,
                "role": "target",
                "block": "labels",
                "description": "forward return bought at the close of t+1 (never a feature)",
                "formula": label_formula(label),
                "sources": ["equities_bars_daily", "indices_topix", "equities_master"],
                "window": int(label.split("_")[1].rstrip("d")) + 1,
                "availability": {
                    "rule": "label",
                    "description": "reads closes after t: a target, unusable as an input",
                    "sources": [],
                },
                "dtype": LABEL_DTYPE,
            }
        )
    skipped_list = [{"block": b, "reason": r} for b, r in (skipped or {}).items()]
    return {"dataset": name, "columns": columns, "skipped": skipped_list}


# -- the build ---------------------------------------------------------------------------------
def _load_calendar(store, start: date, end: date, warmup: int) -> TradingCalendar:
    pad_before = timedelta(days=int(warmup * 1.6) + 60)
    return TradingCalendar.load(store, start - pad_before, end + timedelta(days=60))


def _existing(path: Path) -> dict | None:
    meta_path = path / "metadata.json"
    if not (meta_path.exists() and (path / "panel.parquet").exists()):
        return None
    return json.loads(meta_path.read_text())


def is_cross_sectional(block: Block) -> bool:
    """Whether ``block`` runs once on the whole base frame (its rows read other stocks' rows).

    Blocks that write dataset files (``compute_artifacts``) run once too, so their files are
    written once.
    """
    return block.cross_sectional or getattr(block, "compute_artifacts", None) is not None


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
) -> pl.DataFrame:
    """``_run_block`` adding its seconds to ``timings[block.name]`` (summed over chunks)."""
    t0 = time.perf_counter()
    out = _run_block(block, ctx, keys, artifacts)
    timings[block.name] = round(timings.get(block.name, 0.0) + time.perf_counter() - t0, 3)
    return out


def _panel_chunks(
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
) -> Iterator[pl.DataFrame]:
    """Yield the panel rows dated first..end (keys, features in block order, then ``labels``'
    columns when given) chunk by chunk, in (Code, Date) order.

    Cross-sectional blocks (:func:`is_cross_sectional`) run once on the whole ``base`` and their
    columns, sliced by chunk, wait in ``spill_dir``; every other plain block runs on the base rows
    of one chunk of ``chunk_stocks`` codes at a time (their values depend only on the stock's own
    rows, so they equal a whole-frame run); derived blocks run on the chunk's rows with the
    stage-1 columns attached. ``labels`` (``Code, Date`` + label columns, computed on the whole
    base since sector-relative labels read the cross-section) is aligned to the panel rows.
    Records block seconds (summed over chunks) in ``timings`` and block files in ``artifacts``.
    """
    block_base = _sorted_by_keys(base.filter(pl.col("Date") <= end))
    del base
    keys = block_base.filter(pl.col("Date") >= first).select(KEYS)
    ranges = _chunk_ranges(keys, chunk_stocks)
    cross = [b for b in blocks if not requires(b) and is_cross_sectional(b)]
    plain = [b for b in blocks if not requires(b) and not is_cross_sectional(b)]
    derived = [b for b in blocks if requires(b)]
    order = [*KEYS, *(f.name for b in blocks for f in b.features)]
    spill = _Spill(spill_dir)
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
        whole = BlockContext(
            base=block_base.lazy(), calendar=calendar, store=store, asof_join=asof_join
        )
        for block in cross:
            progress.update(task, description=f"{block.name} (all stocks)")
            out = _run_timed(block, whole, keys, timings, artifacts)
            for i, (offset, length) in enumerate(ranges):
                spill.put(i, block.name, out.slice(offset, length))
            del out
            progress.advance(task)
        if labels is not None:
            label_cols = [c for c in labels.columns if c not in KEYS]
            if not labels.select(KEYS).equals(keys):
                labels = keys.join(labels, on=list(KEYS), how="left", maintain_order="left")
            for i, (offset, length) in enumerate(ranges):
                spill.put(i, "labels", labels.select(label_cols).slice(offset, length))
            del labels
        del whole
        for i, (offset, length) in enumerate(ranges):
            chunk_keys = keys.slice(offset, length)
            codes = chunk_keys["Code"].unique(maintain_order=True)
            # One chunk runs on the whole base frame (also when no row falls in first..end).
            chunk_base = (
                block_base
                if len(ranges) == 1
                else block_base.filter(pl.col("Code").is_in(codes.implode()))
            )
            ctx = BlockContext(
                base=chunk_base.lazy(), calendar=calendar, store=store, asof_join=asof_join
            )
            parts = [chunk_keys]
            for block in plain:
                progress.update(task, description=f"{block.name} (chunk {i + 1}/{len(ranges)})")
                parts.append(_run_timed(block, ctx, chunk_keys, timings, artifacts))
                progress.advance(task)
            spilled = spill.take(i)
            features = set(order[len(KEYS) :])
            stage1 = [col for part in parts[1:] for col in part.get_columns()]
            stage1 += [col for col in spilled if col.name in features]
            label_columns = [col for col in spilled if col.name not in features]
            if derived:
                # Stage-2 rows are exactly ``chunk_keys`` (same order), so stage-1 columns hstack
                # on; a feature named like a base column (``is_halt_20201001``) replaces it.
                stage_base = chunk_base.filter(pl.col("Date") >= first)
                stage_base = stage_base.drop(
                    [c.name for c in stage1 if c.name in stage_base.columns]
                ).hstack(stage1)
                ctx = BlockContext(
                    base=stage_base.lazy(), calendar=calendar, store=store, asof_join=asof_join
                )
                for block in derived:
                    progress.update(task, description=f"{block.name} (chunk {i + 1}/{len(ranges)})")
                    stage1 += _run_timed(block, ctx, chunk_keys, timings, artifacts).get_columns()
                    progress.advance(task)
                del stage_base
            chunk = chunk_keys.hstack(stage1).select(order).hstack(label_columns)
            # Free this chunk before the next one is computed (the consumer holds it meanwhile).
            del parts, stage1, spilled, label_columns, chunk_base, ctx
            yield chunk
            del chunk


def _sorted_by_keys(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` sorted by (Code, Date); returned as is (no copy) when it already is."""
    code, day = pl.col("Code"), pl.col("Date")
    ordered = (code > code.shift(1)) | ((code == code.shift(1)) & (day > day.shift(1)))
    if frame.height < 2 or frame.select(ordered.slice(1).all()).item():
        return frame
    return frame.sort(KEYS)


def _attach_labels(features: pl.DataFrame, labels: pl.DataFrame) -> pl.DataFrame:
    """Features + label columns on the same (Code, Date) rows, without copying the features."""
    features, labels = _sorted_by_keys(features), _sorted_by_keys(labels)
    label_cols = [c for c in labels.columns if c not in KEYS]
    if labels.height == features.height and labels.select(KEYS).equals(features.select(KEYS)):
        return features.hstack(labels.select(label_cols).get_columns())
    joined = features.select(KEYS).join(labels, on=list(KEYS), how="left", maintain_order="left")
    return features.hstack(joined.select(label_cols).get_columns())


@dataclass
class _PanelStats:
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


def _write_panel(
    path: Path,
    chunks: Iterable[pl.DataFrame],
    feature_cols: Sequence[str],
    label_cols: Sequence[str],
    check_codes: pl.Series,
) -> _PanelStats:
    """Stream ``chunks`` (disjoint sets of codes, in (Code, Date) order) into ``path`` (zstd).

    The rows of ``check_codes`` are kept aside and checked with ``assert_no_label_copies``
    before the temporary file replaces ``path``; row groups are of at most 262,144 rows (as
    ``polars.DataFrame.write_parquet`` writes them).
    """
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    writer: pq.ParquetWriter | None = None
    schema = None
    rows = stocks = 0
    dates: list[pl.Series] = []
    sample: list[pl.DataFrame] = []
    try:
        for chunk in chunks:
            table = chunk.to_arrow()
            if writer is None:
                schema = chunk.schema
                writer = pq.ParquetWriter(
                    tmp,
                    table.schema,
                    compression="zstd",
                    compression_level=1,
                    use_dictionary=_dictionary_columns(chunk.schema),
                )
            elif chunk.schema != schema:
                raise BuildError(
                    f"{path}: a stock chunk has columns {dict(chunk.schema)}, the first had "
                    f"{dict(schema)}"
                )
            writer.write_table(table, row_group_size=PANEL_ROW_GROUP)
            del table
            rows += chunk.height
            stocks += chunk["Code"].n_unique()
            dates.append(chunk["Date"].unique())
            sample.append(chunk.filter(pl.col("Code").is_in(check_codes.implode())))
            del chunk
        if writer is None:
            raise BuildError(f"{path}: the build produced no panel chunk")
        writer.close()
        writer = None
        assert_no_label_copies(
            pl.concat(sample), feature_cols, label_cols, sample_stocks=LABEL_CHECK_STOCKS
        )
        os.replace(tmp, path)
    finally:
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)
    text = json.dumps([[c, str(t)] for c, t in schema.items()])
    return _PanelStats(
        rows=rows,
        stocks=stocks,
        dates=pl.concat(dates).n_unique(),
        schema_hash=hashlib.sha256(text.encode()).hexdigest(),
    )


def _passing_through(
    chunks: Iterable[pl.DataFrame], consume: Callable[[pl.DataFrame], None]
) -> Iterator[pl.DataFrame]:
    """``chunks``, each handed to ``consume`` first (the cache writer reads the panel's chunks
    as they go to the panel file)."""
    for chunk in chunks:
        consume(chunk)
        yield chunk


def _write_artifacts(
    path: Path, artifacts: Mapping[str, pl.DataFrame], first: date, end: date, extend: bool
) -> None:
    """Write block files (rows keyed by ``Date``) dated from the last date <= ``first`` to ``end``.

    The row dated on or before ``first`` is kept because it is in force on ``first`` (e.g. the
    graph built on the week's refresh day). An incremental build appends to the old file.
    """
    for file_name, frame in artifacts.items():
        frame = frame.filter(pl.col("Date") <= end)
        opening = frame.filter(pl.col("Date") <= first)["Date"].max()
        if opening is not None:
            frame = frame.filter(pl.col("Date") >= opening)
        old_path = path / file_name
        if extend and old_path.exists() and frame.height:
            old = pl.read_parquet(old_path).filter(pl.col("Date") < frame["Date"].min())
            frame = pl.concat([old, frame], how="vertical_relaxed")
        atomic_write_parquet(old_path, frame, compression="zstd", compression_level=1)


def _labels(base: pl.DataFrame, first: date, end: date) -> pl.DataFrame:
    """``Code, Date`` + the label columns (Float32) of the base rows dated first..end."""
    return (
        compute_labels(base)
        .filter(pl.col("Date").is_between(first, end))
        .with_columns(pl.col(label_names()).cast(getattr(pl, LABEL_DTYPE)))
        .collect()
    )


def _extend_panel(
    name: str,
    path: Path,
    previous: dict,
    selected: Sequence[Block],
    store,
    calendar: TradingCalendar,
    first_new: date,
    end: date,
    warmup: int,
    label_end: date,
    chunk_stocks: int,
    spill_dir: Path,
    show_progress: bool,
    timings: dict[str, float],
    artifacts: dict[str, pl.DataFrame],
) -> tuple[_PanelStats, pl.DataFrame, date]:
    """Append the rows first_new..end to the panel and refresh the labels of its last 21 days.

    The new rows come from a base frame starting ``INCREMENTAL_HISTORY_FACTOR × warmup`` trading
    days before ``first_new`` (chunked like a full build). The old panel is streamed in
    whole-stock batches (row groups); each batch gets the new rows of its codes (and of new codes
    sorting before its last one) and the recomputed labels, and is written on, so memory holds
    one batch and the new rows, not the panel. Returns the panel's statistics, its rows dated
    from the first relabelled day on (the only rows that changed) and that day, for
    ``extend_cache``.
    """
    old_end = date.fromisoformat(previous["end"])
    relabel_from = calendar.offset_clipped(old_end, -LABEL_LOOKAHEAD)
    base_start = min(
        calendar.offset_clipped(first_new, -INCREMENTAL_HISTORY_FACTOR * warmup), relabel_from
    )
    panel_path = path / "panel.parquet"
    old_keys = pl.read_parquet(panel_path, columns=list(KEYS))
    if old_keys.height != previous.get("rows") or old_keys["Date"].max() != old_end:
        raise BuildError(
            f"dataset {name}: panel.parquet does not match metadata.json (interrupted "
            f"write?); rebuild with --full"
        )
    log.info("incremental build of %s: %s..%s (previous end %s)", name, first_new, end, old_end)
    base = build_base(store, calendar, base_start, label_end)
    labels = _labels(base, relabel_from, end)
    new_rows = pl.concat(
        list(
            _panel_chunks(
                selected,
                base,
                None,
                calendar,
                store,
                first_new,
                end,
                chunk_stocks,
                spill_dir,
                show_progress,
                timings,
                artifacts,
            )
        )
    )
    del base
    label_cols = label_names()
    check_codes = label_check_codes(pl.concat([old_keys, new_rows.select(KEYS)]))
    del old_keys
    changed: list[pl.DataFrame] = []

    def merged() -> Iterator[pl.DataFrame]:
        old_parts = whole_stocks(panel_batches(panel_path, PANEL_ROW_GROUP))
        done: str | None = None
        for old in old_parts:
            last = old["Code"][-1]
            ours = pl.col("Code") <= last
            if done is not None:
                ours &= pl.col("Code") > done
            kept = old.select(*KEYS, *label_cols).filter(pl.col("Date") < relabel_from)
            features = pl.concat(
                [old.drop(label_cols), new_rows.filter(ours)], how="vertical_relaxed"
            )
            del old
            part = _attach_labels(
                features, pl.concat([kept, labels.filter(ours)], how="vertical_relaxed")
            )
            changed.append(part.filter(pl.col("Date") >= relabel_from))
            done = last
            yield part
        rest = pl.col("Code") > done if done is not None else pl.lit(True)
        if new_rows.filter(rest).height:
            part = _attach_labels(new_rows.filter(rest), labels.filter(rest))
            changed.append(part)
            yield part

    feature_cols = [f.name for b in selected for f in b.features]
    stats = _write_panel(panel_path, merged(), feature_cols, label_cols, check_codes)
    return stats, pl.concat(changed), relabel_from


def build_dataset(
    name: str,
    start: date,
    end: date,
    *,
    blocks: Sequence[str] | None = None,
    warmup_days: int | None = None,
    store=None,
    settings: Settings | None = None,
    registry: Mapping[str, Block] | None = None,
    incremental: bool = True,
    show_progress: bool = True,
    chunk_stocks: int = DEFAULT_CHUNK_STOCKS,
) -> BuildResult:
    """Build (or extend) the dataset ``name`` for trading days ``start..end``; see module doc.

    ``chunk_stocks`` bounds memory: the per-stock blocks run on that many stocks at a time.
    """
    t_start = time.perf_counter()
    settings = settings or get_settings()
    if store is None:
        from gogooku.store.raw import RawStore

        store = RawStore(settings.raw_dir)
    if start > end:
        raise BuildError(f"--start {start} is after --end {end}")
    if warmup_days is not None and warmup_days < 0:
        raise BuildError(f"--warmup-days must be >= 0, got {warmup_days}")
    if chunk_stocks < 1:
        raise BuildError(f"--chunk-stocks must be >= 1, got {chunk_stocks}")
    registry = _registry() if registry is None else registry
    selected, skipped = plan_blocks(blocks, store, registry)
    warmup = (
        warmup_days if warmup_days is not None else max((b.lookback for b in selected), default=0)
    )
    calendar = _load_calendar(store, start, end, warmup)
    trading = calendar.days(start, end)
    if not trading:
        raise BuildError(f"no trading day between {start} and {end} ({calendar.source} calendar)")
    start, end = trading[0], trading[-1]
    label_end = calendar.offset_clipped(end, LABEL_LOOKAHEAD)
    block_names = [b.name for b in selected]
    path = dataset_dir(name, settings)
    timings: dict[str, float] = {}
    artifacts: dict[str, pl.DataFrame] = {}

    feature_cols = [f.name for b in selected for f in b.features]
    label_cols = label_names()
    path.mkdir(parents=True, exist_ok=True)

    previous = _existing(path) if incremental else None
    extend = (
        previous is not None
        and previous.get("start") == start.isoformat()
        and previous.get("blocks") == block_names
        and previous.get("warmup_days") == warmup
        and date.fromisoformat(previous["end"]) < end
    )
    with tempfile.TemporaryDirectory(prefix=".build-", dir=path) as spill_dir:
        cache: CacheWriter | None = None
        if extend:
            first_new = calendar.next_bd(date.fromisoformat(previous["end"]))
            stats, changed, changed_from = _extend_panel(
                name,
                path,
                previous,
                selected,
                store,
                calendar,
                first_new,
                end,
                warmup,
                label_end,
                chunk_stocks,
                Path(spill_dir),
                show_progress,
                timings,
                artifacts,
            )
        else:
            first_new = start
            base_start = calendar.offset_clipped(start, -warmup)
            log.info(
                "building %s: %s..%s, warm-up %d days from %s", name, start, end, warmup, base_start
            )
            base = build_base(store, calendar, base_start, label_end)
            labels = _labels(base, start, end)
            keys = base.filter(pl.col("Date").is_between(start, end)).select(KEYS)
            check_codes = label_check_codes(keys)
            cache = CacheWriter(
                path,
                feature_cols,
                [b.name for b in selected for _ in b.features],
                label_cols,
                keys["Date"].unique().sort(),
                keys["Code"].unique().sort(),
            )
            del keys
            chunks = _panel_chunks(
                selected,
                base,
                labels,
                calendar,
                store,
                start,
                end,
                chunk_stocks,
                Path(spill_dir),
                show_progress,
                timings,
                artifacts,
            )
            del base, labels
            try:
                stats = _write_panel(
                    path / "panel.parquet",
                    _passing_through(chunks, cache.add),
                    feature_cols,
                    label_cols,
                    check_codes,
                )
            except BaseException:
                cache.abort()
                raise
    try:
        _write_artifacts(path, artifacts, first_new, end, extend)
        atomic_write_json(path / "features.json", _feature_index(name, selected, skipped))
    except BaseException:
        if cache is not None:
            cache.abort()
        raise
    if extend:
        extend_cache(path, changed, changed_from)
        del changed
    else:
        cache.finish()
    seconds = round(time.perf_counter() - t_start, 3)
    sources = sorted({s for b in selected for s in b.sources} | set(BASE_SOURCES))
    metadata = {
        "name": name,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "rows": stats.rows,
        "stocks": stats.stocks,
        "dates": stats.dates,
        "n_features": len(feature_cols),
        "n_targets": len(label_cols),
        "blocks": block_names,
        "skipped_blocks": skipped,
        "block_seconds": timings,
        "warmup_days": warmup,
        "label_data_end": label_end.isoformat(),
        "calendar_source": calendar.source,
        "schema_hash": stats.schema_hash,
        "source_hashes": {s: source_hash(store, s) for s in sources},
        "build_seconds": seconds,
        "peak_rss_mb": _peak_rss_mb(),
        "code_version": code_version(),
        "incremental": extend,
        "chunk_stocks": chunk_stocks,
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    atomic_write_json(path / "metadata.json", metadata)
    log.info(
        "wrote %s: %d rows, %d stocks, %d dates in %.1fs",
        path,
        stats.rows,
        stats.stocks,
        stats.dates,
        seconds,
    )
    return BuildResult(
        path=path,
        rows=stats.rows,
        stocks=stats.stocks,
        dates=stats.dates,
        start=start,
        end=end,
        blocks=tuple(block_names),
        incremental=extend,
        seconds=seconds,
    )
