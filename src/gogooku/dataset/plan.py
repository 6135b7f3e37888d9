"""What a build computes: the blocks (and those it skips, with reasons), the warm-up, the calendar.

Blocks: the registry (``gogooku.features.registry.BLOCKS``) without its ``opt_in`` blocks, or the
requested names (``default`` among them stands for those), each checked against the availability
rules (``gogooku.features.availability.AVAILABILITY``).

Missing sources: a requested block one of whose non-base sources has no rows in the raw store
usable on or before the build's ``--end`` (by the source's availability rule; the plan or the
add-on lacks it — the reason then names the add-on —, prices were imported without side data, or
its data starts later) is skipped with one warning and listed under ``skipped``; the rest of the build goes on. So is a block one of whose
``required_columns`` (Premium-only fields of a dataset every plan has, such as the bars' morning
session ``MO`` read by ``am``) holds no non-null value in those rows. Rows stored after
``--end`` never change the plan. There is no lower bound: as-of sources carry a record from
long before ``--start`` into the panel, so older rows count too.

Optional sources: a source a block lists in ``optional_sources`` does not skip it. When such a
source has no usable rows, the block is built with the features that need it set to null (one
warning); the planned block carries them in ``null_features`` (feature, reason) and
``features.json`` records them.

Markets: on a store holding another market than Tokyo (``raw/market.json``,
``gogooku.market``), a block with ``jpx_only`` set (price limits, TSE sessions, TSE investor
flows) is skipped with the reason "JPX-only (<rule>); the store holds market <name>".

TOPIX: ``indices_topix`` feeds the base frame but may be absent (imported prices); a block that
lists it as a source without declaring it optional (``market``, ``futures``) is skipped like any
block with a missing source when the store has no TOPIX rows.

Derived blocks: a block with a non-empty ``requires`` attribute (a tuple of block names, see
``gogooku.features.interactions.DerivedBlock``) reads other blocks' feature columns; it may
require only plain blocks, and is skipped like a block with a missing source when a block it
requires is not built.

Warm-up: the longest lookback of the built blocks unless overridden. An existing dataset is
extended (not rebuilt) when it has the same start, blocks and warm-up and an earlier end.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from gogooku.calendar import TradingCalendar
from gogooku.dataset.base import BASE_SOURCES
from gogooku.errors import GogookuError
from gogooku.features.availability import AVAILABILITY, AVAILABLE_FROM, with_available_from
from gogooku.features.base import Block
from gogooku.jquants.derived import DERIVED
from gogooku.jquants.endpoints import ENDPOINTS
from gogooku.market import Market

log = logging.getLogger(__name__)


OPTIONAL_BASE_SOURCE = "indices_topix"
TOKYO_MARKET = Market()


class BuildError(GogookuError, ValueError):
    """The build request or a block's output is invalid."""


def registered_blocks() -> dict[str, Block]:
    """Every registered block by name (``gogooku.features.registry.BLOCKS``)."""
    from gogooku.features.registry import BLOCKS

    return BLOCKS


def requires(block: Block) -> tuple[str, ...]:
    """Names of the blocks whose feature columns ``block`` reads (empty for a plain block)."""
    return tuple(getattr(block, "requires", ()))


def select_blocks(
    requested: Sequence[str] | None,
    store,
    registry: Mapping[str, Block],
    market: Market = TOKYO_MARKET,
) -> list[Block]:
    """The requested blocks (all registered when None), minus those that cannot be built."""
    return plan_blocks(requested, store, registry, market)[0]


DEFAULT_BLOCKS = "default"


def requested_blocks(requested: Sequence[str] | None, registry: Mapping[str, Block]) -> list[str]:
    """The block names a build computes: every registered block but the ``opt_in`` ones when
    ``requested`` is empty, else ``requested`` with ``default`` replaced by those (in order, once)."""
    defaults = [n for n, b in registry.items() if not b.opt_in]
    names = []
    for name in requested or [DEFAULT_BLOCKS]:
        for n in defaults if name == DEFAULT_BLOCKS else [name]:
            if n not in names:
                names.append(n)
    return names


def plan_blocks(
    requested: Sequence[str] | None,
    store,
    registry: Mapping[str, Block],
    market: Market = TOKYO_MARKET,
    usable_by: tuple[TradingCalendar, date] | None = None,
) -> tuple[list[Block], dict[str, str]]:
    """(blocks to build, {skipped block: reason}) for the requested blocks.

    A block is skipped when it is ``jpx_only`` and ``market`` is not Tokyo, when one of its
    optional sources (not a base source, or ``indices_topix``) has no rows in the store, when one
    of its ``required_columns`` holds no non-null value there, or (derived blocks) when a block
    it requires is not built. With ``usable_by`` (calendar, end) only the rows usable on or
    before ``end`` by their source's availability rule count (``usable_rows``), so data stored
    after the build's end never changes the plan.
    """
    names = requested_blocks(requested, registry)
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

    def empty(source: str) -> bool:
        if source not in empty_cache:
            rows = usable_rows(store, source, usable_by)
            empty_cache[source] = rows.head(1).collect().height == 0
        return empty_cache[source]

    for name in names:
        block = registry[name]
        if block.jpx_only and not market.jpx:
            skipped[name] = f"JPX-only ({block.jpx_only}); the store holds market {market.name}"
            continue
        optional = dict(block.optional_sources)
        missing = [
            s
            for s in block.sources
            if (s not in BASE_SOURCES or s == OPTIONAL_BASE_SOURCE)
            and s not in optional
            and empty(s)
        ]
        if missing:
            underived = [s for s in missing if s in DERIVED and not empty(DERIVED[s].parent)]
            skipped[name] = f"no raw data for source(s) {', '.join(missing)}" + (
                f" (derived from {', '.join(DERIVED[s].parent for s in underived)}, which the "
                "store holds: run `gogooku store derive`)"
                if underived
                else _add_on_hint(missing)
            )
            continue
        empty_columns = [
            f"{source}.{column}"
            for source, column in block.required_columns
            if not _has_values(store, source, column, usable_by)
        ]
        if empty_columns:
            skipped[name] = (
                f"no values of column(s) {', '.join(empty_columns)} in the store "
                f"(Premium-only fields, absent below the Premium plan)"
            )
            continue
        nulls = {
            feature: f"no raw data for optional source {source}"
            for source, features in optional.items()
            if empty(source)
            for feature in features
        }
        if not market.jpx:
            nulls |= {
                feature: f"JPX-only ({rule}); the store holds market {market.name}"
                for rule, features in block.jpx_features
                for feature in features
            }
        selected.append(with_null_features(block, nulls) if nulls else block)
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


def _add_on_hint(sources: Sequence[str]) -> str:
    """`` (needs the <x> add-on: JQUANTS_ADDONS=<x>)`` when a missing source is an add-on's."""
    endpoints = [ENDPOINTS.get(DERIVED[s].parent if s in DERIVED else s) for s in sources]
    add_ons = sorted({e.add_on.value for e in endpoints if e is not None and e.add_on})
    if not add_ons:
        return ""
    return f" (needs the {', '.join(add_ons)} add-on: JQUANTS_ADDONS={','.join(add_ons)})"


def with_null_features(block: Block, reasons: Mapping[str, str]) -> Block:
    """``block`` whose features named in ``reasons`` are null, recorded with the reason."""
    dtypes = {f.name: getattr(pl, f.dtype) for f in block.features}
    compute = block.compute

    def nulled(ctx):
        return compute(ctx).with_columns(pl.lit(None, dtypes[f]).alias(f) for f in reasons)

    for feature, reason in reasons.items():
        log.warning("block %s: feature %s is null: %s", block.name, feature, reason)
    return replace(block, compute=nulled, null_features=tuple(reasons.items()))


def usable_rows(store, source: str, usable_by: tuple[TradingCalendar, date] | None) -> pl.LazyFrame:
    """The rows of ``source`` (all of them without ``usable_by``; else those whose
    ``available_from`` by the source's rule is on or before the end date)."""
    scan = store.scan(source)
    if usable_by is None:
        return scan
    calendar, end = usable_by
    return with_available_from(scan, source, calendar).filter(pl.col(AVAILABLE_FROM) <= end)


def _has_values(
    store, source: str, column: str, usable_by: tuple[TradingCalendar, date] | None
) -> bool:
    """Whether the usable rows of ``source`` have ``column`` with a non-null value."""
    scan = usable_rows(store, source, usable_by)
    if column not in scan.collect_schema():
        return False
    return scan.select(column).drop_nulls().head(1).collect().height > 0


def plan_warmup(blocks: Sequence[Block], override: int | None) -> int:
    """Trading days of history before the start: ``override``, else the longest block lookback."""
    return override if override is not None else max((b.lookback for b in blocks), default=0)


def load_calendar(store, start: date, end: date, warmup: int) -> TradingCalendar:
    """The trading calendar covering the warm-up before ``start`` and the labels after ``end``."""
    pad_before = timedelta(days=int(warmup * 1.6) + 60)
    return TradingCalendar.load(store, start - pad_before, end + timedelta(days=60))


def previous_build(path: Path) -> dict | None:
    """The ``metadata.json`` of the dataset at ``path`` (None when it has no panel yet)."""
    meta_path = path / "metadata.json"
    if not (meta_path.exists() and (path / "panel.parquet").exists()):
        return None
    return json.loads(meta_path.read_text())


def extends(
    previous: dict | None, start: date, end: date, block_names: Sequence[str], warmup: int
) -> bool:
    """Whether the build only appends days to the ``previous`` one: same start, blocks and
    warm-up, earlier end."""
    return (
        previous is not None
        and previous.get("start") == start.isoformat()
        and previous.get("blocks") == block_names
        and previous.get("warmup_days") == warmup
        and date.fromisoformat(previous["end"]) < end
    )
