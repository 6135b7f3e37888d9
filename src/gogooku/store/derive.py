"""Bring derived datasets up to date with their stored parent units (``gogooku store derive``).

``RawStore.write_units`` writes a derived dataset (``gogooku.jquants.derived``) with every parent
unit, so only a store written before the derived dataset existed (or by an older version) lacks
them. A derived unit is *due* when its parent unit is committed and the derived unit is missing,
pending, or stamped with another ``fetched_at`` than the parent (the parent was rewritten without
it). Due units are derived from the stored parent rows (the current version), a few units per
read, and written with the parent's key, query, period, fetch time and source; running it again
derives nothing. ``gogooku fetch`` runs it for the fetched datasets after its own writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from gogooku.jquants.derived import DERIVED, DerivedDataset
from gogooku.store.catalog import UnitRecord
from gogooku.store.raw import RawStore, UnitWrite
from gogooku.store.vintages import UNIT_COLUMN

UNITS_PER_READ = 5


@dataclass(frozen=True)
class Derived:
    """What ``derive`` did for one derived dataset: units written and parent rows read."""

    dataset: str
    units: int
    parent_rows: int


def due_units(store: RawStore, derived: DerivedDataset) -> list[UnitRecord]:
    """The committed parent units whose derived unit is due (module doc), in key order."""
    have = {r.unit_key: r for r in store.catalog.units(derived.id)}

    def due(parent: UnitRecord) -> bool:
        own = have.get(parent.unit_key)
        return own is None or not own.committed or own.fetched_at != parent.fetched_at

    return [r for r in store.catalog.units(derived.parent) if r.committed and due(r)]


def derive(store: RawStore, datasets: Sequence[str] | None = None) -> list[Derived]:
    """Write every due unit of ``datasets`` (default: every derived dataset)."""
    wanted = list(DERIVED) if datasets is None else list(datasets)
    unknown = [d for d in wanted if d not in DERIVED]
    if unknown:
        raise ValueError(f"unknown derived dataset(s) {unknown}; known: {', '.join(DERIVED)}")
    return [_derive_one(store, DERIVED[d]) for d in wanted]


def _derive_one(store: RawStore, derived: DerivedDataset) -> Derived:
    due = due_units(store, derived)
    read = 0
    by_month: dict[tuple[str, ...], list[UnitRecord]] = {}
    for record in due:
        by_month.setdefault(record.months, []).append(record)
    for months, records in by_month.items():
        files = [store.dataset_dir(derived.parent) / f"{m}.parquet" for m in months]
        for i in range(0, len(records), UNITS_PER_READ):
            chunk = records[i : i + UNITS_PER_READ]
            rows = _parent_rows(store, derived.parent, files, [r.unit_key for r in chunk])
            read += rows.height
            parts = rows.partition_by(UNIT_COLUMN, as_dict=True, include_key=False)
            empty = pl.DataFrame(schema=store.schema(derived.parent))
            for source in sorted({r.source for r in chunk}):
                writes = [
                    UnitWrite(
                        r.unit_key,
                        derived.derive(parts.get((r.unit_key,), empty)),
                        r.query,
                        r.unit_start,
                        r.unit_end,
                        r.fetched_at,
                    )
                    for r in chunk
                    if r.source == source
                ]
                store.write_units(derived.id, writes, source=source)
    return Derived(derived.id, len(due), read)


def _parent_rows(store: RawStore, parent: str, files: list[Path], keys: list[str]) -> pl.DataFrame:
    """The current rows of the parent units ``keys`` found in ``files``, with ``_unit``."""
    declared = store.schema(parent)
    present = [f for f in files if f.exists()]
    if not present:
        return pl.DataFrame(schema={**declared, UNIT_COLUMN: pl.String()})
    scan = pl.concat([pl.scan_parquet(f) for f in present], how="diagonal_relaxed")
    names = scan.collect_schema().names()
    columns = [
        pl.col(c) if c in names else pl.lit(None, dtype=t).alias(c) for c, t in declared.items()
    ]
    return scan.filter(pl.col(UNIT_COLUMN).is_in(keys)).select(*columns, UNIT_COLUMN).collect()
