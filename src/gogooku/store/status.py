"""Per-dataset summary of a raw store, from its catalog and stored calendar (``gogooku store status``).

For ``date``/``disc_date`` datasets, *gaps* are the trading days (stored calendar, ``HolDiv`` in
{"1", "2"}) between the dataset's first and last fetched day that have no committed unit.
Units stored from bulk files are ordinary units (a day or a month each, like paged ones), so
they count as fetched; *bulk* is how many month files the dataset's ``_bulk.json`` records
as downloaded (``gogooku.store.bulk``).
*coverage from* is the endpoint's coverage start (``Endpoint.coverage_from``: the first date the
API holds data for; fetch requests nothing before it), None where only the plan's window limits it.
*revised* counts the superseded row versions kept under ``_vintages/`` (``gogooku.store.vintages``).
*Corrupt* lists the month partitions that are unreadable, missing or hold fewer rows than
the catalog recorded (``gogooku.store.health``; ``deep`` also decodes every page).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from gogooku.jquants.derived import DERIVED
from gogooku.jquants.endpoints import ENDPOINTS
from gogooku.store.bulk import read_manifest
from gogooku.store.fetch import CALENDAR, trading_days
from gogooku.store.health import CorruptPartitionError, partition_problems
from gogooku.store.raw import ORACLE_DATASET, RawStore

DAY_MODES = ("date", "disc_date")


@dataclass(frozen=True)
class DatasetStatus:
    """One dataset's line: rows and units (committed), data date range, pending units, gaps,
    superseded row versions.

    ``gaps`` is None where it does not apply (range/latest datasets, or no stored calendar).
    """

    dataset: str
    fetch_mode: str
    units: int
    pending: int
    rows: int
    first: dt.date | None
    last: dt.date | None
    gaps: list[dt.date] | None
    sources: tuple[str, ...]
    corrupt: list[str]
    revised: int = 0
    bulk_files: int = 0
    coverage_from: dt.date | None = None


def _fetch_mode(dataset: str) -> str:
    if dataset in DERIVED:
        return "derived"
    return "oracle" if dataset == ORACLE_DATASET else ENDPOINTS[dataset].fetch_mode


def dataset_status(store: RawStore, dataset: str, deep: bool = False) -> DatasetStatus:
    records = store.catalog.units(dataset)
    done = [r for r in records if r.committed]
    mins = [r.date_min for r in done if r.date_min]
    maxs = [r.date_max for r in done if r.date_max]
    mode = _fetch_mode(dataset)
    gaps = None
    has_calendar = bool(store.catalog.units(CALENDAR))
    if mode in DAY_MODES and done and has_calendar:
        covered = {r.unit_start for r in done}
        starts = [r.unit_start for r in done if r.unit_start]
        ends = [r.unit_end for r in done if r.unit_end]
        try:
            days = trading_days(store, min(starts), max(ends)) if starts and ends else []
            gaps = [d for d in days if d not in covered]
        except CorruptPartitionError:  # the calendar's own line names the file
            gaps = None
    return DatasetStatus(
        dataset=dataset,
        fetch_mode=mode,
        units=len(done),
        pending=len(records) - len(done),
        rows=sum(r.rows or 0 for r in done),
        first=min(mins) if mins else None,
        last=max(maxs) if maxs else None,
        gaps=gaps,
        sources=tuple(sorted({r.source for r in records})),
        revised=store.vintage_rows(dataset),
        bulk_files=0 if dataset == ORACLE_DATASET else _downloaded(store, dataset),
        corrupt=[str(problem) for problem in partition_problems(store, dataset, deep)],
        coverage_from=None if dataset == ORACLE_DATASET else ENDPOINTS[dataset].coverage_from,
    )


def _downloaded(store: RawStore, dataset: str) -> int:
    return sum(e.get("how") == "downloaded" for e in read_manifest(store, dataset).values())


def store_status(store: RawStore, deep: bool = False) -> list[DatasetStatus]:
    """One line per dataset with at least one catalog entry, in catalogue order."""
    present = set(store.catalog.datasets())
    order = [*ENDPOINTS, *DERIVED, ORACLE_DATASET]
    return [dataset_status(store, d, deep) for d in order if d in present]
