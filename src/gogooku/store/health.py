"""Health of the raw store's month partitions, and their repair (``gogooku store status``,
``gogooku fetch --repair``).

A partition is *corrupt* when its Parquet footer cannot be read, when the footer counts fewer
rows than the catalog recorded for the units stored in that month, or (``deep``) when a
page does not decode; it is *missing* when the catalog has rows in a month that has no file. The
footer checks read a few kilobytes per file, so ``store status`` runs them on every partition.

Repair moves a bad file aside (``.<month>.parquet.corrupt-<UTC time>``, kept for inspection,
outside the ``YYYY-MM.parquet`` files readers see) and marks every unit with rows in that month
``pending``: the next fetch of a range covering them requests them again, as after an
interrupted write.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from gogooku.store.catalog import PendingUnit, UnitRecord
from gogooku.store.partition import (
    REPAIR_HINT,
    CorruptPartitionError,
    footer_rows,
    read_partition,
)
from gogooku.store.raw import RawStore


@dataclass(frozen=True)
class PartitionProblem:
    """One bad month partition of ``dataset`` and the catalog units with rows in it."""

    dataset: str
    month: str
    path: Path
    reason: str
    units: tuple[UnitRecord, ...]

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def _expected_rows(units: Sequence[UnitRecord]) -> int | None:
    """Rows the month file must hold, when the catalog says: every unit in it committed and
    stored in this month only (a unit spread over months records no per-month count)."""
    if any(not u.committed or len(u.months) != 1 for u in units):
        return None
    return sum(u.rows or 0 for u in units)


def partition_problems(store: RawStore, dataset: str, deep: bool = False) -> list[PartitionProblem]:
    """The bad partitions of ``dataset`` (footer, row count against the catalog, and with
    ``deep`` every page), oldest month first."""
    by_month: dict[str, list[UnitRecord]] = {}
    for unit in store.catalog.units(dataset):
        for month in unit.months:
            by_month.setdefault(month, []).append(unit)
    files = {path.stem: path for path in store.partitions(dataset)}
    problems = []
    for month in sorted(set(by_month) | set(files)):
        units = by_month.get(month, [])
        path = files.get(month, store.dataset_dir(dataset) / f"{month}.parquet")
        expected = _expected_rows(units)
        reason = None
        if month not in files:
            if any(u.committed and (u.rows or 0) > 0 for u in units):
                reason = "missing: the catalog has rows in this month"
        else:
            try:
                rows = footer_rows(path)
                # More rows than recorded are rows of units the catalog no longer lists (a fetch
                # of those units replaces them); fewer means rows were lost.
                if expected is not None and rows < expected:
                    reason = f"holds {rows} rows, the catalog recorded {expected}"
                elif deep:
                    read_partition(path)
            except CorruptPartitionError as exc:
                reason = str(exc).removeprefix(f"{path}: ").removesuffix(f"; {REPAIR_HINT}")
        if reason is not None:
            problems.append(PartitionProblem(dataset, month, path, reason, tuple(units)))
    return problems


def store_problems(
    store: RawStore, datasets: Sequence[str] | None = None, deep: bool = False
) -> list[PartitionProblem]:
    """``partition_problems`` of ``datasets`` (default: every dataset in the catalog)."""
    names = store.catalog.datasets() if datasets is None else datasets
    return [p for d in names for p in partition_problems(store, d, deep)]


@contextmanager
def naming_corrupt_partitions(store: RawStore) -> Iterator[None]:
    """Turn a Parquet decoding error inside the block into a CorruptPartitionError naming the
    store's bad files: readers check footers, but a damaged page only fails when decoded, far
    from the file's name. Finding the file decodes the whole store, so only on that error."""
    try:
        yield
    except pl.exceptions.ComputeError as exc:
        if "parquet" not in str(exc).lower():
            raise
        problems = store_problems(store, deep=True)
        if not problems:
            raise
        names = "; ".join(str(p) for p in problems)
        raise CorruptPartitionError(f"{names}; {REPAIR_HINT}") from None


def repair(store: RawStore, problems: Sequence[PartitionProblem]) -> list[UnitRecord]:
    """Move each bad file aside and mark its units pending; returns the units to fetch again."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    pending: dict[tuple[str, str], UnitRecord] = {}
    for problem in problems:
        if problem.path.exists():
            problem.path.rename(problem.path.with_name(f".{problem.path.name}.corrupt-{stamp}"))
        for unit in problem.units:
            pending.setdefault((problem.dataset, unit.unit_key), unit)
    for dataset, source in sorted({(d, u.source) for (d, _), u in pending.items()}):
        units = [u for (d, _), u in pending.items() if d == dataset and u.source == source]
        store.catalog.begin(dataset, [_pending(u) for u in units], source)
    return list(pending.values())


def _pending(unit: UnitRecord) -> PendingUnit:
    return PendingUnit(
        key=unit.unit_key,
        query=unit.query,
        unit_start=unit.unit_start,
        unit_end=unit.unit_end,
        months=list(unit.months),
        fetched_at=unit.fetched_at,
    )
