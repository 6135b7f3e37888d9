"""Writing an import into the raw store so that it never corrupts it: ``commit_import``.

An import ``name`` owns the units ``import:<name>:<YYYY-MM>`` (source ``import:<name>``) of each
dataset it writes, and one record in the registry (``gogooku.importers.registry``). Before any
write, each dataset's endpoint key (``ENDPOINTS[dataset].key``: Date+Code for prices) is checked:

- a key twice in the new frame is an error;
- a key already stored by another source (a fetch or another import) is a conflict: refused,
  naming the dataset, the count, the first keys and the sources holding them, or with
  ``replace=True`` the stored rows are removed from their units (rewritten through
  ``RawStore.write_units`` with their original query, period and source; the count is recorded;
  those units' vintages are dropped, so no earlier version of a replaced key survives).

Re-importing ``name`` replaces its rows: its units absent from the new import are removed.

``markets_calendar`` is shared, not owned: every import's calendar rows merge into the units
``import:calendar:<YYYY-MM>`` (source ``import:calendar``). A date another source already holds
(a fetched calendar) is kept as stored; a date two imports both give is a session when either
says so. The merged calendar covers the union of the calendar spans of the imports present, so
it never shrinks while an import needs it and goes away with the last import.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path

import polars as pl

from gogooku.errors import GogookuError
from gogooku.importers.registry import (
    CALENDAR_IMPORT,
    SOURCE_PREFIX,
    ImportRecord,
    ImportRegistryError,
    check_import_name,
    import_source,
    read_registry,
    write_registry,
)
from gogooku.io import atomic_path
from gogooku.jquants.endpoints import ENDPOINTS
from gogooku.market import MARKET_FILE, TOKYO
from gogooku.store.raw import UNIT_COLUMN, RawStore, UnitWrite
from gogooku.store.vintages import HIDDEN_COLUMNS

PROBLEM_COLUMNS = ("file", "row", "column", "value", "reason")
CALENDAR = "markets_calendar"
CALENDAR_SOURCE = import_source(CALENDAR_IMPORT)
SHOWN_KEYS = 5
SHOWN_PROBLEMS = 5

__all__ = [
    "PROBLEM_COLUMNS",
    "ImportConflict",
    "ImportProblems",
    "ImportRecord",
    "commit_import",
    "list_imports",
    "remove_import",
    "write_problems_csv",
]


class ImportProblems(GogookuError):
    """Row-level problems of the imported file(s); ``problems`` has ``PROBLEM_COLUMNS``."""

    def __init__(self, problems: pl.DataFrame, hint: str = "") -> None:
        self.problems = problems.select(PROBLEM_COLUMNS)
        shown = "; ".join(
            f"{r['file']}:{r['row']} {r['column']}={r['value']!r}: {r['reason']}"
            for r in self.problems.head(SHOWN_PROBLEMS).iter_rows(named=True)
        )
        more = self.problems.height - min(self.problems.height, SHOWN_PROBLEMS)
        rows = self.problems.select("file", "row").n_unique()
        text = f"{self.problems.height} problem(s) in {rows} row(s), nothing was written: {shown}"
        text += f" (and {more} more)" if more else ""
        super().__init__(f"{text}{hint}")


class ImportConflict(GogookuError):
    """Keys of an import already stored by another source, or repeated in the import itself."""


def problems_frame(rows: Iterable[dict[str, object]] = ()) -> pl.DataFrame:
    """A problem report (``PROBLEM_COLUMNS``; ``row`` Int64, the others String)."""
    schema = {"file": pl.String, "row": pl.Int64, "column": pl.String, "value": pl.String}
    return pl.DataFrame(list(rows), schema={**schema, "reason": pl.String})


def write_problems_csv(problems: pl.DataFrame, path: Path) -> Path:
    """The problem report as CSV (``PROBLEM_COLUMNS``), written atomically."""
    with atomic_path(path) as tmp:
        problems.select(PROBLEM_COLUMNS).write_csv(tmp)
    return path


def _key_text(row: dict[str, object]) -> str:
    return " ".join(f"{k}={v}" for k, v in row.items())


def _stored_keys(store: RawStore, dataset: str, months: set[str]) -> pl.DataFrame:
    """The key columns and ``source`` of every stored row of ``dataset`` in ``months``."""
    key = list(ENDPOINTS[dataset].key)
    files = [p for p in store.partitions(dataset) if p.stem in months]
    sources = {r.unit_key: r.source for r in store.catalog.units(dataset)}
    if not files:
        schema = {c: store.schema(dataset)[c] for c in key}
        return pl.DataFrame(schema={**schema, UNIT_COLUMN: pl.String, "source": pl.String})
    stored = pl.concat([pl.read_parquet(p, columns=[*key, UNIT_COLUMN]) for p in files])
    return stored.with_columns(
        pl.col(UNIT_COLUMN).replace_strict(sources, default="?").alias("source")
    )


def _months(frame: pl.DataFrame, dataset: str) -> set[str]:
    column = pl.col(RawStore.date_field(dataset)).dt.strftime("%Y-%m")
    return set(frame.select(column.unique()).to_series().to_list())


def _conflicts(
    store: RawStore, name: str, datasets: dict[str, pl.DataFrame]
) -> dict[str, pl.DataFrame]:
    """Per dataset, the stored rows (key, ``_unit``, source) of other sources the import hits."""
    found = {}
    for dataset, frame in datasets.items():
        key = list(ENDPOINTS[dataset].key)
        repeated = (
            frame.select(key).filter(pl.struct(key).is_duplicated()).unique(maintain_order=True)
        )
        if repeated.height:
            shown = ", ".join(_key_text(r) for r in repeated.head(SHOWN_KEYS).iter_rows(named=True))
            raise ImportConflict(
                f"{dataset}: {repeated.height} key(s) ({', '.join(key)}) occur more than once in "
                f"the import {name!r}, e.g. {shown}; nothing was written"
            )
        if dataset == CALENDAR or frame.is_empty():
            continue
        stored = _stored_keys(store, dataset, _months(frame, dataset))
        hits = stored.filter(pl.col("source") != import_source(name)).join(
            frame.select(key), on=key, how="semi"
        )
        if hits.height:
            found[dataset] = hits
    return found


def _conflict_message(name: str, conflicts: dict[str, pl.DataFrame]) -> str:
    parts = []
    for dataset, hits in conflicts.items():
        key = list(ENDPOINTS[dataset].key)
        keys = hits.select(key).unique(maintain_order=True)
        shown = ", ".join(_key_text(r) for r in keys.head(SHOWN_KEYS).iter_rows(named=True))
        sources = ", ".join(sorted(hits["source"].unique()))
        parts.append(
            f"{dataset}: {keys.height} key(s) ({', '.join(key)}) already stored by {sources}, "
            f"e.g. {shown}"
        )
    return (
        f"import {name!r} refused, nothing was written: {'; '.join(parts)}. Re-run with "
        "--replace to replace the stored rows, or remove the other import (gogooku import remove)"
    )


def _unit_rows(store: RawStore, dataset: str, unit_key: str, months: Iterable[str]) -> pl.DataFrame:
    directory = store.dataset_dir(dataset)
    parts = [
        pl.read_parquet(path).filter(pl.col(UNIT_COLUMN) == unit_key)
        for path in (directory / f"{m}.parquet" for m in months)
        if path.exists()
    ]
    if not parts:
        return pl.DataFrame(schema=store.schema(dataset))
    return pl.concat(parts, how="diagonal_relaxed").drop(HIDDEN_COLUMNS, strict=False)


def _remove_stored_keys(store: RawStore, dataset: str, hits: pl.DataFrame) -> int:
    """Rewrite the units ``hits`` come from without those keys; the number of keys removed."""
    key = list(ENDPOINTS[dataset].key)
    records = {r.unit_key: r for r in store.catalog.units(dataset, hits[UNIT_COLUMN].unique())}
    by_source: dict[str, list[UnitWrite]] = {}
    for unit_key, record in records.items():
        kept = _unit_rows(store, dataset, unit_key, record.months).join(
            hits.select(key), on=key, how="anti"
        )
        write = UnitWrite(
            unit_key, kept, record.query, record.unit_start, record.unit_end, record.fetched_at
        )
        by_source.setdefault(record.source, []).append(write)
    # The replaced keys are not a revision: no version of them may survive in the vintages.
    for source, units in by_source.items():
        store.write_units(dataset, units, source=source, keep_vintages=False)
    return hits.select(key).unique().height


def _write_owned(store: RawStore, name: str, dataset: str, frame: pl.DataFrame, fmt: str) -> None:
    """``frame`` as the units ``import:<name>:<YYYY-MM>``; the import's other units go."""
    source = import_source(name)
    months = frame.with_columns(
        pl.col(RawStore.date_field(dataset)).dt.strftime("%Y-%m").alias("_m")
    )
    units = [
        UnitWrite(
            f"{source}:{m}",
            part.drop("_m"),
            {"month": str(m), "import": name, "format": fmt},
            part[RawStore.date_field(dataset)].min(),
            part[RawStore.date_field(dataset)].max(),
        )
        for (m,), part in months.group_by("_m", maintain_order=True)
    ]
    new_keys = {u.key for u in units}
    stale = [
        r.unit_key
        for r in store.catalog.units(dataset)
        if r.source == source and r.unit_key not in new_keys
    ]
    store.write_units(dataset, units, source=source)
    store.remove_units(dataset, stale)


def _merge_calendar(
    store: RawStore, spans: list[tuple[dt.date, dt.date]], new: pl.DataFrame | None
) -> None:
    """The shared import calendar = (stored shared rows ∪ ``new``) within ``spans`` (module doc)."""
    stored = pl.DataFrame(schema={"Date": pl.Date, "HolDiv": pl.String, "source": pl.String})
    files = store.partitions(CALENDAR)
    if files:
        sources = {r.unit_key: r.source for r in store.catalog.units(CALENDAR)}
        stored = pl.concat(
            [pl.read_parquet(p, columns=["Date", "HolDiv", UNIT_COLUMN]) for p in files]
        ).select(
            "Date",
            "HolDiv",
            pl.col(UNIT_COLUMN).replace_strict(sources, default="?").alias("source"),
        )
    others = stored.filter(pl.col("source") != CALENDAR_SOURCE).select("Date")
    parts = [stored.filter(pl.col("source") == CALENDAR_SOURCE).select("Date", "HolDiv")]
    if new is not None:
        parts.append(new.select("Date", "HolDiv").join(others, on="Date", how="anti"))
    within = pl.any_horizontal(pl.lit(False), *(pl.col("Date").is_between(a, b) for a, b in spans))
    merged = (
        pl.concat(parts)
        .group_by("Date")
        .agg(pl.col("HolDiv").max())
        .filter(within)
        .sort("Date")
        .select(pl.col(c).cast(t) for c, t in store.schema(CALENDAR).items())
    )
    _write_owned(store, CALENDAR_IMPORT, CALENDAR, merged, "calendar")


def _spans(records: Iterable[ImportRecord]) -> list[tuple[dt.date, dt.date]]:
    return [
        (dt.date.fromisoformat(r.calendar[0]), dt.date.fromisoformat(r.calendar[1]))
        for r in records
        if r.calendar
    ]


def _summary(frame: pl.DataFrame, dataset: str) -> dict[str, object]:
    dates = frame[RawStore.date_field(dataset)]
    first, last = (dates.min(), dates.max()) if frame.height else (None, None)
    return {
        "rows": frame.height,
        "first": str(first) if first else None,
        "last": str(last) if last else None,
    }


def commit_import(
    store: RawStore,
    name: str,
    datasets: dict[str, pl.DataFrame],
    *,
    replace: bool = False,
    fmt: str = "",
    meta: dict | None = None,
) -> ImportRecord:
    """Write ``datasets`` (typed, each in ``RawStore.schema``) as the import ``name`` (module doc).

    ``meta`` goes into the record; its ``files`` (list of file names) and ``market`` (default
    XTKS) become the record's fields. Raises ``ImportConflict`` before any write on repeated or
    (without ``replace``) already stored keys.
    """
    check_import_name(name)
    meta = dict(meta or {})
    for dataset, frame in datasets.items():
        declared = RawStore.schema(dataset)
        if dict(frame.schema) != declared:
            raise ValueError(f"{dataset}: frame columns {dict(frame.schema)} are not {declared}")
    registry = read_registry(store.root)
    conflicts = _conflicts(store, name, datasets)
    if conflicts and not replace:
        raise ImportConflict(_conflict_message(name, conflicts))
    replaced = {d: _remove_stored_keys(store, d, hits) for d, hits in conflicts.items()}
    owned = {d: f for d, f in datasets.items() if d != CALENDAR}
    source = import_source(name)
    for dataset in store.catalog.datasets():
        if dataset not in owned and dataset != CALENDAR:
            stale = [r.unit_key for r in store.catalog.units(dataset) if r.source == source]
            store.remove_units(dataset, stale)
    for dataset, frame in owned.items():
        _write_owned(store, name, dataset, frame, fmt)
    calendar = datasets.get(CALENDAR)
    span = None
    if calendar is not None and calendar.height:
        span = [str(calendar["Date"].min()), str(calendar["Date"].max())]
    record = ImportRecord(
        id=name,
        format=fmt,
        files=[str(f) for f in meta.pop("files", [])],
        market=str(meta.pop("market", TOKYO)),
        datasets={d: _summary(f, d) for d, f in datasets.items()},
        replaced=replaced,
        imported_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        calendar=span,
        meta=meta,
    )
    others = [r for r in registry.values() if r.id != name]
    if span is not None or any(r.id == name and r.calendar for r in registry.values()):
        _merge_calendar(store, _spans([*others, record]), calendar)
    write_registry(store.root, {**{r.id: r for r in others}, name: record})
    return record


def list_imports(store: RawStore) -> list[ImportRecord]:
    """The recorded imports, by id."""
    return [r for _, r in sorted(read_registry(store.root).items())]


def _import_names(store: RawStore) -> set[str]:
    """Recorded ids plus sources ``import:<name>`` of the catalog (an interrupted import)."""
    sources = {
        s[len(SOURCE_PREFIX) :]
        for s in store.catalog.sources()
        if s.startswith(SOURCE_PREFIX) and s != CALENDAR_SOURCE
    }
    return sources | set(read_registry(store.root))


def remove_import(store: RawStore, name: str) -> ImportRecord | None:
    """Delete every unit of source ``import:<name>`` and its record; the record (None when the
    import had units but no record). Rows an import replaced are not restored. When the store
    then holds no unit at all, the market record goes too."""
    known = _import_names(store)
    if name not in known:
        listed = ", ".join(sorted(known)) or "none"
        raise ImportRegistryError(f"no import {name!r}; known imports: {listed}")
    registry = read_registry(store.root)
    record = registry.pop(name, None)
    source = import_source(name)
    for dataset in store.catalog.datasets():
        keys = [r.unit_key for r in store.catalog.units(dataset) if r.source == source]
        store.remove_units(dataset, keys)
    _merge_calendar(store, _spans(registry.values()), None)
    write_registry(store.root, registry)
    if not store.catalog.datasets():
        (store.root / MARKET_FILE).unlink(missing_ok=True)
    return record
