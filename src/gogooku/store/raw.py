"""Typed, month-partitioned Parquet mirror of the J-Quants datasets: ``raw/<dataset>/<YYYY-MM>.parquet``.

Rows are partitioned by the month of the endpoint's ``date_field`` (``Date``, ``PubDate``,
``DiscDate``, ...), so a daily update rewrites one small file. Every stored row carries a hidden
``_unit`` column naming the query unit it came from and a hidden ``_fetched_at`` (when that
version of the row was first fetched); ``write_unit`` replaces exactly the rows of one unit, which
makes re-fetching a revised day idempotent. The rows a revision replaces are kept as *vintages*
in ``raw/<dataset>/_vintages/<YYYY-MM>.parquet`` (``gogooku.store.vintages``). ``scan`` reads the
latest version and drops the hidden columns; ``gogooku.dataset.point_in_time`` reads the version a
build may use at each decision time.

Write protocol for a batch of units of one dataset (``write_units``; crash-safe at every step):

1. catalog rows -> ``pending``, each with the union of the months holding the unit's old rows and
   the months of its new rows (one SQLite transaction);
2. each touched month: if the batch's units held rows there whose content the new rows no longer
   include, those rows are added to the month's vintage file (temporary file + ``os.replace``);
   then the month file is rewritten once as (old rows minus the batch's units' rows) + new rows,
   through a temporary file and ``os.replace``;
3. catalog rows -> ``committed`` with rows, content hash and date range (one transaction).

A dataset with derived datasets (``gogooku.jquants.derived``: the minute bars' daily summary)
has their units computed from the batch before step 1 and carried through the same three steps:
every unit of both is pending before any file changes, and the derived units are committed just
before the parent's, so a committed parent unit always has its derived rows.

Batching a month of trading days rewrites each month file once instead of once per day. A writer
killed between step 2's temporary write and its rename leaves a ``.<month>.parquet.<uuid>.tmp``
file; the next write session of the store deletes it (``remove_stale_temp_files``).

Readers check each partition's Parquet footer first (once per file version), so a corrupt file is
a ``CorruptPartitionError`` naming it and the repair (``gogooku.store.health``), not a decoder
error without a name.

The content hash is ``sha256`` of the unit's rows written as CSV after sorting by every column, so
it does not depend on row order or on the Parquet encoding.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

import gogooku.store.vintages as vintages
from gogooku.io import TEMP_SUFFIX, atomic_write_parquet
from gogooku.jquants.derived import DERIVED, derived_of
from gogooku.jquants.endpoints import ENDPOINTS
from gogooku.store.catalog import Catalog, CommittedUnit, PendingUnit, UnitRecord
from gogooku.store.partition import footer_rows, read_partition
from gogooku.store.vintages import FETCHED_AT, HIDDEN_COLUMNS, TIMESTAMP, UNIT_COLUMN

CATALOG_FILE = "catalog.sqlite"
WRITE_LOCK_FILE = ".write.lock"
ORACLE_DATASET = vintages.ORACLE_DATASET
ORACLE_SCHEMA: dict[str, pl.DataType] = {
    "Date": pl.Date(),
    "Code": pl.String(),
    "exp_target_1d": pl.Float64(),
    "exp_target_5d": pl.Float64(),
    "exp_target_10d": pl.Float64(),
    "exp_target_20d": pl.Float64(),
}
_MONTH_GLOB = "[0-9][0-9][0-9][0-9]-[0-9][0-9].parquet"


@dataclass(frozen=True)
class UnitWrite:
    """One unit to write: its key, rows, request parameters, covered period and fetch time."""

    key: str
    frame: pl.DataFrame
    query: dict[str, str]
    start: dt.date | None = None
    end: dt.date | None = None
    fetched_at: dt.datetime | None = None


@dataclass(frozen=True)
class _Batch:
    """One dataset's share of a unit write: its units, the months of their new rows, the
    catalog records they replace and their fetch times."""

    dataset: str
    units: list[UnitWrite]
    new_months: dict[str, list[str]]
    previous: dict[str, UnitRecord]
    fetched: dict[str, dt.datetime]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def content_hash(frame: pl.DataFrame) -> str:
    """sha256 of ``frame`` as CSV after sorting by all columns (row order does not matter).

    Nested columns (the margin-alert ``PubReason`` struct) are JSON-encoded first, since CSV
    cannot hold them.
    """
    if frame.width == 0:
        return hashlib.sha256(b"").hexdigest()
    flat = frame.with_columns(
        pl.struct(name).struct.json_encode().alias(name)
        for name, dtype in frame.schema.items()
        if dtype.is_nested()
    )
    ordered = flat.sort(flat.columns, nulls_last=True, maintain_order=True)
    return hashlib.sha256(ordered.write_csv().encode()).hexdigest()


class RawStore:
    """The raw store under ``root`` (normally ``Settings().raw_dir``)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.catalog = Catalog(self.root / CATALOG_FILE)
        self._swept = False
        self._footers_ok: dict[Path, tuple[int, int]] = {}

    # ----------------------------------------------------------------- layout and schemas
    def dataset_dir(self, dataset: str) -> Path:
        self._check_dataset(dataset)
        return self.root / dataset

    def partitions(self, dataset: str) -> list[Path]:
        """The month partition files of ``dataset``, oldest first."""
        return sorted(self.dataset_dir(dataset).glob(_MONTH_GLOB))

    @staticmethod
    def _check_dataset(dataset: str) -> None:
        if dataset != ORACLE_DATASET and dataset not in ENDPOINTS and dataset not in DERIVED:
            known = ", ".join(sorted([*ENDPOINTS, *DERIVED]))
            raise ValueError(f"unknown dataset {dataset!r}; known datasets: {known}")

    @staticmethod
    def date_field(dataset: str) -> str:
        if dataset == ORACLE_DATASET:
            return "Date"
        return (DERIVED.get(dataset) or ENDPOINTS[dataset]).date_field

    @staticmethod
    def schema(dataset: str) -> dict[str, pl.DataType]:
        """The declared column types of ``dataset`` (the endpoint's, a derived dataset's, or the
        oracle's)."""
        if dataset == ORACLE_DATASET:
            return dict(ORACLE_SCHEMA)
        return dict(pl.Schema((DERIVED.get(dataset) or ENDPOINTS[dataset]).schema))

    @staticmethod
    def key(dataset: str) -> tuple[str, ...]:
        """The columns identifying a row of ``dataset`` (the oracle: Date, Code)."""
        if dataset == ORACLE_DATASET:
            return ("Date", "Code")
        return tuple((DERIVED.get(dataset) or ENDPOINTS[dataset]).key)

    @staticmethod
    def _sort_columns(dataset: str, frame: pl.DataFrame) -> list[str]:
        date_field = RawStore.date_field(dataset)
        key = () if dataset == ORACLE_DATASET else RawStore.key(dataset)
        return [date_field, *(c for c in key if c in frame.columns and c != date_field)]

    # ----------------------------------------------------------------- writing
    def write_unit(
        self,
        dataset: str,
        unit_key: str,
        frame: pl.DataFrame,
        query: Mapping[str, str],
        *,
        unit_start: dt.date | None = None,
        unit_end: dt.date | None = None,
        source: str = "jquants",
        fetched_at: dt.datetime | None = None,
    ) -> UnitRecord:
        """Replace every stored row of ``(dataset, unit_key)`` by ``frame`` and record the unit.

        ``query`` is the request's parameters (stored as JSON); ``unit_start``/``unit_end`` the
        period the query covered (used for gap reports and the re-fetch rule). A frame with no rows
        is a valid unit (e.g. no margin data on a Wednesday): it removes old rows and is recorded.
        """
        unit = UnitWrite(unit_key, frame, dict(query), unit_start, unit_end, fetched_at)
        return self.write_units(dataset, [unit], source=source)[0]

    def write_units(
        self,
        dataset: str,
        units: Sequence[UnitWrite],
        *,
        source: str = "jquants",
        keep_vintages: bool = True,
    ) -> list[UnitRecord]:
        """``write_unit`` for several units at once: each month file is rewritten only once.

        The units are recorded ``pending`` together, the touched month files are replaced, then
        the units are committed together; an interruption leaves all of them pending. Writers in
        other processes wait on an exclusive lock of ``raw/.write.lock``, so each month file's
        read-modify-write is never interleaved. Rows a unit no longer delivers unchanged are kept
        as vintages (``gogooku.store.vintages.keeps_vintages``: not for imports and the oracle)
        unless ``keep_vintages`` is False: then the units' vintages are dropped too.
        """
        self._check_dataset(dataset)
        keys = [u.key for u in units]
        if len(set(keys)) != len(keys):
            raise ValueError(f"{dataset}: unit keys repeated in one batch: {keys}")
        if not units:
            return []
        with open(self.root / WRITE_LOCK_FILE, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not self._swept:
                self.remove_stale_temp_files()
                self._swept = True
            return self._write_units_locked(dataset, units, keys, source, keep_vintages)

    def remove_units(self, dataset: str, keys: Sequence[str]) -> None:
        """Delete the rows and the catalog entries of ``keys`` (unknown keys are ignored).

        The rows go through ``write_units`` with empty frames (pending, files, committed; their
        vintages are dropped, not added to), then the catalog entries are deleted (those of the
        derived datasets' units too); a crash in between leaves committed empty units, which a
        second call removes.
        """
        known = [r.unit_key for r in self.catalog.units(dataset, keys)] if keys else []
        if not known:
            return
        empty = pl.DataFrame(schema=self.schema(dataset))
        sources = {r.unit_key: r.source for r in self.catalog.units(dataset, known)}
        for source in sorted(set(sources.values())):
            units = [UnitWrite(k, empty, {}) for k in known if sources[k] == source]
            self.write_units(dataset, units, source=source, keep_vintages=False)
        self.catalog.delete(dataset, known)
        for derived in derived_of(dataset):
            self.catalog.delete(derived.id, known)

    def remove_stale_temp_files(self) -> list[Path]:
        """Delete the ``.<file>.<uuid>.tmp`` files of a writer killed between write and rename.

        Run once per ``RawStore`` at its first write, under the write lock: every writer creates
        and renames its temporary files while holding that lock, so any found then are orphans.
        Returns the paths removed.
        """
        patterns = (f"*/.*{TEMP_SUFFIX}", f"*/{vintages.VINTAGE_DIR}/.*{TEMP_SUFFIX}")
        stale = sorted(p for pattern in patterns for p in self.root.glob(pattern) if p.is_file())
        for path in stale:
            path.unlink(missing_ok=True)
        return stale

    def _write_units_locked(
        self,
        dataset: str,
        units: Sequence[UnitWrite],
        keys: list[str],
        source: str,
        keep_vintages: bool,
    ) -> list[UnitRecord]:
        """The write protocol of the module doc for ``units`` and, in the same steps, the units
        of every dataset derived from ``dataset`` (``gogooku.jquants.derived``): all recorded
        pending first, then the files, then the derived units committed before the parent's, so
        a crash never leaves a committed parent unit without its derived rows."""
        now = _utcnow()
        batches = [(dataset, list(units))] + [
            (
                derived.id,
                [
                    UnitWrite(u.key, derived.derive(u.frame), u.query, u.start, u.end, u.fetched_at)
                    for u in units
                ],
            )
            for derived in derived_of(dataset)
        ]
        for name, writes in batches:
            for unit in writes:
                self._check_frame(name, unit.key, unit.frame)
        pending = [self._begin(name, writes, keys, source, now) for name, writes in batches]
        for batch in pending:
            self._rewrite_months(batch, keys, source, keep_vintages)
        for batch in reversed(pending):
            self._commit(batch)
        records = {r.unit_key: r for r in self.catalog.units(dataset, keys)}
        return [records[k] for k in keys]

    def _begin(
        self, dataset: str, units: list[UnitWrite], keys: list[str], source: str, now: dt.datetime
    ) -> _Batch:
        """Step 1 for one dataset: the units recorded ``pending`` with every month they touch."""
        month_expr = pl.col(self.date_field(dataset)).dt.strftime("%Y-%m")
        new_months = {
            u.key: sorted(u.frame.select(month_expr.unique()).to_series().to_list()) for u in units
        }
        previous = {r.unit_key: r for r in self.catalog.units(dataset, keys)}
        fetched = {u.key: vintages.as_utc(u.fetched_at or now) for u in units}
        self.catalog.begin(
            dataset,
            [
                PendingUnit(
                    key=u.key,
                    query=u.query,
                    unit_start=u.start,
                    unit_end=u.end,
                    months=sorted(
                        set(new_months[u.key])
                        | set(previous[u.key].months if u.key in previous else ())
                    ),
                    fetched_at=fetched[u.key],
                )
                for u in units
            ],
            source,
        )
        return _Batch(dataset, units, new_months, previous, fetched)

    def _rewrite_months(
        self, batch: _Batch, keys: list[str], source: str, keep_vintages: bool
    ) -> None:
        """Step 2 for one dataset: each touched month file rewritten once (vintages first)."""
        dataset, units, fetched = batch.dataset, batch.units, batch.fetched
        month_expr = pl.col(self.date_field(dataset)).dt.strftime("%Y-%m")
        touched = sorted(
            {m for u in units for m in batch.new_months[u.key]}
            | {m for r in batch.previous.values() for m in r.months}
        )
        tagged = pl.concat(
            [
                u.frame.with_columns(
                    pl.lit(u.key, dtype=pl.String).alias(UNIT_COLUMN),
                    vintages.stamp(fetched[u.key]).alias(FETCHED_AT),
                )
                for u in units
            ],
            how="diagonal_relaxed",
        )
        directory = self.dataset_dir(dataset)
        directory.mkdir(parents=True, exist_ok=True)
        if not keep_vintages:
            vintages.purge_units(directory, keys)
        last_fetched = {k: vintages.as_utc(r.fetched_at) for k, r in batch.previous.items()}
        sort_by = self._sort_columns(dataset, tagged)
        for month in touched:
            path = directory / f"{month}.parquet"
            stored = read_partition(path) if path.exists() else pl.DataFrame()
            new_rows = tagged.filter(month_expr == month)
            ours = pl.col(UNIT_COLUMN).is_in(keys)
            if stored.height and keep_vintages and vintages.keeps_vintages(dataset, source):
                new_rows = self._supersede(
                    directory, month, stored.filter(ours), new_rows, fetched, last_fetched
                )
            parts = [stored.filter(~ours)] if stored.height else []
            merged = pl.concat([*parts, new_rows], how="diagonal_relaxed").sort(
                sort_by, nulls_last=True, maintain_order=True
            )
            if merged.height:
                atomic_write_parquet(path, merged, fsync=True, compression="zstd")
            else:
                path.unlink(missing_ok=True)

    def _commit(self, batch: _Batch) -> None:
        """Step 3 for one dataset: the units committed with rows, hash and date range."""
        date_field = self.date_field(batch.dataset)
        self.catalog.commit(
            batch.dataset,
            [
                CommittedUnit(
                    key=u.key,
                    months=batch.new_months[u.key],
                    rows=u.frame.height,
                    content_hash=content_hash(u.frame),
                    date_min=u.frame.get_column(date_field).min() if u.frame.height else None,
                    date_max=u.frame.get_column(date_field).max() if u.frame.height else None,
                )
                for u in batch.units
            ],
        )

    @staticmethod
    def _supersede(
        directory: Path,
        month: str,
        old: pl.DataFrame,
        new: pl.DataFrame,
        fetched: dict[str, dt.datetime],
        last_fetched: dict[str, dt.datetime],
    ) -> pl.DataFrame:
        """The month's new rows with the ``_fetched_at`` of unchanged old rows; the old rows
        they no longer include go to the month's vintage file first."""
        if not old.height:
            return new
        # A store written before vintages has no _fetched_at: its rows date from the last fetch.
        since = pl.DataFrame(
            {UNIT_COLUMN: list(last_fetched), "__since": list(last_fetched.values())},
            schema={UNIT_COLUMN: pl.String, "__since": TIMESTAMP},
        )
        if FETCHED_AT not in old.columns:
            old = old.with_columns(pl.lit(None, dtype=TIMESTAMP).alias(FETCHED_AT))
        old = (
            old.join(since, on=UNIT_COLUMN, how="left")
            .with_columns(pl.coalesce(FETCHED_AT, "__since").alias(FETCHED_AT))
            .drop("__since")
        )
        times = {k: fetched[k] for k in old.get_column(UNIT_COLUMN).unique().to_list()}
        kept, updated = vintages.supersede(old, new, vintages.read_month(directory, month), times)
        if updated is not None:
            vintages.write_month(directory, month, updated)
        return kept

    def _check_frame(self, dataset: str, unit_key: str, frame: pl.DataFrame) -> None:
        date_field = self.date_field(dataset)
        if date_field not in frame.columns:
            raise ValueError(
                f"{dataset}/{unit_key}: frame has no date column {date_field!r} "
                f"(columns: {', '.join(frame.columns)})"
            )
        declared = self.schema(dataset)
        wrong = {
            c: f"{t} (declared {declared[c]})"
            for c, t in frame.schema.items()
            if c in declared and t != declared[c]
        }
        if wrong:
            raise ValueError(f"{dataset}/{unit_key}: columns with undeclared dtypes: {wrong}")
        reserved = [c for c in HIDDEN_COLUMNS if c in frame.columns]
        if reserved:
            raise ValueError(f"{dataset}/{unit_key}: column(s) {reserved} are reserved")
        null_dates = frame.get_column(date_field).null_count()
        if null_dates:
            raise ValueError(
                f"{dataset}/{unit_key}: {null_dates} row(s) have a null {date_field!r}; "
                "cannot assign them to a month partition"
            )

    def write_oracle(self, oracle: pl.DataFrame, source: str = "synthetic") -> list[UnitRecord]:
        """Store the synthetic market's oracle (Date, Code, exp_target_*), one unit per month.

        Months whose rows hash to the stored unit's content hash are left untouched.
        """
        missing = [c for c in ORACLE_SCHEMA if c not in oracle.columns]
        if missing:
            raise ValueError(f"oracle frame lacks columns {missing}")
        oracle = oracle.select(pl.col(c).cast(t) for c, t in ORACLE_SCHEMA.items())
        records = []
        for (month,), part in oracle.group_by(
            pl.col("Date").dt.strftime("%Y-%m"), maintain_order=True
        ):
            stored = self.catalog.get(ORACLE_DATASET, str(month))
            if stored and stored.committed and stored.content_hash == content_hash(part):
                records.append(stored)
                continue
            first = dt.date.fromisoformat(f"{month}-01")
            last = part.get_column("Date").max()
            records.append(
                self.write_unit(
                    ORACLE_DATASET,
                    str(month),
                    part,
                    {"month": str(month)},
                    unit_start=first,
                    unit_end=last,
                    source=source,
                )
            )
        return records

    # ----------------------------------------------------------------- reading
    def scan(self, dataset: str) -> pl.LazyFrame:
        """Lazy scan of the latest version of every stored row of ``dataset``, typed, without the
        hidden ``_unit``/``_fetched_at`` columns.

        Columns follow the declared schema; columns a file lacks (e.g. fields added later) are
        null; extra delivered columns are kept after the declared ones. With nothing stored the
        result is an empty frame with the declared schema.
        """
        files = self.partitions(dataset)
        if not files:
            return pl.LazyFrame(schema=self.schema(dataset))
        for path in files:
            self._check_footer(path)
        scans = [pl.scan_parquet(path) for path in files]
        return self.conform(dataset, pl.concat(scans, how="diagonal_relaxed"))

    def conform(self, dataset: str, rows: pl.LazyFrame) -> pl.LazyFrame:
        """``rows`` of ``dataset`` as ``scan`` returns them: hidden columns dropped, declared
        columns first (null where absent), extra delivered columns after them."""
        declared = self.schema(dataset)
        combined = rows.drop(HIDDEN_COLUMNS, strict=False)
        present = combined.collect_schema()
        absent = [pl.lit(None, dtype=t).alias(c) for c, t in declared.items() if c not in present]
        order = [*declared, *(c for c in present if c not in declared)]
        return combined.with_columns(absent).select(order)

    def vintage_files(self, dataset: str) -> list[Path]:
        """The month files of ``dataset``'s superseded row versions (``_vintages/``), oldest first."""
        return vintages.vintage_files(self.dataset_dir(dataset))

    def scan_versions(self, dataset: str) -> pl.LazyFrame:
        """Every stored version of the rows of ``dataset``: the current rows and the vintages,
        with ``_unit``, ``_fetched_at`` and ``_superseded_at`` (null for current rows)."""
        return self.scan_files(dataset, [*self.partitions(dataset), *self.vintage_files(dataset)])

    def scan_files(self, dataset: str, files: Sequence[Path]) -> pl.LazyFrame:
        """The rows of some month or vintage ``files`` of ``dataset`` with the hidden columns
        (null where a file lacks them); an empty frame of those columns when ``files`` is empty."""
        hidden = {c: pl.String() if c == UNIT_COLUMN else TIMESTAMP for c in HIDDEN_COLUMNS}
        if not files:
            return pl.LazyFrame(schema={**self.schema(dataset), **hidden})
        combined = pl.concat([pl.scan_parquet(path) for path in files], how="diagonal_relaxed")
        names = combined.collect_schema().names()
        missing = [pl.lit(None, dtype=t).alias(c) for c, t in hidden.items() if c not in names]
        return combined.with_columns(missing)

    def _check_footer(self, path: Path) -> None:
        """Raise CorruptPartitionError naming ``path`` when its Parquet footer is unreadable
        (checked once per file version: a few kilobytes read)."""
        stat = path.stat()
        version = (stat.st_mtime_ns, stat.st_size)
        if self._footers_ok.get(path) != version:
            footer_rows(path)
            self._footers_ok[path] = version

    def read_oracle(self) -> pl.LazyFrame:
        """Lazy scan of ``raw/synthetic_oracle/`` (Date, Code, exp_target_{1,5,10,20}d)."""
        return self.scan(ORACLE_DATASET)

    def stored_unit_rows(self, dataset: str) -> dict[str, int]:
        """Row count per unit key as found in the Parquet files (for checks against the catalog)."""
        files = self.partitions(dataset)
        if not files:
            return {}
        counts = (
            pl.concat([read_partition(p, [UNIT_COLUMN]).lazy() for p in files])
            .group_by(UNIT_COLUMN)
            .len()
            .collect()
        )
        return dict(zip(counts[UNIT_COLUMN].to_list(), counts["len"].to_list(), strict=True))

    def vintage_rows(self, dataset: str) -> int:
        """How many superseded row versions ``dataset`` keeps (rows of its vintage files)."""
        files = self.vintage_files(dataset)
        if not files:
            return 0
        return (
            pl.concat([pl.scan_parquet(p).select(pl.len()) for p in files]).sum().collect().item()
        )

    def verify(self, dataset: str) -> list[str]:
        """Differences between the catalog and the files of ``dataset``; empty when consistent.

        Vintage rows of units the catalog does not know are reported too.
        """
        problems = []
        stored = self.stored_unit_rows(dataset)
        records = {r.unit_key: r for r in self.catalog.units(dataset)}
        for key, record in records.items():
            if not record.committed:
                problems.append(f"{dataset}/{key}: pending (interrupted write)")
            elif stored.get(key, 0) != record.rows:
                problems.append(
                    f"{dataset}/{key}: catalog says {record.rows} rows, files hold "
                    f"{stored.get(key, 0)}"
                )
        problems.extend(
            f"{dataset}/{key}: {n} rows in files but no catalog entry"
            for key, n in stored.items()
            if key not in records
        )
        files = self.vintage_files(dataset)
        if files:
            orphans = (
                pl.concat([pl.scan_parquet(p).select(UNIT_COLUMN) for p in files])
                .filter(~pl.col(UNIT_COLUMN).is_in(list(records)))
                .group_by(UNIT_COLUMN)
                .len()
                .sort(UNIT_COLUMN)
                .collect()
            )
            problems.extend(
                f"{dataset}/{key}: {n} superseded rows in {vintages.VINTAGE_DIR}/ but no "
                "catalog entry"
                for key, n in orphans.iter_rows()
            )
        return problems
