"""Build a point-in-time panel: raw store -> base frame -> blocks -> labels -> dataset folder.

``build_dataset(name, start, end, ...)`` writes ``$GOGOOKU_HOME/datasets/<name>/``:

- ``panel.parquet`` (LZ4): ``Code`` (String), ``Date`` (Date), the feature columns (their
  declared dtype, Float32 unless declared otherwise), the label columns (Float32); one row per
  (Code, trading day in start..end) while listed, sorted by (Code, Date);
- ``features.json``: every column's description and availability, and the skipped blocks
  (``gogooku.dataset.feature_index``);
- ``metadata.json``: rows, stocks, dates, date range, blocks, warm-up, schema hash, source
  catalog hashes, build seconds, peak RSS, code version, whether the build was incremental,
  which versions of revised raw records it read (``"revisions"``: ``"as_of_decision"`` or
  ``"latest"``, see below),
  the sealed hold-out (``"holdout": {"start", "spec"}``, ``gogooku.dataset.holdout``), the
  market of the raw store (``"market": {"name", "jpx", "lot_size"}``, ``gogooku.market``: the
  evaluator's backtest follows it, and JPX-only blocks are skipped for another market);
- the dense training cache ``cache/`` (``gogooku.dataset.cache_writer``) and the files blocks
  return (``graph_edges.parquet``).

The build runs in stages, one module each: ``plan`` (which blocks, which are skipped and why,
the warm-up, whether the dataset is extended), ``compute`` (the blocks stock chunk by stock chunk,
cross-sectional blocks and labels once; default chunks of 200 stocks), ``panel_writer`` (the
streamed ``panel.parquet`` and the block files), ``feature_index`` (``features.json``).

Dates: ``start..end`` is narrowed to the trading days of the stored calendar up to the last
daily bar (the calendar is published ahead of the data). The blocks are planned from the rows
usable on or before that end (``gogooku.dataset.plan``), so data added or removed after it never
changes the columns.

History: the base frame starts ``warmup`` trading days before ``start`` (``warmup`` = the longest
block lookback unless ``--warmup-days`` overrides it) and runs up to 21 trading days after
``end`` where data exists, for the labels only — blocks see rows up to ``end``.

Incremental: if the dataset exists with the same start, blocks and warm-up and an earlier end
(and no block is ``history_dependent``, such as ``gemb``: those datasets are rebuilt in full),
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

A full build writes the dense cache from the same chunks as they go to the panel file
(``gogooku.dataset.cache_writer.CacheWriter``: byte-identical to ``write_cache`` of the panel,
without reading the panel back; the graph's edges are handed over in memory); its folder is
renamed into place after the panel and the block files. Both writes run between the chunks'
blocks: the cache writer on the build's thread (its ``pwrite`` calls on a write thread) while a
helper thread encodes the same chunk into the panel file (``panel_writer.write_panel``; the
blocks run on the build's thread alone: ``docs/dataset.md``, "Performance, fifth round").

Revisions: the raw store keeps every version of a corrected record (``gogooku.store.vintages``).
A build reads each record's version held at its decision time (``gogooku.dataset.point_in_time``:
19:00 JST on the day the record becomes usable; the first version held for a backfill), so a
correction fetched later never rewrites the past panel. ``as_revised`` reads the latest version
everywhere; such a build is always a full one (an extension would keep the old days' earlier
versions), and a dataset is never extended across a change of mode.

Hold-out: a new dataset's hold-out is decided from ``holdout`` (default ``auto``) on its trading
days; a dataset that has a recorded decision keeps it (its start date is fixed: an extension
makes the hold-out grow) when ``holdout`` is None or the same spec, and a different spec resolving
to another start is refused (:class:`BuildError`) unless ``holdout_reset``. A dataset built before
hold-outs existed (no ``holdout`` key) keeps none unless a spec is given.

Every output write is atomic (temporary file + ``os.replace``); ``metadata.json`` is written last.
"""

from __future__ import annotations

import hashlib
import json
import logging
import resource
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl

from gogooku.calendar import TradingCalendar
from gogooku.dataset.base import BASE_SOURCES, build_base
from gogooku.dataset.build_lock import build_lock, remove_leftovers
from gogooku.dataset.cache_writer import (
    GRAPH_FILE,
    CacheWriter,
    extend_cache,
    panel_batches,
    whole_stocks,
)
from gogooku.dataset.compute import KEYS, attach_labels, panel_chunks, panel_labels
from gogooku.dataset.feature_index import feature_index
from gogooku.dataset.holdout import HoldoutError, check_spec, resolve_holdout
from gogooku.dataset.labels import LABEL_LOOKAHEAD, label_names
from gogooku.dataset.panel_writer import (
    PANEL_ROW_GROUP,
    PanelStats,
    label_check_codes,
    write_artifacts,
    write_panel,
)
from gogooku.dataset.plan import (
    BuildError,
    extends,
    load_calendar,
    plan_blocks,
    plan_warmup,
    previous_build,
    registered_blocks,
)
from gogooku.dataset.point_in_time import build_view
from gogooku.dataset.stages import StageClock
from gogooku.features.base import Block
from gogooku.io import atomic_write_json, code_version
from gogooku.market import load_market
from gogooku.settings import Settings, get_settings
from gogooku.store.health import naming_corrupt_partitions

log = logging.getLogger(__name__)

# An incremental build reads this many times the warm-up before the first new day, so features
# that reach a little past their declared lookback (windows counted over non-null values, EMA
# seeds) come out as in a full rebuild.
INCREMENTAL_HISTORY_FACTOR = 2
REVISIONS_AS_OF_DECISION = "as_of_decision"
REVISIONS_LATEST = "latest"
# Stocks per chunk of a full build. The writer thread holds a second chunk, so two chunks of 200
# take the memory one of 400 took; more chunks cost no CPU once the side reader reads each side
# dataset once (1000 × 5 y: 200 stocks peaked 12 % below 400, CPU within noise). The result does
# not depend on it.
DEFAULT_CHUNK_STOCKS = 200


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


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _last_bar_day(store) -> date | None:
    """The last date of the stored daily bars (None without any): the calendar is published
    ahead, so its trading days run past the data."""
    return store.scan("equities_bars_daily").select(pl.col("Date").max()).collect().item()


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
    clock: StageClock,
) -> tuple[PanelStats, pl.DataFrame, date]:
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
    with clock.stage("base"):
        base = build_base(store, calendar, base_start, label_end)
    with clock.stage("labels"):
        labels = panel_labels(base, relabel_from, end)
    new_rows = pl.concat(
        list(
            panel_chunks(
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
                clock=clock,
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
            part = attach_labels(
                features, pl.concat([kept, labels.filter(ours)], how="vertical_relaxed")
            )
            changed.append(part.filter(pl.col("Date") >= relabel_from))
            done = last
            yield part
        rest = pl.col("Code") > done if done is not None else pl.lit(True)
        if new_rows.filter(rest).height:
            part = attach_labels(new_rows.filter(rest), labels.filter(rest))
            changed.append(part)
            yield part

    feature_cols = [f.name for b in selected for f in b.features]
    stats = write_panel(panel_path, merged(), feature_cols, label_cols, check_codes)
    return stats, pl.concat(changed), relabel_from


def plan_holdout(
    name: str,
    trading: Sequence[date],
    recorded: dict | None,
    spec: str | None,
    reset: bool,
) -> dict:
    """The ``holdout`` entry of the new ``metadata.json`` (see the module doc): ``recorded`` is
    the existing dataset's metadata (None for a new dataset), ``spec`` the requested spec."""
    try:
        if spec is not None:
            spec = check_spec(spec)
        previous = recorded.get("holdout") if recorded is not None else None
        if recorded is None or reset or (previous is None and spec is not None):
            spec = spec or "auto"
            start = resolve_holdout(spec, trading)
        elif previous is None:  # built before hold-outs: keeps none
            spec, start = "none", None
        else:
            kept = previous.get("start")
            start = date.fromisoformat(kept) if kept else None
            if spec is not None and spec != previous.get("spec"):
                wanted = resolve_holdout(spec, trading)
                if wanted != start:
                    raise BuildError(
                        f"dataset {name} has the hold-out {kept or 'none'} (--holdout "
                        f"{previous.get('spec')}); --holdout {spec} would make it "
                        f"{wanted or 'none'}. A hold-out is fixed once decided: keep it (omit "
                        "--holdout), or pass --holdout-reset to decide again (every earlier "
                        "hold-out figure of this dataset is then void)"
                    )
            spec = previous.get("spec", spec)
            if start is not None and start > trading[-1]:
                raise BuildError(
                    f"dataset {name}: its hold-out starts {start}, after the new last day "
                    f"{trading[-1]}; pass --holdout-reset to decide again"
                )
    except HoldoutError as exc:
        raise BuildError(f"dataset {name}: {exc}") from None
    return {"start": start.isoformat() if start else None, "spec": spec}


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
    holdout: str | None = None,
    holdout_reset: bool = False,
    as_revised: bool = False,
) -> BuildResult:
    """Build (or extend) the dataset ``name`` for trading days ``start..end``; see module doc.

    ``chunk_stocks`` bounds memory: the per-stock blocks run on that many stocks at a time.
    ``holdout`` is the hold-out spec (None: ``auto`` for a new dataset, the recorded one for an
    existing dataset); ``holdout_reset`` lets a different spec replace the recorded hold-out.
    ``as_revised`` reads the latest version of every revised raw record (a full build).
    One build of a dataset runs at a time; it first removes what a killed build left
    (``gogooku.dataset.build_lock``).
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
    registry = registered_blocks() if registry is None else registry
    market = load_market(getattr(store, "root", settings.raw_dir))
    wanted = [registry[n] for n in (blocks or registry) if n in registry]
    with naming_corrupt_partitions(store):  # planning reads the store too
        calendar = load_calendar(store, start, end, plan_warmup(wanted, warmup_days))
        trading = calendar.days(start, min(end, _last_bar_day(store) or end))
        revisions = REVISIONS_LATEST if as_revised else REVISIONS_AS_OF_DECISION
        store = build_view(store, calendar, as_revised)
        if not trading:
            raise BuildError(
                f"no trading day between {start} and {end} ({calendar.source} calendar)"
            )
        start, end = trading[0], trading[-1]
        selected, skipped = plan_blocks(blocks, store, registry, market, usable_by=(calendar, end))
    warmup = plan_warmup(selected, warmup_days)
    label_end = calendar.offset_clipped(end, LABEL_LOOKAHEAD)
    block_names = [b.name for b in selected]
    path = dataset_dir(name, settings)
    timings: dict[str, float] = {}
    artifacts: dict[str, pl.DataFrame] = {}
    clock = StageClock()

    feature_cols = [f.name for b in selected for f in b.features]
    label_cols = label_names()
    with build_lock(path), naming_corrupt_partitions(store):
        for stale in remove_leftovers(path):
            log.info("removed %s, left by an interrupted build", stale)

        recorded = previous_build(path)
        holdout_entry = plan_holdout(name, trading, recorded, holdout, holdout_reset)
        previous = recorded if incremental else None
        null_columns = {f: r for b in selected for f, r in b.null_features}
        # Rows built while an optional source was absent would keep their nulls: rebuild instead.
        # Datasets built before vintages existed read the only version there was: as of decision.
        extend = (
            extends(previous, start, end, block_names, warmup)
            and previous.get("null_columns", {}) == null_columns
            and not as_revised
            and not any(b.history_dependent for b in selected)
            and previous.get("revisions", REVISIONS_AS_OF_DECISION) == revisions
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
                    clock,
                )
            else:
                first_new = start
                base_start = calendar.offset_clipped(start, -warmup)
                log.info(
                    "building %s: %s..%s, warm-up %d days from %s",
                    name,
                    start,
                    end,
                    warmup,
                    base_start,
                )
                with clock.stage("base"):
                    base = build_base(store, calendar, base_start, label_end)
                with clock.stage("labels"):
                    labels = panel_labels(base, start, end)
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
                chunks = panel_chunks(
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
                    clock=clock,
                )
                del base, labels

                def add_to_cache(chunk: pl.DataFrame) -> None:
                    with clock.stage("cache_write"):
                        cache.add(chunk)

                try:
                    with clock.stage("panel_write"):
                        stats = write_panel(
                            path / "panel.parquet",
                            clock.iterate("chunks", chunks),
                            feature_cols,
                            label_cols,
                            check_codes,
                            beside=add_to_cache,
                        )
                except BaseException:
                    cache.abort()
                    raise
        try:
            with clock.stage("artifacts"):
                written = write_artifacts(path, artifacts, first_new, end, extend)
                del artifacts
                atomic_write_json(path / "features.json", feature_index(name, selected, skipped))
        except BaseException:
            if cache is not None:
                cache.abort()
            raise
        with clock.stage("cache_finish"):
            if extend:
                extend_cache(path, changed, changed_from)
                del changed
            else:
                cache.finish(written.get(GRAPH_FILE))
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
            "null_columns": null_columns,
            "block_seconds": timings,
            "stage_seconds": clock.as_json(),
            "warmup_days": warmup,
            "label_data_end": label_end.isoformat(),
            "calendar_source": calendar.source,
            "market": market.to_json(),
            "schema_hash": stats.schema_hash,
            "source_hashes": {s: source_hash(store, s) for s in sources},
            "build_seconds": seconds,
            "peak_rss_mb": _peak_rss_mb(),
            "code_version": code_version(),
            "incremental": extend,
            "revisions": revisions,
            "chunk_stocks": chunk_stocks,
            "holdout": holdout_entry,
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
